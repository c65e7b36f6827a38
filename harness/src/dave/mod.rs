//! Discord's DAVE (protocol version 1, daveprotocol.com): MLS (RFC 9420, cipher suite 2) keyed
//! by a voice gateway that is the group's external sender and decides who is "recognized", with
//! media under DAVE's per-sender frame transform. This level makes the harness that gateway,
//! honest and hostile, and asks the real clients: libdave through PyPI's `dave.py` and the
//! davey crate, each in a sidecar process ([`participant`]), and ours on mls-rs ([`ours`]).
//!
//! [`wire`]: the gateway opcodes as bytes and JSON. [`code`]: the displayable verification
//! codes. [`frame`]: the media ratchet and secure-frame format. [`gateway`]: the external
//! sender and delivery service. [`scenario`]: the script format. [`runner`]: one call.

pub mod code;
pub mod frame;
pub mod gateway;
pub mod ours;
pub mod participant;
pub mod runner;
pub mod scenario;
pub mod wire;

use std::collections::BTreeMap;

use crate::results::{Check, Evidence, Handshake, Question, Scope, Verdict};
use participant::Implementation;
use runner::{Control, RunOutcome};
use scenario::Scenario;

/// One scenario with one assignment of implementations to its seats.
#[derive(Clone, Debug)]
pub struct Job {
    pub scenario: usize,
    pub assignment: Vec<Implementation>,
    pub control: Option<Control>,
}

/// A job and what its run found.
#[derive(Debug)]
pub struct RunRecord {
    pub scenario: String,
    /// Seat → implementation.
    pub assignment: BTreeMap<String, String>,
    pub control: Option<Control>,
    pub outcome: RunOutcome,
}

/// Every assignment of `implementations` to each scenario's seats. A control runs only where
/// it can bite: escrow needs a member whose implementation hands over a key.
pub fn jobs(
    scenarios: &[Scenario],
    implementations: &[Implementation],
    control: Option<Control>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        for a in crate::interop::matrix::all(s.seats.len(), implementations.len()) {
            let assignment: Vec<Implementation> = a.iter().map(|&k| implementations[k]).collect();
            let escrower = s
                .joining_seats()
                .into_iter()
                .any(|seat| assignment[seat].exposes_media_keys());
            if control == Some(Control::Escrow) && !escrower {
                continue;
            }
            jobs.push(Job {
                scenario: i,
                assignment,
                control,
            });
        }
    }
    jobs
}

