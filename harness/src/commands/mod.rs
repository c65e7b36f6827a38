//! The `e2ee` subcommands, one module each: its arguments (clap) and its `run`, which returns
//! the exit code (0 every check met its expectation, 1 some check failed) or an error (the
//! binary prints it and exits 2: usage or input error).
//!
//! What they share is here: the results record every command writes ([`RecordArgs`],
//! [`with_record`], [`record_judged`]), the verdict a report leads with ([`print_verdict`]) and
//! the runtime the live calls run on ([`runtime`]).

pub mod check;
pub mod dave;
pub mod interop;
pub mod live;
pub mod model;
pub mod report;
pub mod serve;
mod stats;
pub mod vectors;

use crate::results::{self, Check, Run};
use anyhow::Context as _;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

// `--json` and `--expect`, which every command that writes a results record takes.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Also write the results record (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Known findings (TOML, see expectations/known-findings.toml): failures they cover are
    /// expected-fail, and one that no longer fails (stale) fails the run; `none` for the raw
    /// verdicts [default: none; for `e2ee check`, the shipped known findings].
    #[arg(long, value_name = "FILE|none")]
    expect: Option<String>,
}

impl RecordArgs {
    /// The expectations asked for; `known` when none were named and the command defaults to
    /// the shipped ones.
    pub fn expectations(&self, known: bool) -> anyhow::Result<Option<crate::expect::Expectations>> {
        use crate::expect::Expectations;
        Ok(match self.expect.as_deref() {
            Some("none") => None,
            Some(path) => Some(Expectations::read(std::path::Path::new(path))?),
            None if known => Some(Expectations::known_findings()),
            None => None,
        })
    }
}

/// The multi-thread tokio runtime the live calls run on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// The names of the MLS clients named by --clients (all of them by default); unknown names are
/// a usage error.
pub fn client_names(names: Option<&[String]>) -> anyhow::Result<Vec<&'static str>> {
    let chosen = crate::clients::by_names(names, crate::clients::member_clients)?;
    Ok(chosen.iter().map(|c| c.name()).collect())
}

/// One line a check: its verdict, name and reason.
pub fn write_checks(out: &mut dyn Write, checks: &[Check]) -> std::io::Result<()> {
    for c in checks {
        writeln!(out, "{:<14} {}: {}", c.verdict.as_str(), c.name, c.reason)?;
    }
    Ok(())
}

/// The security answers, the findings and the verdict, as the report leads with them.
pub fn print_verdict(report: &crate::report::Report) -> anyhow::Result<()> {
    use crate::findings::FindingStatus;
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    for a in &report.answers {
        writeln!(out, "{} {}", a.question.in_words(), a.text)?;
    }
    if !report.findings.is_empty() {
        writeln!(out, "\nfindings:")?;
        for f in &report.findings {
            let status = match f.status {
                FindingStatus::Expected => "expected",
                FindingStatus::Unexpected => "UNEXPECTED",
                FindingStatus::Mixed => "partly expected",
            };
            writeln!(
                out,
                "  {:<30} {:<15} {:>5} checks  {}",
                f.id,
                status,
                f.checks.len(),
                f.title
            )?;
        }
    }
    for e in report.stale() {
        writeln!(
            out,
            "stale expectation `{}`: {} checks in its scope ran and none failed (remove it if the \
             finding is fixed)",
            e.outcome.id, e.outcome.passing
        )?;
    }
    writeln!(out, "\n{}", report.headline())?;
    Ok(())
}

/// Writes `report` into `dir`, prints its verdict and where it is; its exit code.
pub fn write_report(report: &crate::report::Report, dir: &std::path::Path) -> anyhow::Result<u8> {
    report.write(dir)?;
    print_verdict(report)?;
    println!("report: {}", dir.join("index.html").display());
    Ok(report.exit_code())
}

/// Runs `body` inside a results record: prints the summary, writes `--json` if asked, and
/// turns the verdicts into the exit code.
pub fn with_record(
    args: RecordArgs,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<Vec<Check>>,
) -> anyhow::Result<u8> {
    with_record_of(args, Vec::new(), body)
}

/// [`with_record`] for a run that drove `clients` this build did not compile in.
pub fn with_record_of(
    args: RecordArgs,
    clients: Vec<crate::results::Component>,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<Vec<Check>>,
) -> anyhow::Result<u8> {
    let expectations = args.expectations(false)?;
    Ok(record_judged(args, expectations, clients, body)?.exit_code())
}

/// Runs `body`, judges its checks against `expectations`, prints the summary line and saves
/// the record (with the remote `clients` it drove) where --json says.
pub fn record_judged(
    args: RecordArgs,
    expectations: Option<crate::expect::Expectations>,
    clients: Vec<crate::results::Component>,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<Vec<Check>>,
) -> anyhow::Result<Run> {
    let argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let mut run = Run::new(results::command_line(argv));
    run.clients = clients;
    let mut out = std::io::stdout().lock();
    run.checks = body(&mut out)?;
    if let Some(e) = &expectations {
        e.apply(&mut run);
    }
    run.finish();
    writeln!(out, "\n{}", results::summary_line(&run.checks))?;
    // Unexpected failures by finding, so a CI log names what broke.
    let unexpected: Vec<&Check> = run
        .checks
        .iter()
        .filter(|c| c.verdict == results::Verdict::Fail)
        .collect();
    for f in crate::findings::group(&unexpected) {
        writeln!(
            out,
            "unexpected: finding `{}` ({} check{}): {}",
            f.id,
            f.checks.len(),
            if f.checks.len() == 1 { "" } else { "s" },
            f.title
        )?;
    }
    for e in &run.expectations {
        if e.status == results::ExpectationStatus::Stale {
            writeln!(
                out,
                "stale expectation `{}`: {} checks in its scope ran and none failed",
                e.id, e.passing
            )?;
        }
    }
    out.flush()?;
    if let Some(path) = args.json {
        run.write_json(&path)
            .with_context(|| "the checks ran, but their record was not saved")?;
        tracing::info!(path = %path.display(), "wrote results record");
    }
    Ok(run)
}
