//! Implementation level, second part: the IETF interop scenario scripts ([`script`]) run client
//! × client ([`matrix`], [`runner`]) through a delivery service that records everything and
//! tries to recover keys and plaintext from it ([`delivery`]).
//!
//! One run is one (config file, script, cipher suite, encrypt-handshake setting, assignment of
//! clients to actors); it yields three checks: the script's steps, the delivery service's
//! blindness, the removed members' blindness.

pub mod delivery;
pub mod matrix;
pub mod runner;
pub mod script;

use crate::clients::MemberClient;
use crate::results::{Check, Evidence, Handshake, Level, Question, Scope, Verdict};
use runner::{Control, RunConfig, Stop};
use script::{Config, ScriptError};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Only this cipher suite; else every suite some selected client supports (the IETF
    /// runner's `-suite 0`).
    pub suite: Option<u16>,
    /// `(seed, k)`: k seeded assignments per (script, suite, mode) instead of all of them.
    pub sample: Option<(u64, usize)>,
    pub control: Option<Control>,
    /// Encrypt-handshake settings to run (both by default).
    pub modes: Vec<bool>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            suite: None,
            sample: None,
            control: None,
            modes: vec![true, false],
        }
    }
}

/// One run to make.
#[derive(Debug, Clone)]
pub struct Job {
    pub config: usize,
    pub script: usize,
    pub run: RunConfig,
}

/// What one run found, without its transcript.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub file: String,
    pub script: String,
    pub suite: u16,
    pub encrypt_handshake: bool,
    pub actors: Vec<(String, &'static str)>,
    pub control: Option<Control>,
    pub stop: Option<Stop>,
    pub steps: usize,
    pub delivery_findings: Vec<String>,
    pub messages: usize,
    pub bytes: usize,
    pub canaries: usize,
    pub secrets: usize,
    pub removed_leaks: Vec<String>,
    pub removed_attempts: usize,
    pub removed_evicted: usize,
    pub agreements: usize,
    pub round_trips: usize,
    /// Clients whose media keys could not be exported, and why.
    pub unexported: Vec<String>,
}

/// Reads `--config FILE|DIR`: every scenario config in it. Files that are not configs in a
/// directory are passed over (the vectors directory holds other JSON); named files must be.
pub fn load(path: &Path) -> (Vec<Config>, Vec<ScriptError>) {
    let mut configs = Vec::new();
    let mut errors = Vec::new();
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        f.sort();
        f.retain(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_none_or(|v| script::is_config(&v))
        });
        f
    } else {
        vec![path.to_path_buf()]
    };
    if files.is_empty() {
        errors.push(ScriptError::File {
            file: path.to_path_buf(),
            message: "no scenario config here".into(),
        });
    }
    for f in files {
        let (config, errs) = script::load(&f);
        errors.extend(errs);
        configs.extend(config);
    }
    (configs, errors)
}

/// Every run the plan asks for.
pub fn jobs(configs: &[Config], clients: &[&dyn MemberClient], plan: &Plan) -> Vec<Job> {
    let mut suites: Vec<u16> = clients.iter().flat_map(|c| c.cipher_suites()).collect();
    suites.sort_unstable();
    suites.dedup();
    if let Some(s) = plan.suite {
        suites.retain(|x| *x == s);
    }
    let mut jobs = Vec::new();
    for (ci, config) in configs.iter().enumerate() {
        for (si, s) in config.scripts.iter().enumerate() {
            for &suite in &suites {
                // Only clients that support the suite play (the IETF runner's index mix-up
                // would hand actors to clients that do not).
                let able: Vec<usize> = (0..clients.len())
                    .filter(|&c| clients[c].supports(suite))
                    .collect();
                for &encrypt_handshake in &plan.modes {
                    let n = s.actors.len();
                    let assignments = match plan.sample {
                        Some((seed, k)) => {
                            matrix::sample(n, able.len(), k, seed ^ jobs.len() as u64)
                        }
                        None => matrix::all(n, able.len()),
                    };
                    for a in assignments {
                        let assignment = a.iter().map(|&i| able[i]).collect();
                        let seed = plan.sample.map_or(0, |(s, _)| s) ^ (jobs.len() as u64);
                        jobs.push(Job {
                            config: ci,
                            script: si,
                            run: RunConfig {
                                suite,
                                encrypt_handshake,
                                assignment,
                                control: plan.control,
                                seed,
                            },
                        });
                    }
                }
            }
        }
    }
    jobs
}

