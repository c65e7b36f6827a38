//! Findings: failures grouped by root cause. Six hundred failing checks can be four defects;
//! an auditor reads the four, each once, with its evidence, where the fault lies and the
//! upstream reference, and the checks behind it a click away.
//!
//! A failure belongs to a *known cause* ([`known_causes`]: the shipped known findings, each a
//! defect this project found and verified, matched on the check's typed scope and question and,
//! where the scope alone cannot tell, on the client's own error) or, failing that, to a finding
//! grouped by where it failed: the client and vector file, the interop scenario and its clients,
//! the model and its bounds, the call. The expectations a run is judged against (`--expect`) are
//! separate: a finding exists whether or not it is expected, so an expectations file without an
//! entry still names that finding when it fails the run.

use crate::expect::{Expectation, Expectations};
use crate::results::{Check, ExpectedBy, Level, Question, Scope, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The known causes: the shipped known findings (`expectations/known-findings.toml`, built in),
/// read once. Each is a defect this project found and verified, with what identifies its
/// failures and how to describe it.
pub fn known_causes() -> &'static [Expectation] {
    static KNOWN: OnceLock<Expectations> = OnceLock::new();
    &KNOWN.get_or_init(Expectations::known_findings).entries
}

/// Failures with one root cause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub title: String,
    /// What is wrong, in words.
    pub what: String,
    /// Where the fault lies.
    pub fault: String,
    pub reference: String,
    /// A catalogued cause, or failures grouped only by where they happened.
    pub known: bool,
    /// expected (every failure matched an expectation), unexpected (none did) or mixed.
    pub status: FindingStatus,
    /// The expectation that covers it, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_by: Option<ExpectedBy>,
    /// The questions its checks ask and the levels they are at.
    pub questions: Vec<Question>,
    pub levels: Vec<Level>,
    /// The first failures, one line each: where, which check, why.
    pub evidence: Vec<String>,
    /// Indices of its checks (into the report's checks).
    pub checks: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    Expected,
    Unexpected,
    Mixed,
}

/// Lines of evidence kept per finding.
const EVIDENCE_LINES: usize = 5;

/// One line for a failed check: its scope, its name, its reason.
pub fn evidence_line(c: &Check) -> String {
    let scope = match &c.scope {
        Scope::Vector {
            client, file, case, ..
        } => format!("{client} on {file}[{case}]"),
        // An interop check's name already says its suite, handshake and assignment.
        Scope::Interop { scenario, .. } => scenario.clone(),
        _ => c.subject.clone(),
    };
    format!("{scope} — {}: {}", c.name, c.reason)
}

/// Where an unclassified failure happened: the key its finding is grouped by, and the words.
fn location(c: &Check) -> (String, String) {
    match &c.scope {
        Scope::Design {
            protocol, mutant, ..
        } => {
            let what = match mutant {
                Some(m) => format!("protocol {protocol} under mutant {m} ({})", c.subject),
                None => format!("protocol {protocol} ({})", c.subject),
            };
            (format!("design/{}", c.subject), what)
        }
        Scope::Vector { client, file, .. } => (
            format!("vector/{client}/{file}/{}", c.question.key()),
            format!("client {client} on vector file {file}"),
        ),
        Scope::Interop {
            scenario,
            assignment,
            ..
        } => {
            let pair = Scope::client_pair(assignment);
            (
                format!("interop/{scenario}/{pair}/{}", c.question.key()),
                format!("clients {pair} in scenario {scenario}"),
            )
        }
        Scope::Live { call, .. } => (
            format!("live/{call}/{}", c.name),
            format!("live call {call}"),
        ),
        Scope::Input { file, .. } => (format!("input/{file}"), format!("input {file}")),
        Scope::Unscoped { subject, .. } => (
            format!("v1/{subject}/{}", c.name),
            format!("{subject} (a version-1 record)"),
        ),
    }
}

/// Groups every failed check (expected or not) into findings: known causes first, in
/// catalogue order, then the rest by where they failed, in the order they came.
pub fn group(checks: &[&Check]) -> Vec<Finding> {
    let mut known: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut other: Vec<(String, String, Vec<usize>)> = Vec::new();
    for (i, c) in checks.iter().enumerate() {
        if !c.failed() {
            continue;
        }
        if let Some(k) = known_causes().iter().position(|k| k.covers_failure(c)) {
            known.entry(k).or_default().push(i);
            continue;
        }
        let (key, words) = location(c);
        match other.iter_mut().find(|(k, ..)| *k == key) {
            Some((.., v)) => v.push(i),
            None => other.push((key, words, vec![i])),
        }
    }
    let mut out = Vec::new();
    for (k, idx) in known {
        let cause = &known_causes()[k];
        let text = |t: &Option<String>| t.clone().unwrap_or_default();
        out.push(finding(
            checks,
            idx,
            cause.id.clone(),
            cause.title.clone().unwrap_or_else(|| cause.id.clone()),
            text(&cause.what),
            text(&cause.fault),
            text(&cause.reference),
            true,
        ));
    }
    for (n, (_, words, idx)) in other.into_iter().enumerate() {
        let first = checks[idx[0]];
        // A model's or a call's check is named for what it asks; a vector's or an interop
        // run's name is its case or assignment, so the question names those.
        let title = match first.scope {
            Scope::Design { .. } | Scope::Live { .. } => format!("{} fails: {words}", first.name),
            _ => format!("{} fails: {words}", first.question.key()),
        };
        let what = format!(
            "{} check{} failed here; no known cause covers them (read the evidence)",
            idx.len(),
            if idx.len() == 1 { "" } else { "s" }
        );
        out.push(finding(
            checks,
            idx,
            format!("unclassified-{}", n + 1),
            title,
            what,
            words,
            String::new(),
            false,
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn finding(
    checks: &[&Check],
    idx: Vec<usize>,
    id: String,
    title: String,
    what: String,
    fault: String,
    reference: String,
    known: bool,
) -> Finding {
    let expected = idx
        .iter()
        .filter(|&&i| checks[i].verdict == Verdict::ExpectedFail)
        .count();
    let status = if expected == idx.len() {
        FindingStatus::Expected
    } else if expected == 0 {
        FindingStatus::Unexpected
    } else {
        FindingStatus::Mixed
    };
    let mut questions: Vec<Question> = idx.iter().map(|&i| checks[i].question.clone()).collect();
    questions.sort();
    questions.dedup();
    let mut levels: Vec<Level> = idx.iter().map(|&i| checks[i].level).collect();
    levels.sort();
    levels.dedup();
    Finding {
        id,
        title,
        what,
        fault,
        reference,
        known,
        status,
        expected_by: idx.iter().find_map(|&i| checks[i].expected.clone()),
        questions,
        levels,
        evidence: idx
            .iter()
            .take(EVIDENCE_LINES)
            .map(|&i| evidence_line(checks[i]))
            .collect(),
        checks: idx,
    }
}
