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

#[derive(Debug, Args)]
pub struct BoundsArgs {
    /// Participant slots, members or not.
    #[arg(long, value_name = "N", default_value_t = 3)]
    participants: u8,
    /// How many participants are members at the start.
    #[arg(long, value_name = "I", default_value_t = 2)]
    initial_members: u8,
    /// Joins and leaves the participants may make.
    #[arg(long, value_name = "K", default_value_t = 2)]
    max_changes: u8,
    /// Drops, reorders, duplicates and forgeries the server may make.
    #[arg(long, value_name = "J", default_value_t = 1)]
    max_interference: u8,
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
        let keyed = protocol == Protocol::OrangeDcKeys.name();
        let orange = protocol == Protocol::OrangeDc.name() || keyed;
        if self.max_total_users.is_some() && !orange {
            anyhow::bail!(
                "--max-total-users applies to --protocol orange-dc and orange-dc-keys only"
            );
        }
        Ok(Bounds {
            participants: if orange {
                // The spec's own bound; the keyed model's 5 needs an honest server (README).
                self.max_total_users.unwrap_or(if keyed { 4 } else { 5 })
            } else {
                self.participants
            },
            initial_members: self.initial_members,
            max_changes: self.max_changes,
            max_interference: self.max_interference,
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
