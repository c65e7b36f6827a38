//! `e2ee report`: merges the results records of every level into what an auditor, a reviewer and
//! a CI job each read — `index.html` (one self-contained file), `summary.md`, `results.json`
//! (validated against `reports/schema/report-v2.schema.json`) and `junit.xml`.
//!
//! The security questions come first — could the server decrypt, could a removed member read
//! on, could a joiner read history — each answered from the checks that asked it, across the
//! three levels (seeded bugs aside). Then the findings: failures grouped by root cause, each
//! once, expected or not. Then one matrix per level, in the manner of Autobahn's reports, each
//! placed by the check's typed scope: protocol × property (design), client × vector file and
//! client pair × scenario (implementation), participant × call check (deployment). What was not
//! checked is listed with its reasons, never folded into a pass.

mod html;
mod junit;
mod markdown;
pub mod svg;

use crate::findings::{Finding, FindingStatus};
use crate::results::{
    Check, ExpectationOutcome, ExpectationStatus, Level, Machine, Question, Run, Scope, ToolInfo,
    Verdict, SECURITY_QUESTIONS,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The shape version of [`Report`] (`results.json`).
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// Writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A results file that could not be used, and why (its error names the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub file: String,
    pub error: String,
}

/// One results file that went into the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    /// The results schema version it was written in (1 is converted: no scopes, no questions).
    pub schema_version: u32,
    pub command: String,
    pub started: String,
    pub duration_secs: f64,
    pub tool: ToolInfo,
    pub machine: Machine,
    pub checks: usize,
}

/// A check with the index of the source it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourcedCheck {
    pub source: usize,
    #[serde(flatten)]
    pub check: Check,
}

pub use crate::results::Component;

/// The merged report (`results.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_schema_version: u32,
    /// When the report was written, RFC 3339 UTC.
    pub generated: String,
    pub tool: ToolInfo,
    /// Where the report was written (each source names its own machine).
    pub machine: Machine,
    pub components: Vec<Component>,
    /// Where third-party vectors came from.
    pub vector_sources: Vec<String>,
    pub sources: Vec<Source>,
    pub rejected: Vec<Rejected>,
    /// The security questions, answered.
    pub answers: Vec<Answer>,
    /// Every failure, grouped by root cause.
    pub findings: Vec<Finding>,
    /// The expectations each input was judged against, and what became of them.
    pub expectations: Vec<SourcedExpectation>,
    pub checks: Vec<SourcedCheck>,
}

/// An input's expectation and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcedExpectation {
    pub source: usize,
    #[serde(flatten)]
    pub outcome: ExpectationOutcome,
}

/// One security question, answered from the checks that asked it (controls aside).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub question: Question,
    /// "no" (asked, never shown), "yes" (some check shows it), "not asked".
    pub answer: String,
    /// The answer in a sentence.
    pub text: String,
    /// Checks that asked it and passed, per level.
    pub passed: BTreeMap<Level, usize>,
    /// Checks that asked it and failed (expected or not), per level.
    pub failed: BTreeMap<Level, usize>,
    /// Checks whose question could not be asked (not-applicable), or were not run.
    pub not_asked: usize,
    /// The findings that answer yes.
    pub findings: Vec<String>,
}

/// A cell of a matrix: the verdicts of the checks behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub counts: BTreeMap<Verdict, usize>,
    /// Indices into [`Report::checks`].
    pub checks: Vec<usize>,
}

impl Cell {
    /// What the cell shows: a fail if any check failed, else an expected fail if any failed
    /// as expected, else a pass if any passed, else the most common other verdict.
    pub fn verdict(&self) -> Option<Verdict> {
        for v in [Verdict::Fail, Verdict::ExpectedFail] {
            if self.counts.contains_key(&v) {
                return Some(v);
            }
        }
        if self.counts.contains_key(&Verdict::Pass) {
            return Some(Verdict::Pass);
        }
        self.counts
            .iter()
            .max_by_key(|(v, n)| (**n, std::cmp::Reverse(**v)))
            .map(|(v, _)| *v)
    }

