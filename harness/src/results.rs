//! The versioned results record: every level of the tool writes a [`Run`], and `e2ee report`
//! reads them back. Changing the shape of these types means bumping [`RESULTS_SCHEMA_VERSION`].
//!
//! Every [`Check`] says *where* it applies ([`Scope`]: a model at bounds, a vector case through
//! a client, an interop run with its actor assignment, a live call) and *which question* it asks
//! ([`Question`]: could the server decrypt, could a removed member read on, ...), so readers
//! place it without parsing its display strings. Records of version 1 are still read
//! ([`Run::read_json`] converts them: their checks get [`Scope::Unscoped`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The shape version of [`Run`]; a reader refuses any other, rather than misreading it.
pub const RESULTS_SCHEMA_VERSION: u32 = 2;

/// The older version [`Run::read_json`] still reads, converted.
pub const RESULTS_SCHEMA_V1: u32 = 1;

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
        "{path} has results schema version {found}, but this e2ee reads only versions 1 and {expected}"
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
    /// The expectations the run was judged against (`--expect`), each with what became of it.
    #[serde(default)]
    pub expectations: Vec<ExpectationOutcome>,
    /// Clients the run drove that this build did not compile in (`grpc:HOST:PORT` servers),
    /// with the name each reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<Component>,
    /// The schema version the record was read from (1 for a converted record); not written.
    #[serde(skip)]
    pub read_from_version: Option<u32>,
    /// Wall clock for `duration_secs`; not part of the record.
    #[serde(skip)]
    clock: Option<Instant>,
}

/// A client under test and its version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub role: String,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Design,
    Implementation,
    Deployment,
}

/// Where a check applies. Typed, so the report's matrices are a `match` on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Scope {
    /// A protocol model explored at bounds, with a seeded bug (`mutant`) or without.
    Design {
        protocol: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mutant: Option<String>,
        /// participants, initial_members, max_changes, max_interference.
        bounds: BTreeMap<String, u64>,
    },
    /// One case of a test-vector file through one client (`case` is the case's index, with
    /// the operation after a dot where a case has several, e.g. "3.commit").
    Vector {
        client: String,
        /// The file's name, as upstream names it (e.g. "tree-validation.json").
        file: String,
        case: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suite: Option<u16>,
    },
    /// One run of an interop scenario: a script of a config file under one cipher suite and
    /// handshake setting, each actor played by a client.
    Interop {
        /// `<config stem>/<script name>`, e.g. "commit/add-remove".
        scenario: String,
        suite: u16,
        handshake: Handshake,
        /// Actor → client.
        assignment: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        control: Option<String>,
    },
    /// A live call (the SFU, or the call as a whole), or one participant of it.
    Live {
        call: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        control: Option<String>,
    },
    /// An input (a vector file or case, a script, a whole level's directory) that could not be
    /// read or run.
    Input {
        level: Level,
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        case: Option<String>,
    },
    /// A check read from a version-1 record, which knew only its level and subject: it counts
    /// in the totals and failures, but in no matrix and no security answer.
    Unscoped { level: Level, subject: String },
}

impl Scope {
    /// The level this scope belongs to.
    pub fn level(&self) -> Level {
        match self {
            Scope::Design { .. } => Level::Design,
            Scope::Vector { .. } | Scope::Interop { .. } => Level::Implementation,
            Scope::Live { .. } => Level::Deployment,
            Scope::Input { level, .. } | Scope::Unscoped { level, .. } => *level,
        }
    }

    /// A seeded bug (model mutant, interop or live control): its checks show the tool can
    /// fail, and say nothing about the system under test.
    pub fn control(&self) -> Option<&str> {
        match self {
            Scope::Design { mutant, .. } => mutant.as_deref(),
            Scope::Interop { control, .. } | Scope::Live { control, .. } => control.as_deref(),
            _ => None,
        }
    }

