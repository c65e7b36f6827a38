//! davey behind the harness's sidecar protocol (see harness/src/dave/participant.rs): one JSON
//! object per line in, one answer per line out. Every answer is what davey returned; its
//! errors are answers (`{"id", "error"}`), never a dead process.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::num::NonZeroU16;

use davey::{Codec, DaveSession, MediaType, ProposalsOperationType};
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider;
use serde_json::{Value, json};

const PROTOCOL: NonZeroU16 = NonZeroU16::new(1).unwrap();

struct Participant {
    session: DaveSession,
    external_sender: Vec<u8>,
}

#[derive(Default)]
struct Sidecar {
    sessions: HashMap<u64, Participant>,
    next: u64,
}

fn hex_field(request: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = request[field]
        .as_str()
        .ok_or_else(|| format!("`{field}`: expected a hex string"))?;
    hex::decode(s).map_err(|e| format!("`{field}`: {e}"))
}

fn u64_field(request: &Value, field: &str) -> Result<u64, String> {
    match &request[field] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("`{field}`: expected a user id"))
}

fn ids(request: &Value) -> Result<Vec<u64>, String> {
    request["recognized"]
        .as_array()
        .ok_or("`recognized`: expected a list")?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| v.as_u64())
                .ok_or_else(|| format!("`recognized`: {v} is not a user id"))
        })
        .collect()
}

fn media(request: &Value) -> MediaType {
    if request["media"] == "video" {
        MediaType::VIDEO
    } else {
        MediaType::AUDIO
    }
}

fn codec(request: &Value) -> Codec {
    match request["codec"].as_str().unwrap_or("opus") {
        "vp8" => Codec::VP8,
        "vp9" => Codec::VP9,
        "h264" => Codec::H264,
        "h265" => Codec::H265,
        "av1" => Codec::AV1,
        "opus" => Codec::OPUS,
        _ => Codec::UNKNOWN,
    }
}