    /// "12 pass, 1 fail".
    pub fn tally(&self) -> String {
        self.counts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Rows × columns of cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub title: String,
    pub row_label: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: BTreeMap<(String, String), Cell>,
}

impl Matrix {
    fn new(title: &str, row_label: &str) -> Matrix {
        Matrix {
            title: title.into(),
            row_label: row_label.into(),
            rows: Vec::new(),
            columns: Vec::new(),
            cells: BTreeMap::new(),
        }
    }

    fn add(&mut self, row: String, column: String, verdict: Verdict, index: usize) {
        if !self.rows.contains(&row) {
            self.rows.push(row.clone());
        }
        if !self.columns.contains(&column) {
            self.columns.push(column.clone());
        }
        let cell = self.cells.entry((row, column)).or_default();
        *cell.counts.entry(verdict).or_default() += 1;
        cell.checks.push(index);
    }

    pub fn cell(&self, row: &str, column: &str) -> Option<&Cell> {
        self.cells.get(&(row.to_string(), column.to_string()))
    }
}

impl Report {
    /// Reads every results file; those that cannot be read are rejected, named, and the rest
    /// still make the report.
    pub fn from_files(files: &[PathBuf]) -> Report {
        Report::from_files_expecting(files, None)
    }

    /// [`Report::from_files`], each record judged against `expectations` as it is read (on top
    /// of any its command was judged against).
    pub fn from_files_expecting(
        files: &[PathBuf],
        expectations: Option<&crate::expect::Expectations>,
    ) -> Report {
        let mut runs = Vec::new();
        let mut rejected = Vec::new();
        for f in files {
            match Run::read_json(f) {
                Ok(mut run) => {
                    if let Some(e) = expectations {
                        e.apply(&mut run);
                    }
                    runs.push((f.display().to_string(), run))
                }
                Err(e) => rejected.push(Rejected {
                    file: f.display().to_string(),
                    error: error_chain(&e),
                }),
            }
        }
        Report::from_runs(runs, rejected)
    }

    pub fn from_runs(runs: Vec<(String, Run)>, rejected: Vec<Rejected>) -> Report {
        let mut sources = Vec::new();
        let mut checks = Vec::new();
        let mut expectations = Vec::new();
        let mut vector_sources = BTreeSet::new();
        let mut remote = BTreeSet::new();
        for (i, (file, run)) in runs.into_iter().enumerate() {
            remote.extend(run.clients.iter().cloned());
            if let Some(dir) = vectors_dir(&run.command) {
                vector_sources.insert(dir);
            }
            expectations.extend(
                run.expectations
                    .iter()
                    .cloned()
                    .map(|outcome| SourcedExpectation { source: i, outcome }),
            );
            sources.push(Source {
                file,
                schema_version: run
                    .read_from_version
                    .unwrap_or(crate::results::RESULTS_SCHEMA_VERSION),
                command: run.command.clone(),
                started: run.started.clone(),
                duration_secs: run.duration_secs,
                tool: run.tool.clone(),
                machine: run.machine.clone(),
                checks: run.checks.len(),
            });
            checks.extend(
                run.checks
                    .into_iter()
                    .map(|check| SourcedCheck { source: i, check }),
            );
        }
        let mut vector_sources: Vec<String> = vector_sources.into_iter().collect();
        if checks
            .iter()
            .any(|c| c.check.level == Level::Implementation)
        {
            vector_sources.push(
                "RFC 9420 vectors and interop scripts: github.com/mlswg/mls-implementations \
                 (test-vectors/, interop/configs/); SFrame: RFC 9605 Appendix C"
                    .into(),
            );
        }
        let plain: Vec<&Check> = checks.iter().map(|c: &SourcedCheck| &c.check).collect();
        let findings = crate::findings::group(&plain);
        let answers = answers(&plain, &findings);
        Report {
            report_schema_version: REPORT_SCHEMA_VERSION,
            generated: crate::results::rfc3339_utc(std::time::SystemTime::now()),
            tool: ToolInfo::this(),
            machine: Machine::this(),
            components: components().into_iter().chain(remote).collect(),
            vector_sources,
            sources,
            rejected,
            answers,
            findings,
            expectations,
            checks,
        }
    }

