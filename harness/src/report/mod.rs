//! `e2ee report`: merges the results records of every level into what an auditor, a reviewer and
//! a CI job each read — `index.html` (one self-contained file), `summary.md`, `results.json`
//! (validated against `reports/schema/report-v1.schema.json`) and `junit.xml`.
//!
//! The verdict comes first: "no server could decrypt" only when every check met its
//! expectation, else exactly what failed. Then one matrix per level, in the manner of
//! Autobahn's reports: protocol × property (design), client × vector file and client pair ×
//! scenario (implementation), participant × call check (deployment). What was not checked is
//! listed with its reasons, never folded into a pass.

mod html;
mod junit;
mod markdown;
pub mod svg;

use crate::results::{Check, Level, Machine, Run, ToolInfo, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The shape version of [`Report`] (`results.json`).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

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

/// A client under test and its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub role: String,
}

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
    pub checks: Vec<SourcedCheck>,
}

/// A cell of a matrix: the verdicts of the checks behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub counts: BTreeMap<Verdict, usize>,
    /// Indices into [`Report::checks`].
    pub checks: Vec<usize>,
}

impl Cell {
    /// What the cell shows: a fail if any check failed, else a pass if any passed, else the
    /// most common other verdict.
    pub fn verdict(&self) -> Option<Verdict> {
        if self.counts.contains_key(&Verdict::Fail) {
            return Some(Verdict::Fail);
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
        let mut runs = Vec::new();
        let mut rejected = Vec::new();
        for f in files {
            match Run::read_json(f) {
                Ok(run) => runs.push((f.display().to_string(), run)),
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
        let mut vector_sources = BTreeSet::new();
        for (i, (file, run)) in runs.into_iter().enumerate() {
            if let Some(dir) = vectors_dir(&run.command) {
                vector_sources.insert(dir);
            }
            sources.push(Source {
                file,
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
        Report {
            report_schema_version: REPORT_SCHEMA_VERSION,
            generated: crate::results::rfc3339_utc(std::time::SystemTime::now()),
            tool: ToolInfo::this(),
            machine: Machine::this(),
            components: components(),
            vector_sources,
            sources,
            rejected,
            checks,
        }
    }

    pub fn failed(&self) -> Vec<&SourcedCheck> {
        self.checks
            .iter()
            .filter(|c| c.check.verdict == Verdict::Fail)
            .collect()
    }

    /// The failures grouped by level and subject, in the order they came.
    pub fn failures_by_subject(&self) -> Vec<((Level, String), Vec<&SourcedCheck>)> {
        let mut groups: Vec<((Level, String), Vec<&SourcedCheck>)> = Vec::new();
        for c in self.failed() {
            let key = (c.check.level, c.check.subject.clone());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(c),
                None => groups.push((key, vec![c])),
            }
        }
        groups
    }

    /// 0: every check met its expectation and every input was read; 1: a check failed or an
    /// input was rejected; 2: no input could be read at all.
    pub fn exit_code(&self) -> u8 {
        if self.sources.is_empty() && !self.rejected.is_empty() {
            2
        } else if !self.failed().is_empty() || !self.rejected.is_empty() {
            1
        } else {
            0
        }
    }

    /// The verdict in one sentence.
    pub fn headline(&self) -> String {
        let failed = self.failed();
        if self.checks.is_empty() {
            return "Nothing was checked: no results record could be read.".into();
        }
        if failed.is_empty() && self.rejected.is_empty() {
            let server: Vec<&SourcedCheck> = self
                .checks
                .iter()
                .filter(|c| c.check.verdict == Verdict::Pass && is_server_check(&c.check))
                .collect();
            if server.is_empty() {
                format!(
                    "Every check met its expectation ({}), but none of them asked whether a \
                     server could decrypt.",
                    crate::results::summary_line(&self.plain_checks())
                )
            } else {
                format!(
                    "No server could decrypt: every check met its expectation ({}).",
                    crate::results::summary_line(&self.plain_checks())
                )
            }
        } else if failed.is_empty() {
            format!(
                "Every check read met its expectation, but {} results file{} could not be read.",
                self.rejected.len(),
                if self.rejected.len() == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "{} of {} checks failed their expectation.",
                failed.len(),
                self.checks.len()
            )
        }
    }

    pub fn plain_checks(&self) -> Vec<Check> {
        self.checks.iter().map(|c| c.check.clone()).collect()
    }

    /// The matrices, in level order; empty ones left out.
    pub fn matrices(&self) -> Vec<Matrix> {
        let mut design = Matrix::new("Design: protocol × property", "protocol");
        let mut vectors = Matrix::new("Implementation: client × vector file", "client");
        let mut interop = Matrix::new("Implementation: client pair × scenario", "clients");
        let mut live: BTreeMap<String, Matrix> = BTreeMap::new();
        for (i, c) in self.checks.iter().enumerate() {
            let c = &c.check;
            let v = c.verdict;
            match c.level {
                Level::Design => design.add(c.subject.clone(), c.name.clone(), v, i),
                Level::Implementation => {
                    if let Some(pair) = client_pair(&c.name) {
                        interop.add(pair, c.subject.clone(), v, i);
                    } else if let Some((file, _)) = c.name.split_once('[') {
                        vectors.add(c.subject.clone(), file.to_string(), v, i);
                    } else {
                        vectors.add(c.subject.clone(), c.name.clone(), v, i);
                    }
                }
                Level::Deployment => {
                    let m = live.entry(c.subject.clone()).or_insert_with(|| {
                        Matrix::new(
                            &format!("Deployment: participant × call check — {}", c.subject),
                            "participant",
                        )
                    });
                    let who_all = participants(c);
                    if who_all.is_empty() {
                        m.add("(the SFU)".into(), c.name.clone(), v, i);
                    }
                    for who in who_all {
                        // A participant's cell fails only where the evidence names it.
                        let named = c
                            .evidence
                            .as_ref()
                            .is_some_and(|e| e.steps.iter().any(|s| s.starts_with(&who)));
                        let verdict = match v {
                            Verdict::Fail if !named => Verdict::Pass,
                            other => other,
                        };
                        m.add(who, c.name.clone(), verdict, i);
                    }
                }
            }
        }
        let mut out = vec![design, vectors, interop];
        out.extend(live.into_values());
        out.retain(|m| !m.cells.is_empty());
        out
    }

    /// Checks not judged pass or fail, grouped by verdict and reason.
    pub fn not_checked(&self) -> BTreeMap<(Verdict, String), Vec<usize>> {
        let mut out: BTreeMap<(Verdict, String), Vec<usize>> = BTreeMap::new();
        for (i, c) in self.checks.iter().enumerate() {
            if !matches!(c.check.verdict, Verdict::Pass | Verdict::Fail) {
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

/// An interop run's clients ("suite 1, private handshake, alice=openmls bob=mls-rs"): the
/// distinct clients, in order, joined by ×.
fn client_pair(name: &str) -> Option<String> {
    let (_, assignment) = name.rsplit_once(", ")?;
    let mut clients: Vec<&str> = assignment
        .split_whitespace()
        .map(|a| a.split_once('=').map(|(_, c)| c))
        .collect::<Option<Vec<_>>>()?;
    if clients.is_empty() {
        return None;
    }
    clients.sort_unstable();
    clients.dedup();
    Some(clients.join(" × "))
}

/// The participants a live check's figures name ("alice.sent").
fn participants(c: &Check) -> Vec<String> {
    let mut out: Vec<String> = c
        .figures
        .keys()
        .filter_map(|k| k.strip_suffix(".sent"))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// A check that asks whether a server could read what it carried.
fn is_server_check(c: &Check) -> bool {
    let n = c.name.to_lowercase();
    n.contains("sfu opens nothing")
        || n.contains("delivery service")
        || n.contains("server")
        || c.level == Level::Design
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