impl Sidecar {
    fn handle(&mut self, request: &Value) -> Result<Value, String> {
        let op = request["op"].as_str().ok_or("`op`: expected a string")?;
        if op == "hello" {
            return Ok(json!({"name": "davey", "version": "0.2.0", "max_protocol_version": 1}));
        }
        if op == "new" {
            let user = u64_field(request, "user_id")?;
            let channel = u64_field(request, "channel_id")?;
            let session =
                DaveSession::new(PROTOCOL, user, channel, None).map_err(|e| format!("{e:?}"))?;
            self.next += 1;
            self.sessions.insert(
                self.next,
                Participant {
                    session,
                    external_sender: Vec::new(),
                },
            );
            return Ok(json!({"session": self.next}));
        }
        let handle = request["session"].as_u64().ok_or("`session`: expected a number")?;
        let p = self
            .sessions
            .get_mut(&handle)
            .ok_or_else(|| format!("no session {handle}"))?;
        let s = &mut p.session;
        let e = |e: &dyn std::fmt::Debug| format!("{e:?}");
        match op {
            "start" => {
                p.external_sender = hex_field(request, "external_sender")?;
                s.set_external_sender(&p.external_sender).map_err(|x| e(&x))?;
                let kp = s.create_key_package().map_err(|x| e(&x))?;
                Ok(json!({"key_package": hex::encode(kp)}))
            }
            "restart" => {
                let (user, channel) = (s.user_id(), s.channel_id());
                s.reinit(PROTOCOL, user, channel, None).map_err(|x| e(&x))?;
                if s.status() == davey::SessionStatus::INACTIVE {
                    s.set_external_sender(&p.external_sender).map_err(|x| e(&x))?;
                }
                let kp = s.create_key_package().map_err(|x| e(&x))?;
                Ok(json!({"key_package": hex::encode(kp)}))
            }
            "proposals" => {
                let payload = hex_field(request, "payload")?;
                let (&optype, rest) = payload.split_first().ok_or("empty op 27 payload")?;
                let optype = match optype {
                    0 => ProposalsOperationType::APPEND,
                    1 => ProposalsOperationType::REVOKE,
                    other => return Err(format!("operation type {other}")),
                };
                let recognized = ids(request)?;
                let out = s
                    .process_proposals(optype, rest, Some(&recognized))
                    .map_err(|x| e(&x))?;
                Ok(json!({"commit_welcome": out.map(|cw| {
                    let mut bytes = cw.commit;
                    bytes.extend(cw.welcome.unwrap_or_default());
                    hex::encode(bytes)
                })}))
            }
            "commit" => {
                let accepted = s
                    .process_commit(&hex_field(request, "commit")?)
                    .map_err(|x| e(&x))?;
                Ok(json!({"accepted": accepted}))
            }
            "welcome" => {
                let recognized = ids(request)?;
                s.process_welcome(&hex_field(request, "welcome")?, Some(&recognized))
                    .map_err(|x| e(&x))?;
                Ok(json!({}))
            }
            "prepare" => {
                let t = request["transition"].as_u64().unwrap_or(0) as u16;
                s.prepare_transition(t, 1).map_err(|x| e(&x))?;
                Ok(json!({}))
            }
            "execute" => {
                let t = request["transition"].as_u64().unwrap_or(0) as u16;
                let done = s.execute_transition(t).map_err(|x| e(&x))?;
                Ok(json!({"executed": done}))
            }
            "shown" => Ok(json!({
                "epoch": s.epoch().map(|x| x.as_u64()),
                "epoch_authenticator": s.get_epoch_authenticator().map(|a| hex::encode(a.as_slice())),
                "code": s.voice_privacy_code(),
                "roster": s.get_user_ids().map(|ids| ids.iter().map(|u| u.to_string()).collect::<Vec<_>>()),
            })),
            "encrypt" => {
                let frame = hex_field(request, "frame")?;
                match s.encrypt(media(request), codec(request), &frame) {
                    Ok(out) => Ok(json!({"frame": hex::encode(out)})),
                    Err(x) => Ok(json!({"frame": null, "why": e(&x)})),
                }
            }
            "decrypt" => {
                let sender = u64_field(request, "sender")?;
                match s.decrypt(sender, media(request), &hex_field(request, "frame")?) {
                    Ok(out) => Ok(json!({"frame": hex::encode(out)})),
                    Err(x) => Ok(json!({"frame": null, "why": e(&x)})),
                }
            }
            "fingerprint" => {
                let other = u64_field(request, "other")?;
                let fp = s.get_pairwise_fingerprint(0, other).map_err(|x| e(&x))?;
                Ok(json!({"fingerprint": hex::encode(fp)}))
            }
            "media_key" => {
                // Only the escrow control asks: the base secret of `user` in the current epoch.
                let user = u64_field(request, "user")?;
                let group = s.group().ok_or("no group")?;
                let provider = OpenMlsRustCrypto::default();
                let secret = group
                    .export_secret(provider.crypto(), "Discord Secure Frames v0", &user.to_le_bytes(), 16)
                    .map_err(|x| e(&x))?;
                Ok(json!({"media_key": hex::encode(secret)}))
            }
            "free" => {
                self.sessions.remove(&handle);
                Ok(json!({}))
            }
            other => Err(format!("unknown op {other:?}")),
        }
    }
}

fn main() {
    let mut sidecar = Sidecar::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = match serde_json::from_str::<Value>(&line) {
            Err(e) => json!({"id": null, "error": format!("not JSON: {e}")}),
            Ok(request) => {
                let id = request["id"].clone();
                // A panic inside davey is an answer too: the harness reports it as a finding.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    sidecar.handle(&request)
                }));
                match result {
                    Ok(Ok(ok)) => json!({"id": id, "ok": ok}),
                    Ok(Err(error)) => json!({"id": id, "error": error}),
                    Err(_) => json!({"id": id, "error": "davey panicked"}),
                }
            }
        };
        if writeln!(stdout, "{answer}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}
