//! A DAVE participant as the gateway drives it: one trait for every implementation, and the
//! sidecar adapter that runs a third-party implementation as it ships, out of process.
//!
//! The sidecar protocol is JSON lines over stdio, one request per line answered in order by
//! `{"id", "ok": {...}}` or `{"id", "error": "..."}` (plus libdave's own failure reasons in
//! `"failures"`). Bytes travel as lowercase hex. Ops (fields besides `id`, `op`, `session`):
//!
//! | op | asks | answers |
//! |---|---|---|
//! | `hello` | | `name`, `version` |
//! | `new` | `user_id`, `channel_id` | `session` |
//! | `start` | `external_sender` (op 25) | `key_package` (op 26) |
//! | `restart` | (op 24 epoch 1, or after op 31) | `key_package` |
//! | `proposals` | `payload` (op 27), `recognized` | `commit_welcome` (op 28) or null |
//! | `commit` | `commit` (op 29) | `accepted` (false: ignored) |
//! | `welcome` | `welcome` (op 30), `recognized` | |
//! | `prepare` / `execute` | `transition` | |
//! | `shown` | | `epoch_authenticator`, `code`, `roster` |
//! | `encrypt` | `media`, `codec`, `frame` | `frame` or null |
//! | `decrypt` | `sender`, `media`, `frame` | `frame` or null |
//! | `fingerprint` | `other` | `fingerprint` |
//! | `media_key` | `user` | `media_key` (escrow control only) |

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// What can go wrong asking a participant.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParticipantError {
    /// The implementation said no (its own words): a finding or a control, never ours to hide.
    #[error("{implementation} refused {op}: {reason}")]
    Refused {
        implementation: String,
        op: String,
        reason: String,
    },
    /// The sidecar is not installed, or stopped answering.
    #[error("{0}")]
    Gone(String),
}

/// Audio or video, with the codec the sender's frame transform follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Opus,
    Vp8,
}

impl Media {
    fn fields(self) -> (&'static str, &'static str) {
        match self {
            Media::Opus => ("audio", "opus"),
            Media::Vp8 => ("video", "vp8"),
        }
    }
}

/// What a participant's client shows (or can show) its user about the call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub epoch_authenticator: Option<Vec<u8>>,
    /// The voice privacy code as the implementation renders it.
    pub code: Option<String>,
    /// The user ids of the group it is in, when it is in one.
    pub roster: Option<Vec<u64>>,
}

/// One DAVE participant (a user in a voice channel), driven by the gateway's opcodes.
pub trait Participant: Send {
    /// The implementation's name, as the matrix and the findings name it.
    fn implementation(&self) -> &str;
    fn user_id(&self) -> u64;
    /// Op 4 (protocol 1) and op 25: a pending group; answers the key package (op 26).
    fn start(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ParticipantError>;
    /// Op 24 (epoch 1) or the recovery after op 31: reset, new pending group, new key package.
    fn restart(&mut self) -> Result<Vec<u8>, ParticipantError>;
    /// Op 27 with the recognized user ids (op 11/13): the op 28 payload, if it commits.
    fn proposals(
        &mut self,
        payload: &[u8],
        recognized: &[u64],
    ) -> Result<Option<Vec<u8>>, ParticipantError>;
    /// Op 29's commit: true when merged, false when ignored.
    fn commit(&mut self, commit: &[u8]) -> Result<bool, ParticipantError>;
    /// Op 30's Welcome.
    fn welcome(&mut self, welcome: &[u8], recognized: &[u64]) -> Result<(), ParticipantError>;
    /// After a commit or Welcome is processed: receive keys of the new epoch.
    fn prepare(&mut self, transition: u16) -> Result<(), ParticipantError>;
    /// Op 22: send under the new epoch.
    fn execute(&mut self, transition: u16) -> Result<(), ParticipantError>;
    fn shown(&mut self) -> Result<Shown, ParticipantError>;
    fn encrypt(&mut self, media: Media, frame: &[u8]) -> Result<Option<Vec<u8>>, ParticipantError>;
    fn decrypt(
        &mut self,
        sender: u64,
        media: Media,
        frame: &[u8],
    ) -> Result<Option<Vec<u8>>, ParticipantError>;
    /// The pairwise verification fingerprint with `other` (64 bytes).
    fn fingerprint(&mut self, other: u64) -> Result<Option<Vec<u8>>, ParticipantError>;
    /// `user`'s base secret of the current epoch: only the escrow control asks.
    fn media_key(&mut self, user: u64) -> Result<Vec<u8>, ParticipantError>;
}

/// The implementations the harness drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Implementation {
    // Sidecars first: `Sidecar::start` for each is what `e2ee dave` checks before it runs.
    /// Discord's libdave (C++ on MLSpp), PyPI's dave.py wheel, in `.venv-dave`.
    Libdave,
    /// The davey crate (Rust on OpenMLS 0.8), built by `scripts/setup.sh`.
    Davey,
    /// Ours, in process, on mls-rs ([`super::ours`]).
    Ours,
}

