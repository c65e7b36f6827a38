//! `e2ee dave`: Discord's DAVE against the real clients, through our voice gateway.

use super::{with_record_of, RecordArgs};
use crate::dave::{self, participant::Implementation, runner::Control, scenario};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DaveArgs {
    /// Implementations that play the seats (comma-separated: libdave, davey, ours)
    /// [default: all].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    participants: Option<Vec<String>>,
    /// Scenario files to run instead of the shipped ones (harness/dave-scenarios/).
    #[arg(long, value_name = "FILE")]
    scenario: Vec<PathBuf>,
    /// Only the shipped scenarios with these names (comma-separated).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        conflicts_with = "scenario"
    )]
    only: Option<Vec<String>>,
    /// Seed a bug the checks must flag: escrow (a participant hands the gateway its media key)
    /// or no-rotate (members keep their send key across epochs).
    #[arg(long, value_name = "NAME")]
    control: Option<Control>,
    #[command(flatten)]
    json: RecordArgs,
}

/// `e2ee dave`: exit 2 if nothing could run (an unknown name, a missing sidecar, no scenario
/// could be read), 1 if a check failed or a scenario file was malformed (the others still run).
pub fn run(args: DaveArgs) -> anyhow::Result<u8> {
    let implementations: Vec<Implementation> = match &args.participants {
        None => Implementation::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Implementation::parse(n).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--participants: unknown implementation `{n}` (libdave, davey, ours)"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    // A missing sidecar is a set-up problem, named with its fix before any run starts.
    let mut components = Vec::new();
    for &i in &implementations {
        let (version, role) = if i == Implementation::Ours {
            (
                Implementation::ours_version(),
                "DAVE participant (in process)",
            )
        } else {
            let sidecar = dave::participant::Sidecar::start(i)?;
            (sidecar.version.clone(), "DAVE participant (sidecar)")
        };
        components.push(crate::results::Component {
            name: i.name().into(),
            version,
            role: role.into(),
        });
    }
    if args.control == Some(Control::Escrow)
        && !implementations.iter().any(|i| i.exposes_media_keys())
    {
        anyhow::bail!(
            "--control escrow needs davey or ours among --participants (libdave exposes no key)"
        );
    }
    let mut errors = Vec::new();
    let scenarios: Vec<scenario::Scenario> = if args.scenario.is_empty() {
        let all = scenario::shipped();
        match &args.only {
            None => all,
            Some(names) => {
                for n in names {
                    if !all.iter().any(|s| &s.name == n) {
                        anyhow::bail!("--only: no shipped scenario `{n}`");
                    }
                }
                all.into_iter()
                    .filter(|s| names.contains(&s.name))
                    .collect()
            }
        }
    } else {
        let mut loaded = Vec::new();
        for path in &args.scenario {
            match scenario::load(path) {
                Ok(s) => loaded.push(s),
                Err(e) => {
                    tracing::error!("{e}");
                    errors.push(e);
                }
            }
        }
        loaded
    };
    if scenarios.is_empty() {
        anyhow::bail!("no scenario could be read");
    }
    let jobs = dave::jobs(&scenarios, &implementations, args.control);
    let code = with_record_of(args.json, components, |out| {
        let spinner = crate::progress::Spinner::start();
        let start = std::time::Instant::now();
        let records = dave::execute(&scenarios, &jobs, &|done, total| {
            spinner.update(&format!("{done}/{total} runs"));
        });
        spinner.finish(&format!(
            "{} runs in {:.1} s",
            records.len(),
            start.elapsed().as_secs_f64()
        ));
        out.write_all(dave::render(&records).as_bytes())?;
        let mut checks = dave::into_checks(&records);
        for e in &errors {
            checks.push(crate::results::Check::new(
                crate::results::Scope::Input {
                    level: crate::results::Level::Implementation,
                    file: e
                        .to_string()
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    case: None,
                },
                crate::results::Question::Input,
                "dave-scenario",
                crate::results::Verdict::Fail,
                e.to_string(),
            ));
        }
        Ok(checks)
    })?;
    Ok(code)
}