/// Runs the jobs on every core; `progress(done, total)` after each.
pub fn execute(
    configs: &[Config],
    clients: &[&dyn MemberClient],
    jobs: &[Job],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<RunRecord> {
    // One run at a time when a client is a server that cannot take two (Client::concurrent_runs).
    let workers = if clients.iter().all(|c| c.concurrent_runs()) {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    crate::progress::run_pool(
        jobs,
        workers,
        |job| run_one(configs, clients, job),
        progress,
    )
}

fn run_one(configs: &[Config], clients: &[&dyn MemberClient], job: &Job) -> RunRecord {
    let config = &configs[job.config];
    let s = &config.scripts[job.script];
    // A server that died is named once, by the run it died in; what it has not started is
    // skipped with that reason.
    let gone = job.run.assignment.iter().find_map(|&c| {
        clients[c].gone().map(|reason| Stop::Skipped {
            client: clients[c].name(),
            reason,
        })
    });
    let outcome = match gone {
        Some(stop) => runner::RunOutcome::not_run(stop),
        None => runner::run(s, clients, &job.run),
    };
    RunRecord {
        file: config
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        script: s.name.clone(),
        suite: job.run.suite,
        encrypt_handshake: job.run.encrypt_handshake,
        actors: s
            .actors
            .iter()
            .zip(&job.run.assignment)
            .map(|(a, &c)| (a.clone(), clients[c].name()))
            .collect(),
        control: job.run.control,
        stop: outcome.stop,
        steps: s.steps.len(),
        messages: outcome.delivery.records.len(),
        bytes: outcome.delivery.bytes(),
        canaries: outcome.delivery.canaries(),
        secrets: outcome.delivery.secrets(),
        delivery_findings: outcome.delivery.findings,
        removed_leaks: outcome.removed_leaks,
        removed_attempts: outcome.removed_attempts,
        removed_evicted: outcome.removed_evicted,
        agreements: outcome.agreements,
        round_trips: outcome.round_trips,
        unexported: outcome.unexported.into_iter().collect(),
    }
}

impl RunRecord {
    /// "alice=openmls bob=mls-rs".
    pub fn assignment(&self) -> String {
        self.actors
            .iter()
            .map(|(a, c)| format!("{a}={c}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn mode(&self) -> &'static str {
        if self.encrypt_handshake {
            "private handshake"
        } else {
            "public handshake"
        }
    }

    /// "commit/add-remove", "+keep-removed" under a control.
    pub fn subject(&self) -> String {
        self.scope().label()
    }

    /// Where this run's checks apply.
    pub fn scope(&self) -> Scope {
        Scope::Interop {
            scenario: format!("{}/{}", self.file.trim_end_matches(".json"), self.script),
            suite: self.suite,
            handshake: if self.encrypt_handshake {
                Handshake::Private
            } else {
                Handshake::Public
            },
            assignment: self
                .actors
                .iter()
                .map(|(actor, client)| (actor.clone(), client.to_string()))
                .collect(),
            control: self.control.map(|c| c.name().to_string()),
        }
    }

    fn run_name(&self) -> String {
        format!(
            "suite {}, {}, {}",
            self.suite,
            self.mode(),
            self.assignment()
        )
    }

    /// The three checks of this run.
    pub fn checks(&self) -> Vec<Check> {
        let figures = |pairs: &[(&str, usize)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v as f64))
                .collect::<BTreeMap<_, _>>()
        };
        let (verdict, reason, evidence) = self.agreement();
        let stopped = match &self.stop {
            Some(Stop::Fail(f)) => format!(" (the run stopped at {f})"),
            Some(Stop::Unimplemented { step, .. }) => {
                format!(" (the run stopped at {})", at(*step))
            }
            Some(Stop::Skipped { .. }) | None => String::new(),
        };
        let scope = self.scope();
        let new = |question, name: String, verdict, reason, evidence: Option<Evidence>| {
            let c = Check::new(scope.clone(), question, name, verdict, reason);
            match evidence {
                Some(e) => c.with_evidence(e),
                None => c,
            }
        };
        // The run itself: every step as the script says, members agreeing at every check.
        let mut checks = vec![new(
            Question::Agreement,
            self.run_name(),
            verdict,
            reason,
            evidence,
        )
        .with_figures(figures(&[
            ("steps", self.steps),
            ("agreements", self.agreements),
            ("round_trips", self.round_trips),
        ]))];
        // The delivery service is asked two things: does any message hold a canary (only runs
        // that protected an application message have one), and does any hold a member's key.
        let (verdict, reason) = self
            .skipped()
            .unwrap_or_else(|| self.delivery_verdict(&stopped));
        checks.push(
            new(
                Question::ServerBlind,
                format!("{}: delivery service learns nothing", self.run_name()),
                verdict,
                reason,
                Evidence::lines_if_any(&self.delivery_findings),
            )
            .with_figures(figures(&[
                ("messages", self.messages),
                ("bytes", self.bytes),
                ("canaries", self.canaries),
                ("keys", self.secrets),
            ])),
        );
        let (verdict, reason) = self
            .skipped()
            .unwrap_or_else(|| self.removed_verdict(&stopped));
        checks.push(
            new(
                Question::RemovedBlind,
                format!("{}: removed members read nothing", self.run_name()),
                verdict,
                reason,
                Evidence::lines_if_any(&self.removed_leaks),
            )
            .with_figures(figures(&[
                ("attempts", self.removed_attempts),
                ("refused_as_evicted", self.removed_evicted),
            ])),
        );
        checks
    }

    /// Skipped, and why, when a client had stopped answering (every check of the run).
    fn skipped(&self) -> Option<(Verdict, String)> {
        match &self.stop {
            Some(Stop::Skipped { client, reason }) => {
                Some((Verdict::Skipped, not_run(client, reason)))
            }
            _ => None,
        }
    }

    /// The run's own verdict: every step as the script says, members agreeing at every check.
    fn agreement(&self) -> (Verdict, String, Option<Evidence>) {
        match &self.stop {
            Some(Stop::Skipped { client, reason }) => {
                (Verdict::Skipped, not_run(client, reason), None)
            }
            // Nothing compared: the question of agreement was never asked.
            None if self.steps == 0 || (self.agreements == 0 && self.round_trips == 0) => (
                Verdict::NotApplicable,
                format!(
                    "{} steps, but no epoch authenticator was compared and no message \
                     round-tripped",
                    self.steps
                ),
                None,
            ),
            None => (
                Verdict::Pass,
                format!(
                    "{} steps; {} epoch authenticators agreed; {} application messages round-tripped",
                    self.steps, self.agreements, self.round_trips
                ),
                None,
            ),
            Some(Stop::Fail(f)) => (
                Verdict::Fail,
                f.to_string(),
                Some(Evidence::lines(vec![f.to_string()])),
            ),
            Some(Stop::Unimplemented {
                step,
                client,
                feature,
            }) => (
                Verdict::Unimplemented,
                format!("unimplemented: {feature} ({client}), needed at {}", at(*step)),
                None,
            ),
        }
    }

    /// Whether the delivery service saw a canary or a member's key; `stopped` says where an
    /// unfinished run stopped.
    fn delivery_verdict(&self, stopped: &str) -> (Verdict, String) {
        if !self.delivery_findings.is_empty() {
            (Verdict::Fail, self.delivery_findings.join("; "))
        } else if self.messages == 0 {
            (
                Verdict::NotApplicable,
                format!("the delivery service carried nothing{stopped}"),
            )
        } else if self.canaries == 0 && self.secrets == 0 {
            (
                Verdict::NotApplicable,
                format!(
                    "{} messages carried, but no canary was sent and no member key was known to \
                     search for{}{stopped}",
                    self.messages,
                    if self.unexported.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", self.unexported.join("; "))
                    }
                ),
            )
        } else {
            let asked = match (self.canaries, self.secrets) {
                (0, k) => format!(
                    "none holds any of {k} member keys (no application message was protected, \
                     so no canary was searched for)"
                ),
                (c, 0) => format!(
                    "none holds any of {c} canaries (no member key could be exported to search \
                     for)"
                ),
                (c, k) => format!("none holds any of {c} canaries or {k} member keys"),
            };
            // A client that cannot export: the key search is not applicable to its members.
            let asked = if self.unexported.is_empty() {
                asked
            } else {
                format!(
                    "{asked}; key search not applicable to members of {}",
                    self.unexported.join("; ")
                )
            };
            (
                Verdict::Pass,
                format!(
                    "{} messages ({} bytes) carried; {asked}{stopped}",
                    self.messages, self.bytes
                ),
            )
        }
    }

    /// Whether removed members read any later message; `stopped` as for [`Self::delivery_verdict`].
    fn removed_verdict(&self, stopped: &str) -> (Verdict, String) {
        if !self.removed_leaks.is_empty() {
            (Verdict::Fail, self.removed_leaks.join("; "))
        } else if self.removed_attempts == 0 {
            (
                Verdict::NotApplicable,
                format!("no member was removed before later messages{stopped}"),
            )
        } else if self.removed_evicted == self.removed_attempts {
            (
                Verdict::NotApplicable,
                format!(
                    "the removed members' client refused all {} later messages because it knows \
                     it was removed (UseAfterEviction), before looking up any key: whether its \
                     keys would open them was not asked{stopped}",
                    self.removed_attempts
                ),
            )
        } else {
            (
                Verdict::Pass,
                format!(
                    "removed members failed on all {} messages sent after their removal{}{stopped}",
                    self.removed_attempts,
                    if self.removed_evicted > 0 {
                        format!(
                            " ({} of them refused as evicted before any key was looked up)",
                            self.removed_evicted
                        )
                    } else {
                        String::new()
                    }
                ),
            )
        }
    }
}

/// "step 3", or "the end of the run" (final round, Free).
fn at(step: Option<usize>) -> String {
    step.map_or_else(|| "the end of the run".to_string(), |s| format!("step {s}"))
}

/// Why a run was skipped: one of its clients had stopped answering.
fn not_run(client: &str, reason: &str) -> String {
    format!("not run: {client} stopped answering earlier ({reason})")
}

/// Every run's checks, and a skipped check per malformed config or script.
pub fn into_checks(records: &[RunRecord], errors: &[ScriptError]) -> Vec<Check> {
    let mut checks: Vec<Check> = records.iter().flat_map(RunRecord::checks).collect();
    checks.extend(errors.iter().map(|e| {
        let scope = Scope::Input {
            level: Level::Implementation,
            file: e.file().to_string(),
            case: e.script().map(str::to_string),
        };
        Check::new(
            scope,
            Question::Input,
            e.to_string(),
            Verdict::Skipped,
            format!("not run: {e}"),
        )
        .with_subject("interop input")
    }));
    checks
}

/// The summary: one line per script (runs, and each check's verdicts), then every failure.
pub fn render(records: &[RunRecord], errors: &[ScriptError]) -> String {
    #[derive(Default)]
    struct Row {
        runs: usize,
        pass: usize,
        fail: usize,
        unimplemented: BTreeMap<String, usize>,
        skipped: usize,
        ds_fail: usize,
        removed_fail: usize,
        removed_checked: usize,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    // Each client that stopped answering, named once: its first reason and the runs skipped.
    let mut gone: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for r in records {
        let row = rows.entry(r.subject()).or_default();
        row.runs += 1;
        match &r.stop {
            None => row.pass += 1,
            Some(Stop::Fail(_)) => row.fail += 1,
            Some(Stop::Skipped { client, reason }) => {
                row.skipped += 1;
                gone.entry(client).or_insert((reason, 0)).1 += 1;
            }
            Some(Stop::Unimplemented {
                client, feature, ..
            }) => {
                *row.unimplemented
                    .entry(format!("{feature} ({client})"))
                    .or_default() += 1
            }
        }
        row.ds_fail += usize::from(!r.delivery_findings.is_empty());
        row.removed_fail += usize::from(!r.removed_leaks.is_empty());
        row.removed_checked += usize::from(r.removed_attempts > 0);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<52} {:>5} {:>5} {:>5} {:>6} {:>7}  {:>9}  {:>13}",
        "scenario", "runs", "pass", "fail", "unimpl", "skipped", "DS leaks", "removed leaks"
    );
    for (name, row) in &rows {
        let unimpl: usize = row.unimplemented.values().sum();
        let _ = writeln!(
            s,
            "{name:<52} {:>5} {:>5} {:>5} {:>6} {:>7}  {:>9}  {:>13}",
            row.runs,
            row.pass,
            row.fail,
            unimpl,
            row.skipped,
            row.ds_fail,
            if row.removed_checked == 0 {
                "n/a".to_string()
            } else {
                format!("{}/{}", row.removed_fail, row.removed_checked)
            }
        );
        for (what, n) in &row.unimplemented {
            let _ = writeln!(s, "    unimplemented: {what} in {n} runs");
        }
    }
    let failures: Vec<&RunRecord> = records
        .iter()
        .filter(|r| {
            matches!(r.stop, Some(Stop::Fail(_)))
                || !r.delivery_findings.is_empty()
                || !r.removed_leaks.is_empty()
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\nfailures ({}; the first 20):", failures.len());
        for r in failures.iter().take(20) {
            let _ = writeln!(s, "  {} [{}]", r.subject(), r.run_name());
            if let Some(Stop::Fail(f)) = &r.stop {
                let _ = writeln!(s, "    {f}");
            }
            for l in r.delivery_findings.iter().chain(&r.removed_leaks).take(3) {
                let _ = writeln!(s, "    {l}");
            }
        }
    }
    for (client, (reason, runs)) in &gone {
        let _ = writeln!(
            s,
            "\n{client} stopped answering ({reason}); its {runs} remaining runs were skipped"
        );
    }
    for e in errors {
        let _ = writeln!(s, "input error: {e}");
    }
    s
}