impl Implementation {
    pub const ALL: [Implementation; 3] = [
        Implementation::Libdave,
        Implementation::Davey,
        Implementation::Ours,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Implementation::Libdave => "libdave",
            Implementation::Davey => "davey",
            Implementation::Ours => super::ours::NAME,
        }
    }

    pub fn parse(name: &str) -> Option<Implementation> {
        Implementation::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether the implementation can hand over a media key (the escrow control needs one).
    pub fn exposes_media_keys(self) -> bool {
        matches!(self, Implementation::Davey | Implementation::Ours)
    }

    /// The command that runs its sidecar.
    fn command(self) -> Result<Command, ParticipantError> {
        let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let missing = |what: &str, path: &PathBuf| {
            ParticipantError::Gone(format!(
                "{}: {what} {} is missing; run `bash scripts/setup.sh`",
                self.name(),
                path.display()
            ))
        };
        match self {
            Implementation::Libdave => {
                let python = std::env::var_os("E2EE_DAVE_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo.join(".venv-dave/bin/python"));
                if !python.exists() {
                    return Err(missing("the Python with dave.py", &python));
                }
                let mut c = Command::new(python);
                c.arg(repo.join("harness/sidecars/libdave_sidecar.py"));
                Ok(c)
            }
            Implementation::Davey => {
                let binary = std::env::var_os("E2EE_DAVEY_SIDECAR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo.join("target/davey-sidecar/release/davey-sidecar"));
                if !binary.exists() {
                    return Err(missing("the davey sidecar", &binary));
                }
                Ok(Command::new(binary))
            }
            Implementation::Ours => Err(ParticipantError::Gone(
                "ours runs in process: it has no sidecar".into(),
            )),
        }
    }
}

/// How long a sidecar may take to answer one request (libdave's scrypt fingerprint, the
/// slowest, takes ~0.1 s) before the run stops with it named.
pub const SIDECAR_TIMEOUT: Duration = Duration::from_secs(30);

/// A sidecar shared by the participants it holds sessions for.
pub type SharedSidecar = Arc<Mutex<Sidecar>>;

/// One running sidecar process, shared by the participants it holds sessions for.
pub struct Sidecar {
    implementation: Implementation,
    child: Child,
    stdin: ChildStdin,
    /// Its stdout's lines, read on a thread of their own so an answer can be waited for with
    /// a timeout.
    lines: Receiver<std::io::Result<String>>,
    timeout: Duration,
    next_id: u64,
    /// The name and version it reported.
    pub version: String,
}

impl Sidecar {
    pub fn start(implementation: Implementation) -> Result<Sidecar, ParticipantError> {
        Sidecar::spawn(implementation, implementation.command()?, SIDECAR_TIMEOUT)
    }

    /// Runs `command` as `implementation`'s sidecar, waiting up to `timeout` for each answer.
    fn spawn(
        implementation: Implementation,
        mut command: Command,
        timeout: Duration,
    ) -> Result<Sidecar, ParticipantError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                ParticipantError::Gone(format!(
                    "{}: sidecar did not start: {e}",
                    implementation.name()
                ))
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sidecar = Sidecar {
            implementation,
            child,
            stdin,
            lines,
            timeout,
            next_id: 0,
            version: String::new(),
        };
        let hello = sidecar.call("hello", json!({}))?;
        sidecar.version = hello["version"].as_str().unwrap_or("unknown").to_string();
        Ok(sidecar)
    }

    /// One request and its answer; an `error` answer is the implementation refusing.
    fn call(&mut self, op: &str, mut request: Value) -> Result<Value, ParticipantError> {
        self.next_id += 1;
        request["id"] = json!(self.next_id);
        request["op"] = json!(op);
        let name = self.implementation.name();
        let gone = |e: String| ParticipantError::Gone(format!("{name} sidecar: {e} (during {op})"));
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| gone(e.to_string()))?;
        let line = match self.lines.recv_timeout(self.timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(gone(e.to_string())),
            Err(RecvTimeoutError::Disconnected) => return Err(gone("exited".into())),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                return Err(gone(format!(
                    "no answer within {:.1} s",
                    self.timeout.as_secs_f64()
                )));
            }
        };
        let answer: Value =
            serde_json::from_str(&line).map_err(|e| gone(format!("answered non-JSON: {e}")))?;
        if answer["id"] != json!(self.next_id) {
            return Err(gone(format!(
                "answered {} to request {}",
                answer["id"], self.next_id
            )));
        }
        if let Some(error) = answer["error"].as_str() {
            let mut reason = error.to_string();
            if let Some(f) = answer["failures"].as_array().filter(|f| !f.is_empty()) {
                let f: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
                reason = format!("{reason} ({})", f.join("; "));
            }
            return Err(ParticipantError::Refused {
                implementation: name.into(),
                op: op.into(),
                reason,
            });
        }
        Ok(answer["ok"].clone())
    }
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar")
            .field("implementation", &self.implementation)
            .field("version", &self.version)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A participant living in a sidecar session.