/// Runs the jobs, two at a time per core (each waits on its sidecars); `progress(done, total)`.
pub fn execute(
    scenarios: &[Scenario],
    jobs: &[Job],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<RunRecord> {
    let workers = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::progress::run_pool(
        jobs,
        workers,
        |job| {
            let s = &scenarios[job.scenario];
            RunRecord {
                scenario: s.name.clone(),
                assignment: s
                    .seats
                    .iter()
                    .zip(&job.assignment)
                    .map(|(seat, imp)| (seat.clone(), imp.name().to_string()))
                    .collect(),
                control: job.control,
                outcome: runner::run(s, &job.assignment, job.control),
            }
        },
        progress,
    )
}

impl RunRecord {
    pub fn scope(&self) -> Scope {
        Scope::Interop {
            scenario: format!("dave/{}", self.scenario),
            suite: 2,
            handshake: Handshake::Public,
            assignment: self.assignment.clone(),
            control: self.control.map(|c| c.name().to_string()),
        }
    }

    /// "A=libdave B=davey".
    pub fn assignment_line(&self) -> String {
        self.assignment
            .iter()
            .map(|(s, i)| format!("{s}={i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The five checks of a run: agreement, members read, gateway blind, removed blind,
    /// joiner blind; each with the run's log as evidence when it fails.
    pub fn checks(&self) -> Vec<Check> {
        let o = &self.outcome;
        let scope = self.scope();
        let subject = format!("dave/{} {}", self.scenario, self.assignment_line());
        let check = |question: Question,
                     name: &str,
                     failures: &[String],
                     pass: String,
                     na: Option<&str>| {
            let c = if let Some(stop) = &o.stop {
                Check::new(
                    scope.clone(),
                    question,
                    name,
                    Verdict::Skipped,
                    format!("the run stopped: {stop}"),
                )
            } else if let Some(na) = na.filter(|_| failures.is_empty()) {
                Check::new(scope.clone(), question, name, Verdict::Pass, "").not_applicable(na)
            } else {
                let mut c = Check::from_failures(scope.clone(), question, name, failures, pass);
                if c.verdict == Verdict::Fail {
                    let mut lines = failures.to_vec();
                    lines.push("the call, as the gateway ran it:".into());
                    lines.extend(o.log.iter().cloned());
                    c = c.with_evidence(Evidence::lines(lines));
                }
                c
            };
            c.with_subject(subject.clone())
        };
        let agreement_failures: Vec<String> = o
            .handshake_failures
            .iter()
            .chain(&o.disagreements)
            .cloned()
            .collect();
        let figures = BTreeMap::from([
            ("transcript_bytes".to_string(), o.transcript_bytes as f64),
            ("windows_tried".to_string(), o.windows_tried as f64),
            ("frames_targeted".to_string(), o.frames_targeted as f64),
        ]);
        let mut checks = vec![
            check(
                Question::Agreement,
                "dave-agreement",
                &agreement_failures,
                format!("every transition went through; members agreed on epoch authenticator, code and roster {} times", o.agreements),
                (o.agreements == 0).then_some("no transition left two members to compare"),
            ),
            check(
                Question::MembersRead,
                "dave-members-read",
                &o.unread,
                format!("members opened all {} frames they were owed", o.owed),
                (o.owed == 0).then_some("no member was owed a frame"),
            ),
            check(
                Question::ServerBlind,
                "dave-gateway-blind",
                &o.gateway_findings,
                format!(
                    "the gateway's {} bytes: {} windows tried as AES keys and as base secrets against {} frames, every canary searched: nothing",
                    o.transcript_bytes, o.windows_tried, o.frames_targeted
                ),
                (o.frames_targeted == 0).then_some("no frame was sent"),
            )
            .with_figures(figures),
            check(
                Question::RemovedBlind,
                "dave-removed-blind",
                &o.removed_leaks,
                format!("removed members opened none of {} newer frames", o.removed_attempts),
                (o.removed_attempts == 0).then_some("no removed member was sent a frame"),
            ),
            check(
                Question::JoinerBlind,
                "dave-joiner-blind",
                &o.joiner_leaks,
                format!("joiners opened none of {} older frames", o.joiner_attempts),
                (o.joiner_attempts == 0).then_some("no frame preceded a joiner"),
            ),
        ];
        for p in &o.probes {
            let mut c = check(
                p.question.clone(),
                p.name,
                &p.failures,
                p.pass.clone(),
                None,
            );
            if c.verdict == Verdict::Pass {
                // What each implementation did is the finding, even when it is right.
                c = c.with_evidence(Evidence::lines(p.observations.clone()));
            }
            checks.push(c);
        }
        checks
    }
}

/// Every run's checks.
pub fn into_checks(records: &[RunRecord]) -> Vec<Check> {
    records.iter().flat_map(RunRecord::checks).collect()
}

/// A line per scenario (runs, checks failed), then each failing or skipped run with its reasons.
pub fn render(records: &[RunRecord]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut by_scenario: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in records {
        let e = by_scenario.entry(&r.scenario).or_default();
        e.0 += 1;
        let checks = r.checks();
        if checks.iter().any(|c| c.verdict == Verdict::Fail) {
            e.1 += 1;
        }
        if checks.iter().any(|c| c.verdict == Verdict::Skipped) {
            e.2 += 1;
        }
    }
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>7} {:>8}",
        "scenario", "runs", "failing", "skipped"
    );
    for (s, (runs, failing, skipped)) in &by_scenario {
        let _ = writeln!(out, "dave/{:<19} {runs:>5} {failing:>7} {skipped:>8}", s);
    }
    for r in records {
        for c in r.checks() {
            if matches!(c.verdict, Verdict::Fail | Verdict::Skipped) {
                let _ = writeln!(
                    out,
                    "{} dave/{} {}: {}: {}",
                    c.verdict,
                    r.scenario,
                    r.assignment_line(),
                    c.name,
                    c.reason
                );
            }
        }
    }
    out
}
