//! `e2ee interop`: the IETF MLS interop scenarios, client × client.

use super::{with_record_of, RecordArgs};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InteropArgs {
    /// MLS clients that play the actors (comma-separated) [default: openmls,mls-rs].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    clients: Option<Vec<String>>,
    /// A scenario config, or a directory of them [default: VECTORS/mls-interop].
    #[arg(long, value_name = "FILE|DIR")]
    config: Option<PathBuf>,
    /// The vectors directory, whose mls-interop/ holds the IETF configs [default: $E2EE_VECTORS].
    #[arg(long, value_name = "DIR")]
    vectors: Option<PathBuf>,
    /// Only this cipher suite [default: every suite a chosen client supports].
    #[arg(long, value_name = "N")]
    suite: Option<u16>,
    /// Run a seeded sample of client assignments (--sample per script, suite and handshake
    /// setting) instead of all of them.
    #[arg(long, value_name = "SEED")]
    random: Option<u64>,
    /// Assignments per script, suite and handshake setting under --random.
    #[arg(long, value_name = "K", default_value_t = 4, requires = "random")]
    sample: usize,
    /// Only handshakes as PrivateMessage (`private`) or PublicMessage (`public`) [default: both].
    #[arg(long, value_name = "MODE")]
    handshake: Option<HandshakeMode>,
    /// Seed a bug the checks must flag: escrow (a client hands its media key to the delivery
    /// service) or keep-removed (committers leave removed members in the group).
    #[arg(long, value_name = "NAME")]
    control: Option<crate::interop::runner::Control>,
    /// How long a `grpc:` client's server may take over one call before the run fails as hung.
    #[arg(long, value_name = "SECS", default_value_t = crate::clients::grpc::DEFAULT_TIMEOUT.as_secs_f64())]
    rpc_timeout: f64,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HandshakeMode {
    Private,
    Public,
}

/// `e2ee interop`: exit 2 if nothing could be run, 1 if a check failed or a script was
/// malformed (the others still run).
pub fn run(args: InteropArgs) -> anyhow::Result<u8> {
    use crate::{clients, interop, vectors};
    let timeout = std::time::Duration::try_from_secs_f64(args.rpc_timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            anyhow::anyhow!("--rpc-timeout {}: expected seconds > 0", args.rpc_timeout)
        })?;
    let all = clients::member_clients_named(args.clients.as_deref(), timeout)?;
    let chosen: Vec<&dyn clients::MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let path = match args.config {
        Some(p) => p,
        None => vectors::directory(args.vectors)?.join("mls-interop"),
    };
    if !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    let (configs, errors) = interop::load(&path);
    for e in &errors {
        tracing::error!("{e}");
    }
    let plan = interop::Plan {
        suite: args.suite,
        sample: args.random.map(|seed| (seed, args.sample)),
        control: args.control,
        modes: match args.handshake {
            None => vec![true, false],
            Some(HandshakeMode::Private) => vec![true],
            Some(HandshakeMode::Public) => vec![false],
        },
    };
    if let Some(s) = plan.suite {
        if !chosen.iter().any(|c| c.supports(s)) {
            anyhow::bail!("no chosen client supports cipher suite {s}");
        }
    }
    let jobs = interop::jobs(&configs, &chosen, &plan);
    if jobs.is_empty() {
        anyhow::bail!("nothing to run in {}", path.display());
    }
    // Servers driven over gRPC are named in the record with what they call themselves.
    let remote = chosen
        .iter()
        .filter(|c| c.name().starts_with(clients::grpc::PREFIX))
        .map(|c| crate::results::Component {
            name: c.name().into(),
            version: c.version().into(),
            role: "MLS client over the IETF interop gRPC interface (MLSClient)".into(),
        })
        .collect();
    let code = with_record_of(args.json, remote, |out| {
        let spinner = crate::progress::Spinner::start();
        let start = std::time::Instant::now();
        let records = interop::execute(&configs, &chosen, &jobs, &|done, total| {
            if done % 16 == 0 || done == total {
                spinner.update(&format!("{done}/{total} runs"));
            }
        });
        spinner.finish(&format!(
            "{} runs in {:.1} s",
            records.len(),
            start.elapsed().as_secs_f64()
        ));
        out.write_all(interop::render(&records, &errors).as_bytes())?;
        let checks = interop::into_checks(&records, &errors);
        Ok(checks)
    })?;
    Ok(if errors.is_empty() { code } else { code.max(1) })
}