    /// The unexpected failures.
    pub fn failed(&self) -> Vec<&SourcedCheck> {
        self.checks
            .iter()
            .filter(|c| c.check.verdict == Verdict::Fail)
            .collect()
    }

    /// Failures a known finding's expectation covers.
    pub fn expected_failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.check.verdict == Verdict::ExpectedFail)
            .count()
    }

    /// Expectations whose checks ran and no longer fail.
    pub fn stale(&self) -> Vec<&SourcedExpectation> {
        self.expectations
            .iter()
            .filter(|e| e.outcome.status == ExpectationStatus::Stale)
            .collect()
    }

    /// 0: every check met its expectation (known findings included) and every input was
    /// read; 1: an unexpected failure, a stale expectation or a rejected input; 2: no input
    /// could be read at all.
    pub fn exit_code(&self) -> u8 {
        if self.sources.is_empty() && !self.rejected.is_empty() {
            2
        } else if !self.failed().is_empty() || !self.stale().is_empty() || !self.rejected.is_empty()
        {
            1
        } else {
            0
        }
    }

    /// Whether a CI gate passes: see [`Report::exit_code`].
    pub fn ok(&self) -> bool {
        self.exit_code() == 0 && !self.checks.is_empty()
    }

    /// The verdict for a CI job, in one sentence: unexpected failures, stale expectations and
    /// known findings, counted.
    pub fn headline(&self) -> String {
        if self.checks.is_empty() {
            return "Nothing was checked: no results record could be read.".into();
        }
        let failed = self.failed();
        let unexpected: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.status != FindingStatus::Expected)
            .collect();
        let expected = self.findings.len() - unexpected.len();
        let known = match (expected, self.expected_failures()) {
            (0, _) => String::new(),
            (f, n) => format!(
                ", {f} known finding{} ({n} expected failure{})",
                plural(f),
                plural(n)
            ),
        };
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!(
                "{} of {} checks failed unexpectedly ({} finding{}: {})",
                failed.len(),
                self.checks.len(),
                unexpected.len(),
                plural(unexpected.len()),
                unexpected
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let stale = self.stale();
        if !stale.is_empty() {
            parts.push(format!(
                "{} stale expectation{} (no longer fail{}: {})",
                stale.len(),
                plural(stale.len()),
                if stale.len() == 1 { "s" } else { "" },
                stale
                    .iter()
                    .map(|e| e.outcome.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.rejected.is_empty() {
            parts.push(format!(
                "{} results file{} could not be read",
                self.rejected.len(),
                plural(self.rejected.len())
            ));
        }
        if parts.is_empty() {
            format!(
                "Every check met its expectation: {} checks{known}.",
                self.checks.len()
            )
        } else if known.is_empty() {
            format!("{}.", parts.join("; "))
        } else {
            format!("{}; besides,{}.", parts.join("; "), &known[1..])
        }
    }

    pub fn plain_checks(&self) -> Vec<Check> {
        self.checks.iter().map(|c| c.check.clone()).collect()
    }

    /// The matrices, in level order; empty ones left out. Each check lands where its scope
    /// says; inputs and version-1 checks, which have no place in them, are in no matrix.
    pub fn matrices(&self) -> Vec<Matrix> {
        let mut design = Matrix::new("Design: protocol × property", "protocol");
        let mut vectors = Matrix::new("Implementation: client × vector file", "client");
        let mut interop = Matrix::new("Implementation: client pair × scenario", "clients");
        let mut live: BTreeMap<String, Matrix> = BTreeMap::new();
        for (i, c) in self.checks.iter().enumerate() {
            let c = &c.check;
            let v = c.verdict;
            match &c.scope {
                Scope::Design { .. } => design.add(c.subject.clone(), c.name.clone(), v, i),
                Scope::Vector { client, file, .. } => {
                    vectors.add(client.clone(), file.clone(), v, i)
                }
                Scope::Interop { assignment, .. } => {
                    interop.add(Scope::client_pair(assignment), c.scope.label(), v, i)
                }
                Scope::Live {
                    call, participant, ..
                } => {
                    let m = live.entry(call.clone()).or_insert_with(|| {
                        Matrix::new(
                            &format!("Deployment: participant × call check — {call}"),
                            "participant",
                        )
                    });
                    if let Some(p) = participant {
                        m.add(p.clone(), c.name.clone(), v, i);
                    } else if !c.parties.is_empty() {
                        // A participant's cell fails only where the check found its fault.
                        for p in &c.parties {
                            m.add(p.party.clone(), c.name.clone(), p.verdict, i);
                        }
                    } else {
                        let row = if c.question == Question::ServerBlind {
                            "(the SFU)"
                        } else {
                            "(the call)"
                        };
                        m.add(row.into(), c.name.clone(), v, i);
                    }
                }
                Scope::Input { .. } | Scope::Unscoped { .. } => {}
            }
        }
        let mut out = vec![design, vectors, interop];
        out.extend(live.into_values());
        out.retain(|m| !m.cells.is_empty());
        out
    }

    /// Inputs of schema version 1, and what the report cannot show of them.
    pub fn v1_notes(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter(|s| s.schema_version == crate::results::RESULTS_SCHEMA_V1)
            .map(|s| {
                format!(
                    "{} is a version-1 results record: its {} checks count in the totals and \
                     the findings, but v1 recorded no scope or question, so they are in no \
                     matrix and no security answer (re-run the command for a v2 record)",
                    s.file, s.checks
                )
            })
            .collect()
    }

    /// Checks not judged pass or fail, grouped by verdict and reason.
    pub fn not_checked(&self) -> BTreeMap<(Verdict, String), Vec<usize>> {
        let mut out: BTreeMap<(Verdict, String), Vec<usize>> = BTreeMap::new();
        for (i, c) in self.checks.iter().enumerate() {
            if !matches!(
                c.check.verdict,
                Verdict::Pass | Verdict::Fail | Verdict::ExpectedFail
            ) {
                out.entry((c.check.verdict, c.check.reason.clone()))
                    .or_default()
                    .push(i);
            }
        }
        out
    }

    /// Where everything came from, one line each: the tool, every client, the vectors, every
    /// input (its command, time and machine).
    pub fn provenance(&self) -> Vec<String> {
        let m = &self.machine;
        let mut out = vec![format!(
            "tool: {} {}; report written {} on {} ({} {}, {} CPUs)",
            self.tool.name, self.tool.version, self.generated, m.hostname, m.os, m.arch, m.cpus
        )];
        out.extend(
            self.components
                .iter()
                .map(|c| format!("{} {} — {}", c.name, c.version, c.role)),
        );
        out.extend(self.vector_sources.iter().map(|v| format!("vectors: {v}")));
        out.extend(self.sources.iter().map(|s| {
            format!(
                "input {}: `{}` at {} on {} ({:.1} s, {} checks)",
                s.file, s.command, s.started, s.machine.hostname, s.duration_secs, s.checks
            )
        }));
        out
    }

    pub fn index_html(&self) -> String {
        html::render(self)
    }

    pub fn summary_md(&self) -> String {
        markdown::render(self)
    }

    pub fn junit_xml(&self) -> String {
        junit::render(self)
    }

    /// Writes the four files into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let mut json =
            serde_json::to_string_pretty(self).map_err(|e| err(dir)(std::io::Error::other(e)))?;
        json.push('\n');
        let files = [
            ("index.html", self.index_html()),
            ("summary.md", self.summary_md()),
            ("results.json", json),
            ("junit.xml", self.junit_xml()),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(err(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// An error with its causes, "a: b: c".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

/// The `--vectors DIR` of a command line, if it has one.
fn vectors_dir(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--vectors" {
            return words.next().map(|d| d.trim_matches('\'').to_string());
        }
        if let Some(d) = w.strip_prefix("--vectors=") {
            return Some(d.trim_matches('\'').to_string());
        }
    }
    None
}

/// Every client this build tests, with its version.
fn components() -> Vec<Component> {
    let mut out: Vec<Component> = crate::clients::mls_clients()
        .iter()
        .map(|c| Component {
            name: c.name().into(),
            version: c.version().into(),
            role: "MLS client (RFC 9420)".into(),
        })
        .collect();
    let sframe = crate::clients::sframe::Sframe::new();
    out.push(Component {
        name: crate::clients::SframeClient::name(&sframe).into(),
        version: crate::clients::SframeClient::version(&sframe).into(),
        role: "SFrame (RFC 9605)".into(),
    });
    out.push(Component {
        name: "webrtc-rs".into(),
        version: "0.21.1".into(),
        role: "WebRTC (the live calls' peer connections and SFU)".into(),
    });
    out.push(Component {
        name: "stateright".into(),
        version: "0.31".into(),
        role: "model checker (design level)".into(),
    });
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The three security questions, each answered from the checks that asked it. Seeded bugs
/// (mutants, controls) are left out: they show the tool can fail, not how the system fares.
fn answers(checks: &[&Check], findings: &[Finding]) -> Vec<Answer> {
    SECURITY_QUESTIONS
        .iter()
        .map(|q| {
            let mut passed: BTreeMap<Level, usize> = BTreeMap::new();
            let mut failed: BTreeMap<Level, usize> = BTreeMap::new();
            let mut not_asked = 0;
            let mut failing = BTreeSet::new();
            for (i, c) in checks.iter().enumerate() {
                if c.question != *q || c.scope.control().is_some() {
                    continue;
                }
                match c.verdict {
                    Verdict::Pass => *passed.entry(c.level).or_default() += 1,
                    Verdict::Fail | Verdict::ExpectedFail => {
                        *failed.entry(c.level).or_default() += 1;
                        failing.insert(i);
                    }
                    _ => not_asked += 1,
                }
            }
            let findings: Vec<String> = findings
                .iter()
                .filter(|f| f.checks.iter().any(|i| failing.contains(i)))
                .map(|f| f.id.clone())
                .collect();
            let by_level = |m: &BTreeMap<Level, usize>| {
                m.iter()
                    .map(|(l, n)| format!("{} {n}", markdown::level(*l)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let total = |m: &BTreeMap<Level, usize>| m.values().sum::<usize>();
            let unasked = if not_asked > 0 {
                format!("; {not_asked} more could not ask it (not-applicable or not run)")
            } else {
                String::new()
            };
            let (answer, text) = if !failed.is_empty() {
                (
                    "yes",
                    format!(
                        "yes — in {} check{} ({}): finding{} {}",
                        total(&failed),
                        plural(total(&failed)),
                        by_level(&failed),
                        plural(findings.len()),
                        findings.join(", ")
                    ),
                )
            } else if !passed.is_empty() {
                (
                    "no",
                    format!(
                        "no, in {} check{} across {}{unasked}",
                        total(&passed),
                        plural(total(&passed)),
                        by_level(&passed)
                    ),
                )
            } else {
                (
                    "not asked",
                    format!("not asked: no check asked it{unasked}"),
                )
            };
            Answer {
                question: q.clone(),
                answer: answer.into(),
                text,
                passed,
                failed,
                not_asked,
                findings,
            }
        })
        .collect()
}

/// Escapes text for HTML and XML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
