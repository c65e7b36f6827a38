//! Implementation level, first part: the IETF MLS test vectors (RFC 9420) and RFC 9605's SFrame
//! vectors, replayed against every client of [`crate::clients`].
//!
//! Every `*.json` under the vectors directory is read and recognised by its shape
//! ([`crate::formats::Format::recognise`]); every case of every file becomes one check per client (or
//! one per operation, where a case holds several: messages, crypto-basics), with a verdict:
//! pass, fail (with what differed), skipped (an unsupported cipher suite, an unreadable case),
//! not-applicable (the client's public API cannot express it) or unimplemented (it can, and this
//! harness does not do it yet). Nothing is dropped: [`Outcome::summary`] counts every case.

pub mod mls_sframe;
mod run_mls;
mod run_sframe;

use crate::clients::{ClientError, MlsClient, SframeClient};
use crate::formats::Format;
use crate::results::{Check, Level, Question, Scope, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the vectors directory when `--vectors` is not given.
pub const VECTORS_ENV: &str = "E2EE_VECTORS";

/// Problems that stop the run before any vector is read.
#[derive(Debug, thiserror::Error)]
pub enum VectorsError {
    #[error("no vectors directory: pass --vectors DIR or set {VECTORS_ENV} (the upstream files: see vectors/README.md)")]
    NoDirectory,
    #[error("cannot read the vectors directory {path}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "unknown client `{0}` (known: {known}){hint}",
        known = client_names().join(", "),
        hint = crate::clients::remote_hint(.0)
    )]
    UnknownClient(String),
}

/// A file or case that could not be read: which file, which case, which field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: PathBuf,
    /// The case's index in the file's list (or in its named list, for SFrame's).
    pub case: Option<String>,
    /// JSON path of the offending field within the case, if known.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(case) = &self.case {
            write!(f, ", case {case}")?;
        }
        if !self.path.is_empty() && self.path != "." {
            write!(f, ", field {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The names `e2ee vectors --client` accepts: the MLS and SFrame clients.
fn client_names() -> Vec<&'static str> {
    let mls = crate::clients::mls_clients();
    let sframe = crate::clients::sframe_clients();
    (mls.iter().map(|c| c.name()))
        .chain(sframe.iter().map(|c| c.name()))
        .collect()
}

/// Which clients to run.
pub struct Selection {
    pub mls: Vec<Box<dyn MlsClient>>,
    pub sframe: Vec<Box<dyn SframeClient>>,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = (self.mls.iter().map(|c| c.name()))
            .chain(self.sframe.iter().map(|c| c.name()))
            .collect();
        f.debug_tuple("Selection").field(&names).finish()
    }
}

impl Selection {
    /// Every client, or those named (comma-separated names as `--client` takes them).
    pub fn named(names: Option<&[String]>) -> Result<Selection, VectorsError> {
        let Some(names) = names else {
            return Ok(Selection {
                mls: crate::clients::mls_clients(),
                sframe: crate::clients::sframe_clients(),
            });
        };
        for n in names {
            if !client_names().contains(&n.as_str()) {
                return Err(VectorsError::UnknownClient(n.clone()));
            }
        }
        let wanted = |name: &str| names.iter().any(|n| n == name);
        Ok(Selection {
            mls: crate::clients::mls_clients()
                .into_iter()
                .filter(|c| wanted(c.name()))
                .collect(),
            sframe: crate::clients::sframe_clients()
                .into_iter()
                .filter(|c| wanted(c.name()))
                .collect(),
        })
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub checks: Vec<Check>,
    pub input_errors: Vec<InputError>,
    /// Files that are not vectors of a known format but recognisably something else (the
    /// interop scenario scripts beside the vectors), with what they are.
    pub other_files: Vec<(PathBuf, String)>,
    /// Cases read, over all files.
    pub cases_read: usize,
}

impl Outcome {
    /// Nothing could be read: the exit code is 2 then.
    pub fn nothing_read(&self) -> bool {
        self.cases_read == 0
    }

    /// The checks, plus one skipped check per file or case that could not be read, so the
    /// record shows what was not checked.
    pub fn into_checks(self) -> Vec<Check> {
        let mut checks = self.checks;
        for e in self.input_errors {
            let file = e.file.file_name().map(|n| n.to_string_lossy().into_owned());
            let mut name = file.unwrap_or_default();
            if let Some(case) = &e.case {
                name.push_str(&format!("[{case}]"));
            }
            let scope = Scope::Input {
                level: Level::Implementation,
                file: e.file.display().to_string(),
                case: e.case.clone(),
            };
            checks.push(
                Check::new(
                    scope,
                    Question::Input,
                    name,
                    Verdict::Skipped,
                    format!("not read: {e}"),
                )
                .with_subject("input"),
            );
        }
        checks
    }

