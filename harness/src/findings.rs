//! Findings: failures grouped by root cause. Six hundred failing checks can be four defects;
//! an auditor reads the four, each once, with its evidence, where the fault lies and the
//! upstream reference, and the checks behind it a click away.
//!
//! A failure belongs to a *known cause* ([`KNOWN_CAUSES`]: each a defect this project found and
//! verified, matched on the check's typed scope and question and, where the scope alone cannot
//! tell, on the client's own error) or, failing that, to a finding grouped by where it failed:
//! the client and vector file, the interop scenario and its clients, the model and its bounds,
//! the call. Expectations (`expect.rs`) are separate: they say which findings are known to a
//! run; a finding exists whether or not it is expected, so deleting an expectation still names
//! the finding when it fails the run.

use crate::expect::Match;
use crate::results::{Check, ExpectedBy, Level, Question, Scope, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A defect found and verified, with what identifies its failures.
#[derive(Debug)]
pub struct KnownCause {
    pub id: &'static str,
    pub title: &'static str,
    pub what: &'static str,
    /// Where the fault lies: a client and version, a protocol, a vector file.
    pub fault: &'static str,
    pub reference: &'static str,
    matcher: fn() -> Match,
}

impl KnownCause {
    pub fn covers(&self, c: &Check) -> bool {
        let m = (self.matcher)();
        m.covers(c)
            && m.reason
                .as_deref()
                .is_none_or(|p| crate::expect::glob(p, &c.reason))
    }
}

/// The root causes of today's failures (README: "Findings").
pub static KNOWN_CAUSES: &[KnownCause] = &[
    KnownCause {
        id: "orange-fork-at-5",
        title: "Orange Meets' published algorithm forks a joiner at MaxTotalUsers 5",
        what: "At the bound Cloudflare checked (MaxTotalUsers = 5), with an honest server, a \
               DC Welcomes a joiner into epoch 3 and leaves before sending the Add; the next \
               DC Welcomes it again into its own epoch 3 with another secret, which the joiner \
               ignores. The joiner holds the departed DC's secret while the group holds the \
               new one (epoch_agreement fails) and refuses every later commit (convergence \
               fails). In Cloudflare's spec both are \"epoch 3\", so EndWithEqualEpochs \
               cannot see it.",
        fault: "protocol: Cloudflare Orange Meets, designated-committer algorithm \
                (orange_draft1.tla), modelled as orange-dc-keys",
        reference: "github.com/cloudflareresearch/orange-e2ee-model-check @404f994 \
                    orange_draft1.tla; README §\"The same algorithm with keys and a hostile \
                    server\"",
        matcher: || Match {
            kind: Some("design".into()),
            protocol: Some("orange-dc*".into()),
            participants: Some(5),
            mutant: Some("none".into()),
            question: Some("agreement".into()),
            ..Match::default()
        },
    },
    KnownCause {
        id: "openmls-psk-order",
        title: "openmls 0.9.2 orders PSKs differently in a commit and in its key schedule",
        what: "A commit holding PSK proposals both by reference and by value derives \
               psk_secret over them in another order than it lists them, so every receiver \
               (openmls: ConfirmationTagMismatch, mls-rs: InvalidConfirmationTag) rejects it; \
               the same commit from mls-rs is accepted by both.",
        fault: "client: openmls 0.9.2 as committer (commit_builder.rs:490-505 vs 719-728)",
        reference: "github.com/openmls/openmls tag v0.9.2, openmls/src/group/mls_group/\
                    commit_builder.rs",
        matcher: || Match {
            kind: Some("interop".into()),
            client: Some("openmls".into()),
            mutant: Some("none".into()),
            question: Some("agreement".into()),
            reason: Some("*(openmls) made:*onfirmationTag*".into()),
            ..Match::default()
        },
    },
    KnownCause {
        id: "openmls-reinit-ratchet-tree",
        title: "openmls refuses the vectors' ReInit proposals, which carry a ratchet_tree \
                extension",
        what: "The IETF messages vectors' ReInit proposals list a ratchet_tree extension. RFC \
               9420's extension registry (§17.3) allows ratchet_tree in GroupInfo only, not in \
               a group context, and openmls checks that: the bytes decode, the content is \
               invalid. The fault is in the vectors, not in openmls (openmls added the check \
               in PR #1927 and stopped generating such vectors).",
        fault: "vector: mlswg/mls-implementations test-vectors/messages.json (ReInit \
                proposals); refused by openmls 0.9.2",
        reference: "RFC 9420 §17.3 (the ratchet_tree extension's Message(s): GI); \
                    github.com/openmls/openmls PR #1927",
        matcher: || Match {
            kind: Some("vector".into()),
            client: Some("openmls".into()),
            file: Some("messages.json".into()),
            question: Some("conformance".into()),
            case: Some("*.re_init_proposal".into()),
            reason: Some("*RatchetTree*".into()),
            ..Match::default()
        },
    },
    KnownCause {
        id: "mls-rs-leaf-index-limit",
        title: "mls-rs refuses leaf indexes above 2^24−1",
        what: "The IETF messages vectors' Remove proposals name leaf indexes up to 2^32−1 \
               (RFC 9420 encodes a leaf index as uint32); mls-rs refuses any above 2^24−1, \
               its design limit on a tree's size, so it cannot decode them.",
        fault: "client: mls-rs 0.57 (its maximum tree size)",
        reference: "RFC 9420 §12.1.3 (Remove: uint32 removed); github.com/awslabs/mls-rs",
        matcher: || Match {
            kind: Some("vector".into()),
            client: Some("mls-rs".into()),
            file: Some("messages.json".into()),
            question: Some("conformance".into()),
            case: Some("*.remove_proposal".into()),
            reason: Some("*2^24-1*".into()),
            ..Match::default()
        },
    },
];

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
        if let Some(k) = KNOWN_CAUSES.iter().position(|k| k.covers(c)) {
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
        let cause = &KNOWN_CAUSES[k];
        out.push(finding(
            checks,
            idx,
            cause.id.into(),
            cause.title.into(),
            cause.what.into(),
            cause.fault.into(),
            cause.reference.into(),
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