    /// The scope in words, for a heading or a default subject.
    pub fn label(&self) -> String {
        match self {
            Scope::Design {
                protocol, mutant, ..
            } => match mutant {
                Some(m) => format!("{protocol}+{m}"),
                None => protocol.clone(),
            },
            Scope::Vector { client, .. } => client.clone(),
            Scope::Interop {
                scenario, control, ..
            } => match control {
                Some(c) => format!("{scenario}+{c}"),
                None => scenario.clone(),
            },
            Scope::Live {
                call, participant, ..
            } => match participant {
                Some(p) => format!("{call}: {p}"),
                None => call.clone(),
            },
            Scope::Input { file, case, .. } => match case {
                Some(c) => format!("{file}[{c}]"),
                None => file.clone(),
            },
            Scope::Unscoped { subject, .. } => subject.clone(),
        }
    }

    /// The distinct clients of an interop assignment, sorted, joined by " × ".
    pub fn client_pair(assignment: &BTreeMap<String, String>) -> String {
        let clients: std::collections::BTreeSet<&str> =
            assignment.values().map(String::as_str).collect();
        clients.into_iter().collect::<Vec<_>>().join(" × ")
    }
}

/// How handshake messages travel in an interop run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handshake {
    /// As PrivateMessage (encrypted).
    Private,
    /// As PublicMessage.
    Public,
}

/// The question a check asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Question {
    /// Could a server (the SFU, the delivery service, the model's adversary) decrypt or learn a
    /// media key?
    ServerBlind,
    /// Could a removed member read on?
    RemovedBlind,
    /// Could a joiner read what was sent before it joined?
    JoinerBlind,
    /// Do members open what they are owed?
    MembersRead,
    /// Do members agree on the group (epoch, roster, epoch authenticator)?
    Agreement,
    /// Does a client match the specification's vector?
    Conformance,
    /// Could an input be read?
    Input,
    /// A model property with no security question of its own (its name).
    Property(String),
    /// From a version-1 record, which did not say.
    Unknown,
}

/// The three questions the report answers first, in the order it answers them.
pub const SECURITY_QUESTIONS: [Question; 3] = [
    Question::ServerBlind,
    Question::RemovedBlind,
    Question::JoinerBlind,
];

impl Question {
    /// The question of a model property, by its name (model/src/properties.rs).
    pub fn of_property(name: &str) -> Question {
        match name {
            "server_never_learns_media_key" => Question::ServerBlind,
            "leave_secrecy" => Question::RemovedBlind,
            "join_secrecy" => Question::JoinerBlind,
            "epoch_agreement" | "convergence" => Question::Agreement,
            other => Question::Property(other.to_string()),
        }
    }

    /// The question as an auditor asks it.
    pub fn in_words(&self) -> String {
        match self {
            Question::ServerBlind => "Could the server decrypt?".into(),
            Question::RemovedBlind => "Could a removed member read on?".into(),
            Question::JoinerBlind => "Could a joiner read history?".into(),
            Question::MembersRead => "Do members read what they are owed?".into(),
            Question::Agreement => "Do members agree on the group?".into(),
            Question::Conformance => "Do clients match the specifications' vectors?".into(),
            Question::Input => "Could every input be read?".into(),
            Question::Property(p) => format!("Does {p} hold?"),
            Question::Unknown => "(a version-1 record: question not recorded)".into(),
        }
    }

    /// snake_case, as in the JSON (`property:<name>` for a property); matched by expectations
    /// on every check, so no allocation for the fixed questions.
    pub fn key(&self) -> std::borrow::Cow<'static, str> {
        let key = match self {
            Question::ServerBlind => "server_blind",
            Question::RemovedBlind => "removed_blind",
            Question::JoinerBlind => "joiner_blind",
            Question::MembersRead => "members_read",
            Question::Agreement => "agreement",
            Question::Conformance => "conformance",
            Question::Input => "input",
            Question::Unknown => "unknown",
            Question::Property(p) => return format!("property:{p}").into(),
        };
        key.into()
    }
}

