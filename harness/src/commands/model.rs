//! `e2ee model`: the design level, the Stateright models of `e2ee-model`.

use super::{with_record, RecordArgs};
use crate::model_cmd::{self, Request};
use clap::{Args, Subcommand, ValueEnum};
use e2ee_model::{Bounds, CheckOptions, Protocol};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List protocols, properties and mutants, one per line.
    List,
    /// Check protocols against every property and print the verdicts.
    Check(ModelCheckArgs),
    /// Serve Stateright's Explorer to step through a model in the browser (blocks).
    Explore(ExploreArgs),
}

/// Bounds given on the command line; what is left out comes from the protocol's
/// `ProtocolSpec::default_bounds` (its model file), or [`Bounds::DEFAULT`] for `all`.
#[derive(Debug, Args)]
pub struct BoundsArgs {
    /// Participant slots, members or not [default: 3].
    #[arg(long, value_name = "N")]
    participants: Option<u8>,
    /// How many participants are members at the start [default: 2].
    #[arg(long, value_name = "I")]
    initial_members: Option<u8>,
    /// Joins and leaves the participants may make [default: 2].
    #[arg(long, value_name = "K")]
    max_changes: Option<u8>,
    /// Drops, reorders, duplicates and forgeries the server may make [default: 1].
    #[arg(long, value_name = "J")]
    max_interference: Option<u8>,
    /// Break the protocol on purpose (see `e2ee model list`); the check must catch it.
    #[arg(long, value_name = "M")]
    mutant: Option<String>,
    /// The Orange port's bound (`--protocol orange-dc` or `orange-dc-keys` only) [default: 5,
    /// Cloudflare's config; 4 for orange-dc-keys].
    #[arg(long, value_name = "N")]
    max_total_users: Option<u8>,
}

impl BoundsArgs {
    /// The bounds for `protocol`: the Orange port's only bound, MaxTotalUsers, rides in
    /// `participants`.
    fn bounds(&self, protocol: &str) -> anyhow::Result<Bounds> {
        let orange = [Protocol::OrangeDc.name(), Protocol::OrangeDcKeys.name()].contains(&protocol);
        if self.max_total_users.is_some() && !orange {
            anyhow::bail!(
                "--max-total-users applies to --protocol orange-dc and orange-dc-keys only"
            );
        }
        if self.participants.is_some() && orange {
            anyhow::bail!(
                "--protocol {protocol} counts users with --max-total-users, not --participants"
            );
        }
        let defaults = e2ee_model::protocols::REGISTRY
            .iter()
            .find(|spec| spec.name == protocol)
            .map_or(Bounds::DEFAULT, |spec| spec.default_bounds);
        Ok(Bounds {
            participants: if orange {
                self.max_total_users.unwrap_or(defaults.participants)
            } else {
                self.participants.unwrap_or(defaults.participants)
            },
            initial_members: self.initial_members.unwrap_or(defaults.initial_members),
            max_changes: self.max_changes.unwrap_or(defaults.max_changes),
            max_interference: self.max_interference.unwrap_or(defaults.max_interference),
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// Breadth-first: shortest counterexamples (single-threaded).
    Bfs,
    /// Depth-first: less memory; needed for --symmetry.
    Dfs,
}

#[derive(Debug, Args)]
pub struct ModelCheckArgs {
    /// A protocol name, or `all`.
    #[arg(long, value_name = "P", default_value = model_cmd::ALL)]
    protocol: String,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// Checker threads [default: one per core].
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Symmetry reduction (participants are interchangeable); needs --strategy dfs.
    #[arg(long)]
    symmetry: bool,
    #[arg(long, value_enum, default_value = "bfs")]
    strategy: StrategyArg,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// The protocol to explore.
    #[arg(long, value_name = "P")]
    protocol: String,
    /// Address to serve the Explorer on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    #[command(flatten)]
    bounds: BoundsArgs,
}

/// `e2ee model`: `check` exits 1 if a property failed.
pub fn run(command: ModelCommand) -> anyhow::Result<u8> {
    match command {
        ModelCommand::List => list(),
        ModelCommand::Check(args) => check(args),
        ModelCommand::Explore(args) => explore(args),
    }
}

/// `e2ee model list`.
fn list() -> anyhow::Result<u8> {
    let text = model_cmd::render_listing(&e2ee_model::listing());
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(0)
}

/// `e2ee model check`.
fn check(args: ModelCheckArgs) -> anyhow::Result<u8> {
    let req = Request {
        bounds: args.bounds.bounds(&args.protocol)?,
        protocol: args.protocol,
        mutant: args.bounds.mutant.clone(),
        threads: args.threads.unwrap_or_else(model_cmd::available_cores),
        symmetry: args.symmetry,
        strategy: match args.strategy {
            StrategyArg::Bfs => e2ee_model::Strategy::Bfs,
            StrategyArg::Dfs => e2ee_model::Strategy::Dfs,
        },
    };
    // Resolve names before starting the record, so usage errors come first.
    let planned = model_cmd::plan(&req)?;
    with_record(args.json, |out| Ok(model_cmd::run_plan(&planned, out)?))
}

/// `e2ee model explore`: serves until stopped.
fn explore(args: ExploreArgs) -> anyhow::Result<u8> {
    let opts = CheckOptions {
        mutant: args.bounds.mutant.as_deref().map(str::parse).transpose()?,
        bounds: args.bounds.bounds(&args.protocol)?,
        ..CheckOptions::new(args.protocol.parse()?)
    };
    let subject = model_cmd::subject(&opts);
    e2ee_model::explore(&opts, &args.addr, || {
        // Said only once the address is ours, so a busy port gets no false promise.
        println!(
            "Stateright Explorer for {subject}: http://{}/ (Ctrl-C to stop)",
            args.addr
        );
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bounds: BoundsArgs,
    }

    fn bounds(args: &[&str], protocol: &str) -> anyhow::Result<Bounds> {
        let cli = Cli::try_parse_from(std::iter::once("e2ee").chain(args.iter().copied()))?;
        cli.bounds.bounds(protocol)
    }

    #[test]
    fn defaults_come_from_each_protocols_spec() {
        for spec in e2ee_model::protocols::REGISTRY {
            assert_eq!(
                bounds(&[], spec.name).unwrap(),
                spec.default_bounds,
                "{}",
                spec.name
            );
        }
        assert_eq!(bounds(&[], model_cmd::ALL).unwrap(), Bounds::DEFAULT);
        // Cloudflare's MaxTotalUsers 5 for the port; 4 for the keyed variant (memory).
        assert_eq!(bounds(&[], "orange-dc").unwrap().participants, 5);
        assert_eq!(bounds(&[], "orange-dc-keys").unwrap().participants, 4);
    }

    #[test]
    fn given_bounds_override_and_misplaced_ones_are_refused() {
        let b = bounds(&["--participants", "4", "--max-changes", "1"], "leader").unwrap();
        assert_eq!(
            (b.participants, b.max_changes, b.initial_members),
            (4, 1, 2)
        );
        assert_eq!(
            bounds(&["--max-total-users", "3"], "orange-dc")
                .unwrap()
                .participants,
            3
        );
        let e = bounds(&["--max-total-users", "3"], "leader").unwrap_err();
        assert!(
            e.to_string().contains("--max-total-users applies to"),
            "{e}"
        );
        let e = bounds(&["--participants", "4"], "orange-dc").unwrap_err();
        assert!(
            e.to_string()
                .contains("--max-total-users, not --participants"),
            "{e}"
        );
    }
}