    /// Counts per (file, client) and verdict, for the summary table.
    pub fn summary(&self) -> BTreeMap<(String, String), BTreeMap<Verdict, usize>> {
        let mut rows: BTreeMap<(String, String), BTreeMap<Verdict, usize>> = BTreeMap::new();
        for c in &self.checks {
            let file = c.name.split(['[', ' ']).next().unwrap_or("").to_string();
            *rows
                .entry((file, c.subject.clone()))
                .or_default()
                .entry(c.verdict)
                .or_default() += 1;
        }
        rows
    }
}

/// The vectors directory: `--vectors`, else `$E2EE_VECTORS`.
pub fn directory(flag: Option<PathBuf>) -> Result<PathBuf, VectorsError> {
    flag.or_else(|| std::env::var_os(VECTORS_ENV).map(PathBuf::from))
        .ok_or(VectorsError::NoDirectory)
}

/// For tests: `$E2EE_VECTORS`, else `../shared/vectors` beside this repository (the layout
/// `.ci/run` has). Panics if neither is a directory: missing vectors fail a test, never skip it.
#[doc(hidden)]
pub fn dir_for_tests() -> PathBuf {
    let dir = std::env::var_os(VECTORS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    assert!(
        dir.is_dir(),
        "no vectors at {}: set {VECTORS_ENV} (see vectors/README.md)",
        dir.display()
    );
    dir
}

/// Every `*.json` under `dir`, sorted, recursively.
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>, VectorsError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| VectorsError::Directory {
            path: d.clone(),
            source,
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs every file under `dir` through the selected clients, calling `progress` per file.
pub fn run(
    dirs: &[PathBuf],
    clients: &Selection,
    progress: &mut dyn FnMut(&Path),
) -> Result<Outcome, VectorsError> {
    let mut outcome = Outcome::default();
    for dir in dirs {
        for file in json_files(dir)? {
            progress(&file);
            run_file(&file, clients, &mut outcome);
        }
    }
    Ok(outcome)
}

/// The directories a run reads: the third-party vectors, and this project's own `vectors/`
/// when run from the repository's root.
pub fn with_own(dir: PathBuf) -> Vec<PathBuf> {
    let own = PathBuf::from("vectors");
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(&b) || b.starts_with(&a),
        _ => false,
    };
    if own.is_dir() && !same(&own, &dir) {
        vec![dir, own]
    } else {
        vec![dir]
    }
}

/// One file: parse, recognise, run every case.
pub fn run_file(file: &Path, clients: &Selection, outcome: &mut Outcome) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            outcome.input_errors.push(input_error(file, None, "", e));
            return;
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            outcome
                .input_errors
                .push(input_error(file, None, "", format!("not JSON: {e}")));
            return;
        }
    };
    let Some(format) = Format::recognise(&value) else {
        if let Some(what) = other_kind(&value) {
            outcome.other_files.push((file.to_path_buf(), what));
        } else {
            outcome
                .input_errors
                .push(input_error(file, None, "", unknown_shape(&value)));
        }
        return;
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ctx = FileCtx {
        file,
        name: &name,
        format,
    };
    let cases = || value.as_array().map(Vec::as_slice).unwrap_or_default();
    if format == Format::Sframe {
        run_sframe::run(&ctx, &value, &clients.sframe, outcome);
    } else if format == Format::MlsSframe {
        mls_sframe::run(&ctx, cases(), &clients.mls, &clients.sframe, outcome);
    } else {
        let cases = value.as_array().map(Vec::as_slice).unwrap_or_default();
        run_mls::run(&ctx, cases, &clients.mls, outcome);
    }
}

/// The file being run.
pub(crate) struct FileCtx<'a> {
    pub file: &'a Path,
    /// Its file name, which starts every check's name.
    pub name: &'a str,
    pub format: Format,
}

impl FileCtx<'_> {
    /// Deserialises case `label` (an index, or `sframe[3]`), recording an input error with the
    /// field's JSON path if it does not fit.
    pub fn case<T: serde::de::DeserializeOwned>(
        &self,
        label: &str,
        value: &serde_json::Value,
        outcome: &mut Outcome,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => {
                outcome.cases_read += 1;
                Some(t)
            }
            Err(e) => {
                let path = e.path().to_string();
                outcome.input_errors.push(input_error(
                    self.file,
                    Some(label.to_string()),
                    &path,
                    e.into_inner(),
                ));
                None
            }
        }
    }

    /// A check on this file's case `label` by `client`.
    pub fn check(
        &self,
        client: &str,
        label: &str,
        suite: Option<u16>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Check {
        let mut name = format!("{}[{label}]", self.name);
        if let Some(s) = suite {
            name.push_str(&format!(" suite {s}"));
        }
        let scope = Scope::Vector {
            client: client.to_string(),
            file: self.name.to_string(),
            case: label.to_string(),
            suite,
        };
        Check::new(scope, Question::Conformance, name, verdict, reason)
    }

    /// The verdict a client error means.
    pub fn error_check(
        &self,
        client: &str,
        label: &str,
        suite: Option<u16>,
        e: ClientError,
    ) -> Check {
        let verdict = match &e {
            ClientError::Unsupported { .. } => Verdict::NotApplicable,
            ClientError::Suite { .. } | ClientError::Gone { .. } => Verdict::Skipped,
            ClientError::Failed(_) => Verdict::Fail,
        };
        self.check(client, label, suite, verdict, e.to_string())
    }
}

