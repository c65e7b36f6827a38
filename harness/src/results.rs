//! The versioned results record: every level of the tool writes a [`Run`], and `e2ee report`
//! reads them back. Changing the shape of these types means bumping [`RESULTS_SCHEMA_VERSION`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The shape version of [`Run`]; a reader refuses any other, rather than misreading it.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// Why a results file could not be written or read; every variant names the file. The cause
/// is the error's `source`, not repeated in its message.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write results to {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read results from {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid e2ee results record")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} is not an e2ee results record: it has no numeric `schema_version`")]
    NoSchemaVersion { path: PathBuf },
    #[error(
        "{path} has results schema version {found}, but this e2ee reads only version {expected}"
    )]
    SchemaVersion {
        path: PathBuf,
        found: u64,
        expected: u32,
    },
}

/// One invocation of the tool and everything it checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub machine: Machine,
    /// The command line, as typed (arguments with spaces are quoted).
    pub command: String,
    /// When the run started, RFC 3339 in UTC.
    pub started: String,
    pub duration_secs: f64,
    pub checks: Vec<Check>,
    /// Wall clock for `duration_secs`; not part of the record.
    #[serde(skip)]
    clock: Option<Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    pub fn this() -> ToolInfo {
        ToolInfo {
            name: "e2ee".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Where the run happened, so figures from different machines are not compared blindly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub hostname: String,
}

impl Machine {
    pub fn this() -> Machine {
        Machine {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            hostname: hostname(),
        }
    }
}

fn hostname() -> String {
    let from_file = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string());
    let from_env = std::env::var("HOSTNAME").ok().map(|s| s.trim().to_string());
    from_file
        .into_iter()
        .chain(from_env)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Which level a check is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Design,
    Implementation,
    Deployment,
}

/// One judged claim about one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub level: Level,
    /// What was checked, e.g. "leader" or "leader+no-rotate-on-leave".
    pub subject: String,
    /// The property or test name.
    pub name: String,
    pub verdict: Verdict,
    /// The verdict in words, for a reader who does not know the rules.
    pub reason: String,
    pub evidence: Option<Evidence>,
    /// Numbers that go with the verdict (states explored, seconds, ...).
    pub figures: BTreeMap<String, f64>,
}

/// How a check came out, judged against what was expected of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The expectation was met.
    Pass,
    /// The expectation was not met: this is what makes the tool exit 1.
    Fail,
    /// Could have run, but did not (by request or missing input).
    Skipped,
    /// Ran, but its outcome is not judged here (e.g. side effects of a mutant).
    NotApplicable,
    /// The tool cannot check this yet.
    Unimplemented,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skipped => "skipped",
            Verdict::NotApplicable => "not-applicable",
            Verdict::Unimplemented => "unimplemented",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reader needs to see the verdict for themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Numbered steps in plain words: "1. P1 leaves".
    pub steps: Vec<String>,
    /// The same steps as a Mermaid diagram.
    pub mermaid: Option<String>,
    /// What holds at the end, in words.
    pub final_state: Option<String>,
}

impl Run {
    /// Starts a record for `command`, stamping the time and machine now.
    pub fn new(command: impl Into<String>) -> Run {
        Run {
            schema_version: RESULTS_SCHEMA_VERSION,
            tool: ToolInfo::this(),
            machine: Machine::this(),
            command: command.into(),
            started: rfc3339_utc(SystemTime::now()),
            duration_secs: 0.0,
            checks: Vec::new(),
            clock: Some(Instant::now()),
        }
    }

    /// Sets `duration_secs` to the time since [`Run::new`]; a record read from disk keeps its own.
    pub fn finish(&mut self) {
        if let Some(start) = self.clock {
            self.duration_secs = start.elapsed().as_secs_f64();
        }
    }

    pub fn any_failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Fail)
    }

    /// 0 when every check met its expectation, 1 when one did not.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.any_failed())
    }

    /// Writes pretty JSON, creating parent directories. Goes through a temporary file so a
    /// reader never sees half a record.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), ResultsError> {
        let path = path.as_ref();
        let err = |source| ResultsError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut json = serde_json::to_string_pretty(self).map_err(|e| err(e.into()))?;
        json.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, json).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Reads a record, refusing one written with another schema version.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Run, ResultsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let parse = |source| ResultsError::Parse {
            path: path.to_path_buf(),
            source,
        };
        // Look at the version before the shape, so a newer record is named as such rather
        // than reported as some missing field.
        let value: serde_json::Value = serde_json::from_str(&text).map_err(parse)?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ResultsError::NoSchemaVersion {
                path: path.to_path_buf(),
            })?;
        if found != u64::from(RESULTS_SCHEMA_VERSION) {
            return Err(ResultsError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                expected: RESULTS_SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(parse)
    }
}