/// One judged claim about one scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub level: Level,
    pub scope: Scope,
    pub question: Question,
    /// What was checked, in words, e.g. "leader" or "leader+no-rotate-on-leave".
    pub subject: String,
    /// The property or test name.
    pub name: String,
    pub verdict: Verdict,
    /// The verdict in words, for a reader who does not know the rules.
    pub reason: String,
    pub evidence: Option<Evidence>,
    /// Numbers that go with the verdict (states explored, seconds, ...).
    pub figures: BTreeMap<String, f64>,
    /// A call-wide check's verdict for each party it judged (live: each participant), so a
    /// participant's cell fails only where the check found a fault of that participant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<PartyVerdict>,
    /// The expectation that turned this failure into `expected-fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<ExpectedBy>,
}

/// One party's share of a call-wide check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyVerdict {
    pub party: String,
    pub verdict: Verdict,
}

/// Which expectation matched a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedBy {
    /// The expectation's (and its finding's) id.
    pub id: String,
    pub reason: String,
    pub link: String,
}

/// What became of one expectation in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationOutcome {
    pub id: String,
    pub reason: String,
    pub link: String,
    /// met: it matched failures (now expected-fail); stale: checks it covers ran and none
    /// failed (the finding is fixed, or the expectation is wrong); unexercised: no check it
    /// covers ran (e.g. no vectors directory).
    pub status: ExpectationStatus,
    /// Failures it matched.
    pub matched: usize,
    /// Checks in its scope that ran and did not fail.
    pub passing: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectationStatus {
    Met,
    Stale,
    Unexercised,
}

impl Check {
    /// A check of `question` in `scope`; its level and subject follow from the scope
    /// ([`Check::with_subject`] names it otherwise).
    pub fn new(
        scope: Scope,
        question: Question,
        name: impl Into<String>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Check {
        Check {
            level: scope.level(),
            subject: scope.label(),
            scope,
            question,
            name: name.into(),
            verdict,
            reason: reason.into(),
            evidence: None,
            figures: BTreeMap::new(),
            parties: Vec::new(),
            expected: None,
        }
    }

    /// Pass without failures, else fail with the first five as the reason and all (up to 500)
    /// as the evidence.
    pub fn from_failures(
        scope: Scope,
        question: Question,
        name: impl Into<String>,
        failures: &[String],
        pass: impl Into<String>,
    ) -> Check {
        if failures.is_empty() {
            return Check::new(scope, question, name, Verdict::Pass, pass);
        }
        let mut r: Vec<String> = failures.iter().take(5).cloned().collect();
        if failures.len() > 5 {
            r.push(format!("and {} more", failures.len() - 5));
        }
        Check::new(scope, question, name, Verdict::Fail, r.join("; ")).with_evidence(
            Evidence::lines(failures.iter().take(500).cloned().collect()),
        )
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> Check {
        self.subject = subject.into();
        self
    }

    pub fn with_evidence(mut self, evidence: Evidence) -> Check {
        self.evidence = Some(evidence);
        self
    }

    pub fn with_figures(mut self, figures: BTreeMap<String, f64>) -> Check {
        self.figures = figures;
        self
    }

    /// The same check, not-applicable for `reason` (the question was never asked).
    pub fn not_applicable(mut self, reason: impl Into<String>) -> Check {
        self.verdict = Verdict::NotApplicable;
        self.reason = reason.into();
        self.evidence = None;
        self
    }

    /// Failed, expected or not.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Fail | Verdict::ExpectedFail)
    }
}

/// How a check came out, judged against what was expected of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The expectation was met.
    Pass,
    /// The expectation was not met: this is what makes the tool exit 1.
    Fail,
    /// Failed, as a known finding says it does (`--expect`): shown apart, never as a pass.
    ExpectedFail,
    /// Could have run, but did not (by request or missing input).
    Skipped,
    /// Its question was never asked (nobody was removed, no frame reached a joiner), or it is
    /// not judged here (side effects of a mutant).
    NotApplicable,
    /// The tool cannot check this yet.
    Unimplemented,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::ExpectedFail => "expected-fail",
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

impl Evidence {
    /// Evidence that is a list of lines and nothing else.
    pub fn lines(steps: Vec<String>) -> Evidence {
        Evidence {
            steps,
            mermaid: None,
            final_state: None,
        }
    }