fn input_error(
    file: &Path,
    case: Option<String>,
    path: &str,
    message: impl std::fmt::Display,
) -> InputError {
    InputError {
        file: file.to_path_buf(),
        case,
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Files the harness knows are not vectors: the IETF interop scenario scripts.
fn other_kind(v: &serde_json::Value) -> Option<String> {
    crate::interop::script::is_config(v)
        .then(|| "IETF interop scenario scripts, interop/configs".into())
}

fn unknown_shape(v: &serde_json::Value) -> String {
    let keys: Vec<String> = match v {
        serde_json::Value::Array(a) => a
            .first()
            .and_then(|c| c.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => Vec::new(),
    };
    format!(
        "unknown shape: not a vector format this harness knows (keys of the first case: {})",
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// Where two byte strings first differ, in words.
pub(crate) fn differ(what: &str, expected: &[u8], got: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let show = |b: &[u8]| {
        let h = hex::encode(b);
        if h.len() > 40 {
            format!("{}...", &h[..40])
        } else {
            h
        }
    };
    format!(
        "{what}: expected {} ({} bytes), got {} ({} bytes), first difference at byte {at}",
        show(expected),
        expected.len(),
        show(got),
        got.len()
    )
}

/// The verdict columns of the summary, in order.
const COLUMNS: [(Verdict, &str); 5] = [
    (Verdict::Pass, "pass"),
    (Verdict::Fail, "fail"),
    (Verdict::Skipped, "skipped"),
    (Verdict::NotApplicable, "n/a"),
    (Verdict::Unimplemented, "unimpl."),
];

/// The summary table (one row per file and client), then every failure with what differed,
/// then what was not read and why.
pub fn render(outcome: &Outcome, dirs: &[PathBuf]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let summary = outcome.summary();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut totals = [0usize; 5];
    for ((file, client), counts) in &summary {
        let mut row = vec![file.clone(), client.clone()];
        let mut all = 0;
        for (i, (v, _)) in COLUMNS.iter().enumerate() {
            let n = counts.get(v).copied().unwrap_or(0);
            totals[i] += n;
            all += n;
            row.push(n.to_string());
        }
        row.push(all.to_string());
        rows.push(row);
    }
    let mut total = vec!["all files".to_string(), String::new()];
    total.extend(totals.iter().map(|n| n.to_string()));
    total.push(totals.iter().sum::<usize>().to_string());
    rows.push(total);
    let mut header = vec!["file", "client"];
    header.extend(COLUMNS.iter().map(|(_, h)| *h));
    header.push("checks");
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let _ = writeln!(out, "Vectors in {}\n", shown.join(" and "));
    out.push_str(&crate::columns::table(&header, &rows));
    let failures: Vec<&Check> = outcome
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .collect();
    if !failures.is_empty() {
        // Cases that failed alike (same client, file, structure and reason) share one line.
        let mut alike: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for c in failures {
            let (file, case) = c.name.split_once('[').unwrap_or((&c.name, ""));
            let case = case.trim_end_matches(']');
            let (index, part) = case.split_once('.').unwrap_or((case, ""));
            let what = if part.is_empty() {
                file.to_string()
            } else {
                format!("{file}[*.{part}]")
            };
            alike
                .entry((c.subject.clone(), what, c.reason.clone()))
                .or_default()
                .push(index.to_string());
        }
        let _ = writeln!(out, "\nFailures:");
        for ((client, what, reason), cases) in alike {
            let shown = if cases.len() > 6 {
                format!("{} cases", cases.len())
            } else {
                format!("case {}", cases.join(", "))
            };
            let _ = writeln!(out, "  {client} / {what} ({shown}): {reason}");
        }
    }
    if !outcome.input_errors.is_empty() {
        let _ = writeln!(out, "\nNot read ({}):", outcome.input_errors.len());
        for e in &outcome.input_errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    let mut kinds: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (file, what) in &outcome.other_files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        kinds
            .entry(what)
            .or_default()
            .push(name.unwrap_or_default());
    }
    for (what, files) in kinds {
        let _ = writeln!(out, "\nNot vector files ({what}): {}", files.join(", "));
    }
    out
}
