//! `e2ee check`: every level at once, judged against the shipped known findings, into a report.

use super::{client_names, record_judged, runtime, write_checks, write_report, RecordArgs};
use crate::model_cmd::{self, Request};
use crate::results::{self, Check};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The vectors directory for the implementation level [default: $E2EE_VECTORS; without
    /// either, that level is recorded as skipped].
    #[arg(long, value_name = "DIR")]
    vectors: Option<PathBuf>,
    /// Where the report goes: a new directory named by its start time (RFC 3339 UTC, colons as dashes) inside it.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    reports: PathBuf,
    #[command(flatten)]
    json: RecordArgs,
}

/// `e2ee check`: the report's exit code (1 if a check failed against the expectations).
pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let CheckArgs {
        vectors,
        reports,
        json,
    } = args;
    let expectations = json.expectations(true)?;
    let run = record_judged(json, expectations, Vec::new(), |out| {
        writeln!(
            out,
            "Design level: every protocol model at the assurance bounds, Cloudflare's \
         Orange model as Cloudflare checked it, and with keys and a hostile server\n"
        )?;
        let mut planned = model_cmd::plan(&Request::assurance())?;
        planned.extend(model_cmd::plan(&Request::orange_as_published())?);
        for req in Request::orange_with_keys() {
            planned.extend(model_cmd::plan(&req)?);
        }
        let mut checks = model_cmd::run_plan(&planned, out)?;
        writeln!(
            out,
            "\nImplementation level: the MLS and SFrame test vectors\n"
        )?;
        checks.extend(check_vectors(vectors.clone(), out)?);
        writeln!(
            out,
            "\nImplementation level: the IETF interop scenarios, one seeded assignment per \
         script, suite and handshake setting\n"
        )?;
        checks.extend(check_interop(vectors, out)?);
        writeln!(
            out,
            "\nImplementation level: Discord's DAVE, libdave × davey × ours in every seat of every \
         scenario, through our voice gateway, honest and hostile\n"
        )?;
        checks.extend(check_dave(out)?);
        writeln!(
            out,
            "\nDeployment level: the default live call (4 participants, openmls and mls-rs, \
         every event) through the recording SFU\n"
        )?;
        checks.extend(check_live(out)?);
        Ok(checks)
    })?;
    let stamp = run.started.replace(':', "-");
    let dir = reports.join(&stamp);
    let input = dir.join("check.json");
    run.write_json(&input)?;
    let report = crate::report::Report::from_runs(vec![(input.display().to_string(), run)], vec![]);
    write_report(&report, &dir)
}

/// The interop level of `e2ee check`: a seeded sample (`e2ee interop` runs them all).
fn check_interop(flag: Option<PathBuf>, out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use crate::{clients, interop, vectors};
    let dir = vectors::directory(flag)
        .ok()
        .map(|d| d.join("mls-interop"))
        .filter(|d| d.is_dir());
    let Some(dir) = dir else {
        let why = "no vectors directory with mls-interop/ (pass --vectors DIR or set E2EE_VECTORS)";
        writeln!(out, "skipped: {why}")?;
        return Ok(vec![skipped_level(
            "interop",
            "IETF interop scenarios",
            why,
        )]);
    };
    let all = clients::member_clients();
    let chosen: Vec<&dyn clients::MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let (configs, errors) = interop::load(&dir);
    let plan = interop::Plan {
        sample: Some((2026, 1)),
        ..interop::Plan::default()
    };
    let jobs = interop::jobs(&configs, &chosen, &plan);
    let records = interop::execute(&configs, &chosen, &jobs, &|_, _| {});
    out.write_all(interop::render(&records, &errors).as_bytes())?;
    Ok(interop::into_checks(&records, &errors))
}

/// The DAVE level of `e2ee check`: every shipped scenario (honest and probes), every
/// assignment; skipped, naming the set-up command, where a sidecar is not installed.
fn check_dave(out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use crate::dave::{self, participant::Implementation, scenario};
    for imp in Implementation::ALL {
        if imp == Implementation::Ours {
            continue;
        }
        if let Err(e) = dave::participant::Sidecar::start(imp) {
            let why = e.to_string();
            writeln!(out, "skipped: {why}")?;
            return Ok(vec![skipped_level("dave", "DAVE participants", &why)]);
        }
    }
    let scenarios = scenario::shipped();
    let jobs = dave::jobs(&scenarios, &Implementation::ALL, None);
    let records = dave::execute(&scenarios, &jobs, &|_, _| {});
    out.write_all(dave::render(&records).as_bytes())?;
    Ok(dave::into_checks(&records))
}

/// The default live call and its four checks.
fn check_live(out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use crate::live::{call, checks, script};
    let names = client_names(None)?;
    let s = script::parse("the default script", script::DEFAULT, &names)?;
    let runtime = runtime()?;
    let spinner = crate::progress::Spinner::start();
    spinner.update(&format!(
        "live call running ({} s)",
        s.end_ms() as f64 / 1000.0
    ));
    let outcome = runtime.block_on(call::run(s, "127.0.0.1:0".parse()?, None, 1))?;
    spinner.finish("live call done");
    let judged = checks::judge(
        &outcome,
        "live/default (4 participants, Designated committer)",
    );
    write_checks(out, &judged.checks)?;
    Ok(judged.checks)
}

/// The vectors part of `e2ee check`: every client over the directory, or one skipped check
/// saying why there is no directory.
fn check_vectors(flag: Option<PathBuf>, out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use crate::vectors;
    let dir = match vectors::directory(flag) {
        Ok(dir) if dir.is_dir() => dir,
        other => {
            let why = match other {
                Ok(dir) => format!("vectors directory {} does not exist", dir.display()),
                Err(e) => e.to_string(),
            };
            writeln!(out, "skipped: {why}")?;
            return Ok(vec![skipped_level("vectors", "test vectors", &why)]);
        }
    };
    let dirs = vectors::with_own(dir);
    let outcome = vectors::run(&dirs, &vectors::Selection::named(None)?, &mut |_| {})?;
    out.write_all(vectors::render(&outcome, &dirs).as_bytes())?;
    Ok(outcome.into_checks())
}

/// An implementation-level part of `e2ee check` that could not run: skipped, with why.
fn skipped_level(what: &str, name: &str, why: &str) -> Check {
    let scope = results::Scope::Input {
        level: results::Level::Implementation,
        file: what.into(),
        case: None,
    };
    Check::new(
        scope,
        results::Question::Input,
        name,
        results::Verdict::Skipped,
        why,
    )
}