    /// [`Evidence::lines`], none when there are no lines.
    pub fn lines_if_any(steps: &[String]) -> Option<Evidence> {
        (!steps.is_empty()).then(|| Evidence::lines(steps.to_vec()))
    }
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
            expectations: Vec::new(),
            clients: Vec::new(),
            read_from_version: None,
            clock: Some(Instant::now()),
        }
    }

    /// Sets `duration_secs` to the time since [`Run::new`]; a record read from disk keeps its own.
    pub fn finish(&mut self) {
        if let Some(start) = self.clock {
            self.duration_secs = start.elapsed().as_secs_f64();
        }
    }

    /// An unexpected failure, or an expectation gone stale.
    pub fn any_failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Fail)
            || self
                .expectations
                .iter()
                .any(|e| e.status == ExpectationStatus::Stale)
    }

    /// 0 when every check met its expectation (expected failures included), 1 when one did
    /// not or an expectation is stale.
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
        if found == u64::from(RESULTS_SCHEMA_V1) {
            let v1: v1::Run = serde_json::from_value(value).map_err(parse)?;
            return Ok(v1.into_v2());
        }
        if found != u64::from(RESULTS_SCHEMA_VERSION) {
            return Err(ResultsError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                expected: RESULTS_SCHEMA_VERSION,
            });
        }
        let mut run: Run = serde_json::from_value(value).map_err(parse)?;
        run.read_from_version = Some(RESULTS_SCHEMA_VERSION);
        Ok(run)
    }
}

/// Version 1 of the record, read and converted: the same run, every check [`Scope::Unscoped`]
/// with [`Question::Unknown`] (v1 did not say where a check applied or what it asked).
mod v1 {
    use super::{Evidence, Level, Machine, ToolInfo, Verdict};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    pub(super) struct Run {
        tool: ToolInfo,
        machine: Machine,
        command: String,
        started: String,
        duration_secs: f64,
        checks: Vec<Check>,
    }

    #[derive(Deserialize)]
    struct Check {
        level: Level,
        subject: String,
        name: String,
        verdict: Verdict,
        reason: String,
        evidence: Option<Evidence>,
        figures: BTreeMap<String, f64>,
    }

    impl Run {
        pub(super) fn into_v2(self) -> super::Run {
            super::Run {
                schema_version: super::RESULTS_SCHEMA_VERSION,
                tool: self.tool,
                machine: self.machine,
                command: self.command,
                started: self.started,
                duration_secs: self.duration_secs,
                checks: self
                    .checks
                    .into_iter()
                    .map(|c| super::Check {
                        level: c.level,
                        scope: super::Scope::Unscoped {
                            level: c.level,
                            subject: c.subject.clone(),
                        },
                        question: super::Question::Unknown,
                        subject: c.subject,
                        name: c.name,
                        verdict: c.verdict,
                        reason: c.reason,
                        evidence: c.evidence,
                        figures: c.figures,
                        parties: Vec::new(),
                        expected: None,
                    })
                    .collect(),
                expectations: Vec::new(),
                clients: Vec::new(),
                read_from_version: Some(super::RESULTS_SCHEMA_V1),
                clock: None,
            }
        }
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
        Verdict::ExpectedFail,
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
        run.checks.push(
            Check::new(
                Scope::Design {
                    protocol: "leader".into(),
                    mutant: Some("no-rotate-on-leave".into()),
                    bounds: BTreeMap::from([("participants".into(), 3)]),
                },
                Question::of_property("leave_secrecy"),
                "leave_secrecy",
                Verdict::Pass,
                "mutant caught",
            )
            .with_evidence(Evidence {
                steps: vec!["1. P1 leaves".into()],
                mermaid: Some("sequenceDiagram\n".into()),
                final_state: Some("P1 holds K2".into()),
            })
            .with_figures(BTreeMap::from([
                ("states".into(), 42.0),
                ("seconds".into(), 0.25),
            ])),
        );
        run.checks.push(Check::new(
            Scope::Live {
                call: "x".into(),
                participant: None,
                control: None,
            },
            Question::JoinerBlind,
            "y",
            Verdict::NotApplicable,
            "",
        ));
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
        assert!(text.contains("\"question\": \"removed_blind\""), "{text}");
        assert!(text.contains("\"kind\": \"design\""), "{text}");
    }