#[derive(Debug)]
pub struct SidecarParticipant {
    sidecar: SharedSidecar,
    implementation: &'static str,
    session: u64,
    user_id: u64,
}

impl SidecarParticipant {
    pub fn new(
        sidecar: SharedSidecar,
        user_id: u64,
        channel_id: u64,
    ) -> Result<SidecarParticipant, ParticipantError> {
        let implementation = sidecar.lock().expect("sidecar lock").implementation.name();
        let answer = sidecar.lock().expect("sidecar lock").call(
            "new",
            json!({"user_id": user_id.to_string(), "channel_id": channel_id.to_string()}),
        )?;
        let session = answer["session"].as_u64().ok_or_else(|| {
            ParticipantError::Gone(format!("{implementation} sidecar: `new` gave no session"))
        })?;
        Ok(SidecarParticipant {
            sidecar,
            implementation,
            session,
            user_id,
        })
    }

    fn call(&self, op: &str, mut request: Value) -> Result<Value, ParticipantError> {
        request["session"] = json!(self.session);
        self.sidecar.lock().expect("sidecar lock").call(op, request)
    }

    fn bytes(&self, answer: &Value, field: &str) -> Result<Option<Vec<u8>>, ParticipantError> {
        match &answer[field] {
            Value::Null => Ok(None),
            Value::String(s) => hex::decode(s).map(Some).map_err(|e| {
                ParticipantError::Gone(format!(
                    "{} sidecar: `{field}` is not hex: {e}",
                    self.implementation
                ))
            }),
            other => Err(ParticipantError::Gone(format!(
                "{} sidecar: `{field}` is {other}",
                self.implementation
            ))),
        }
    }

    fn required(&self, answer: &Value, field: &str) -> Result<Vec<u8>, ParticipantError> {
        self.bytes(answer, field)?
            .ok_or_else(|| ParticipantError::Refused {
                implementation: self.implementation.into(),
                op: field.into(),
                reason: format!("answered no {field}"),
            })
    }
}

fn ids(recognized: &[u64]) -> Value {
    json!(recognized.iter().map(u64::to_string).collect::<Vec<_>>())
}

impl Participant for SidecarParticipant {
    fn implementation(&self) -> &str {
        self.implementation
    }

    fn user_id(&self) -> u64 {
        self.user_id
    }