/// Quotes arguments the way a POSIX shell would read them back, so `command` can be re-run.
pub fn command_line<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    args.into_iter()
        .map(|a| {
            let a = a.as_ref();
            if !a.is_empty() && a.chars().all(safe) {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "33 checks: 30 pass, 1 fail, 2 not-applicable", verdicts in a fixed order.
pub fn summary_line(checks: &[Check]) -> String {
    let order = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NotApplicable,
        Verdict::Skipped,
        Verdict::Unimplemented,
    ];
    let counts: Vec<String> = order
        .iter()
        .filter_map(|v| {
            let n = checks.iter().filter(|c| c.verdict == *v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    let head = format!(
        "{} check{}",
        checks.len(),
        if checks.len() == 1 { "" } else { "s" }
    );
    if counts.is_empty() {
        head
    } else {
        format!("{head}: {}", counts.join(", "))
    }
}

/// `2024-05-06T07:08:09Z`. Whole seconds are enough for a run's start; a time before 1970
/// (a broken clock) prints as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A fresh directory under the system temp dir, removed when dropped; tests run in
    /// parallel, so each gets its own.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("e2ee-results-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sample() -> Run {
        let mut run = Run::new(command_line([
            "e2ee", "model", "check", "--json", "a b.json",
        ]));
        run.checks.push(Check {
            level: Level::Design,
            subject: "leader+no-rotate-on-leave".into(),
            name: "leave_secrecy".into(),
            verdict: Verdict::Pass,
            reason: "mutant caught".into(),
            evidence: Some(Evidence {
                steps: vec!["1. P1 leaves".into()],
                mermaid: Some("sequenceDiagram\n".into()),
                final_state: Some("P1 holds K2".into()),
            }),
            figures: BTreeMap::from([("states".into(), 42.0), ("seconds".into(), 0.25)]),
        });
        run.checks.push(Check {
            level: Level::Deployment,
            subject: "x".into(),
            name: "y".into(),
            verdict: Verdict::NotApplicable,
            reason: String::new(),
            evidence: None,
            figures: BTreeMap::new(),
        });
        run.finish();
        run
    }

    #[test]
    fn round_trip() {
        let run = sample();
        let dir = Scratch::new();
        let path = dir.path("nested/dir/run.json");
        run.write_json(&path).unwrap();
        let back = Run::read_json(&path).unwrap();
        assert_eq!(back.schema_version, RESULTS_SCHEMA_VERSION);
        assert_eq!(back.tool, run.tool);
        assert_eq!(back.machine, run.machine);
        assert_eq!(back.command, "e2ee model check --json 'a b.json'");
        assert_eq!(back.started, run.started);
        assert_eq!(back.duration_secs, run.duration_secs);
        assert_eq!(back.checks, run.checks);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"verdict\": \"not-applicable\""), "{text}");
        assert!(text.contains("\"level\": \"design\""), "{text}");
    }

    #[test]
    fn wrong_schema_version_rejected() {
        let dir = Scratch::new();
        let path = dir.path("v2.json");
        let mut value = serde_json::to_value(sample()).unwrap();
        value["schema_version"] = 2.into();
        std::fs::write(&path, value.to_string()).unwrap();
        let err = Run::read_json(&path).unwrap_err();
        assert!(
            matches!(err, ResultsError::SchemaVersion { found: 2, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("version 2"), "{msg}");
    }

    #[test]
    fn truncated_file_names_the_file() {
        let dir = Scratch::new();
        let path = dir.path("truncated.json");
        sample().write_json(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        let err = Run::read_json(&path).unwrap_err();
        assert!(matches!(err, ResultsError::Parse { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn missing_file_and_foreign_json_name_the_file() {
        let dir = Scratch::new();
        let missing = dir.path("absent.json");
        let err = Run::read_json(&missing).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );

        let foreign = dir.path("foreign.json");
        std::fs::write(&foreign, "{\"hello\": 1}").unwrap();
        let err = Run::read_json(&foreign).unwrap_err();
        assert!(
            matches!(err, ResultsError::NoSchemaVersion { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn exit_code_follows_fail_only() {
        let mut run = sample();
        assert_eq!(run.exit_code(), 0);
        run.checks[1].verdict = Verdict::Unimplemented;
        assert_eq!(run.exit_code(), 0);
        run.checks[1].verdict = Verdict::Fail;
        assert!(run.any_failed());
        assert_eq!(run.exit_code(), 1);
        assert_eq!(summary_line(&run.checks), "2 checks: 1 pass, 1 fail");
        assert_eq!(summary_line(&[]), "0 checks");
    }

    #[test]
    fn rfc3339_known_instants() {
        let at = |s| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