    #[test]
    fn wrong_schema_version_rejected() {
        let dir = Scratch::new();
        let path = dir.path("v3.json");
        let mut value = serde_json::to_value(sample()).unwrap();
        value["schema_version"] = 3.into();
        std::fs::write(&path, value.to_string()).unwrap();
        let err = Run::read_json(&path).unwrap_err();
        assert!(
            matches!(err, ResultsError::SchemaVersion { found: 3, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("version 3"), "{msg}");
    }

    #[test]
    fn question_keys_are_their_json_names() {
        for q in [
            Question::ServerBlind,
            Question::RemovedBlind,
            Question::JoinerBlind,
            Question::MembersRead,
            Question::Agreement,
            Question::Conformance,
            Question::Input,
            Question::Unknown,
        ] {
            assert_eq!(serde_json::to_value(&q).unwrap(), q.key().as_ref(), "{q:?}");
        }
        assert_eq!(Question::of_property("convergence").key(), "agreement");
        assert_eq!(Question::of_property("x").key(), "property:x");
    }

    #[test]
    fn a_version_1_record_is_read_unscoped() {
        let dir = Scratch::new();
        let path = dir.path("v1.json");
        let v1 = serde_json::json!({
            "schema_version": 1,
            "tool": {"name": "e2ee", "version": "0.1.0"},
            "machine": {"os": "linux", "arch": "x86_64", "cpus": 2, "hostname": "h"},
            "command": "e2ee vectors",
            "started": "2026-11-26T10:00:00Z",
            "duration_secs": 1.5,
            "checks": [{"level": "implementation", "subject": "openmls",
                        "name": "welcome.json[0]", "verdict": "fail", "reason": "r",
                        "evidence": null, "figures": {}}]
        });
        std::fs::write(&path, v1.to_string()).unwrap();
        let run = Run::read_json(&path).unwrap();
        assert_eq!(run.read_from_version, Some(1));
        assert_eq!(run.checks[0].question, Question::Unknown);
        assert_eq!(
            run.checks[0].scope,
            Scope::Unscoped {
                level: Level::Implementation,
                subject: "openmls".into()
            }
        );
        assert_eq!(run.exit_code(), 1);
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
        run.checks[1].verdict = Verdict::ExpectedFail;
        assert_eq!(run.exit_code(), 0);
        run.checks[1].verdict = Verdict::Fail;
        assert!(run.any_failed());
        assert_eq!(run.exit_code(), 1);
        assert_eq!(summary_line(&run.checks), "2 checks: 1 pass, 1 fail");
        run.checks[1].verdict = Verdict::Pass;
        run.expectations.push(ExpectationOutcome {
            id: "x".into(),
            reason: String::new(),
            link: String::new(),
            status: ExpectationStatus::Stale,
            matched: 0,
            passing: 2,
        });
        assert_eq!(run.exit_code(), 1, "a stale expectation fails the run");
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