    fn start(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ParticipantError> {
        let a = self.call(
            "start",
            json!({"external_sender": hex::encode(external_sender)}),
        )?;
        self.required(&a, "key_package")
    }

    fn restart(&mut self) -> Result<Vec<u8>, ParticipantError> {
        let a = self.call("restart", json!({}))?;
        self.required(&a, "key_package")
    }

    fn proposals(
        &mut self,
        payload: &[u8],
        recognized: &[u64],
    ) -> Result<Option<Vec<u8>>, ParticipantError> {
        let a = self.call(
            "proposals",
            json!({"payload": hex::encode(payload), "recognized": ids(recognized)}),
        )?;
        self.bytes(&a, "commit_welcome")
    }

    fn commit(&mut self, commit: &[u8]) -> Result<bool, ParticipantError> {
        let a = self.call("commit", json!({"commit": hex::encode(commit)}))?;
        Ok(a["accepted"].as_bool().unwrap_or(false))
    }

    fn welcome(&mut self, welcome: &[u8], recognized: &[u64]) -> Result<(), ParticipantError> {
        self.call(
            "welcome",
            json!({"welcome": hex::encode(welcome), "recognized": ids(recognized)}),
        )
        .map(drop)
    }

    fn prepare(&mut self, transition: u16) -> Result<(), ParticipantError> {
        self.call("prepare", json!({"transition": transition}))
            .map(drop)
    }

    fn execute(&mut self, transition: u16) -> Result<(), ParticipantError> {
        self.call("execute", json!({"transition": transition}))
            .map(drop)
    }

    fn shown(&mut self) -> Result<Shown, ParticipantError> {
        let a = self.call("shown", json!({}))?;
        let roster = a["roster"].as_array().map(|r| {
            let mut ids: Vec<u64> = r
                .iter()
                .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
                .collect();
            ids.sort_unstable();
            ids
        });
        Ok(Shown {
            epoch_authenticator: self.bytes(&a, "epoch_authenticator")?,
            code: a["code"].as_str().map(str::to_string),
            roster,
        })
    }

    fn encrypt(&mut self, media: Media, frame: &[u8]) -> Result<Option<Vec<u8>>, ParticipantError> {
        let (media, codec) = media.fields();
        let a = self.call(
            "encrypt",
            json!({"media": media, "codec": codec, "ssrc": 1, "frame": hex::encode(frame)}),
        )?;
        self.bytes(&a, "frame")
    }

    fn decrypt(
        &mut self,
        sender: u64,
        media: Media,
        frame: &[u8],
    ) -> Result<Option<Vec<u8>>, ParticipantError> {
        let a = self.call(
            "decrypt",
            json!({"sender": sender.to_string(), "media": media.fields().0, "frame": hex::encode(frame)}),
        )?;
        self.bytes(&a, "frame")
    }

    fn fingerprint(&mut self, other: u64) -> Result<Option<Vec<u8>>, ParticipantError> {
        let a = self.call("fingerprint", json!({"other": other.to_string()}))?;
        self.bytes(&a, "fingerprint")
    }

    fn media_key(&mut self, user: u64) -> Result<Vec<u8>, ParticipantError> {
        let a = self.call("media_key", json!({"user": user.to_string()}))?;
        self.required(&a, "media_key")
    }
}

impl Implementation {
    /// Starts the implementation for one user: a session in `sidecars` (started on first use)
    /// or, for ours, an in-process participant. Reports the version it runs.
    pub fn participant(
        self,
        sidecars: &mut std::collections::BTreeMap<Implementation, SharedSidecar>,
        user: u64,
        channel: u64,
    ) -> Result<(Box<dyn Participant>, String), ParticipantError> {
        if self == Implementation::Ours {
            let p = super::ours::Ours::new(user, channel)?;
            return Ok((Box::new(p), Implementation::ours_version()));
        }
        let sidecar = match sidecars.get(&self) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(Mutex::new(Sidecar::start(self)?));
                sidecars.insert(self, s.clone());
                s
            }
        };
        let version = sidecar.lock().expect("sidecar lock").version.clone();
        Ok((
            Box::new(SidecarParticipant::new(sidecar, user, channel)?),
            version,
        ))
    }

    /// "e2ee 0.1.0 on mls-rs 0.57".
    pub fn ours_version() -> String {
        format!("e2ee {} on mls-rs 0.57", env!("CARGO_PKG_VERSION"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    /// A sidecar that hangs, dies or babbles stops the run with its name and what it did.
    #[test]
    fn a_broken_sidecar_is_named_not_waited_for() {
        let short = Duration::from_millis(300);
        let gone = |script: &str| match Sidecar::spawn(Implementation::Davey, sh(script), short) {
            Err(ParticipantError::Gone(why)) => why,
            Ok(_) => panic!("{script}: started"),
            Err(e) => panic!("{script}: {e}"),
        };
        assert_eq!(
            gone("cat > /dev/null"),
            "davey sidecar: no answer within 0.3 s (during hello)"
        );
        assert_eq!(gone("true"), "davey sidecar: exited (during hello)");
        assert!(gone("read x; echo not json").starts_with("davey sidecar: answered non-JSON"));
        assert!(gone("read x; echo '{\"id\": 7, \"ok\": {}}'").contains("answered 7 to request 1"));
    }
}
