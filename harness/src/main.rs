//! `e2ee`: argument parsing and exit codes only; the work is in the `e2ee_harness` library
//! (each command in `e2ee_harness::commands`).
//!
//! Exit codes: 0 every check met its expectation, 1 some check failed, 2 usage or input error.

use clap::{Parser, Subcommand};
use e2ee_harness::commands::{check, dave, interop, live, model, report, serve, vectors};
use std::io::Write;
use std::process::ExitCode;

// Model checking clones a state per transition: mimalloc's small-object paths cut the
// allocator's share of a check (a quarter of its time under glibc malloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "e2ee",
    version,
    about = "Checks an end-to-end encrypted call system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every check the tool has: every design-level model, exhaustively, at 4 participants,
    /// 3 joins or leaves and 1 server interference, and the Orange port at MaxTotalUsers = 5;
    /// given the vectors directory, every test vector and a seeded sample of the IETF interop
    /// scenarios; then the default live call. Writes the report under --reports/TIME/.
    Check(check::CheckArgs),
    /// Implementation level: the IETF MLS test vectors and RFC 9605's SFrame vectors against
    /// every client (openmls, mls-rs, sframe).
    Vectors(vectors::VectorsArgs),
    /// Implementation level: the IETF MLS interop scenarios, client × client, through a delivery
    /// service that records everything and tries to decrypt it.
    Interop(interop::InteropArgs),
    /// Implementation level: Discord's DAVE, every assignment of libdave and davey to each
    /// scenario's seats, through a voice gateway (ours) that records everything and tries to
    /// open every frame with every 16 bytes it carried.
    Dave(dave::DaveArgs),
    /// Deployment level: a real WebRTC call through a recording SFU on loopback, media under
    /// SFrame keyed from MLS; then proof the SFU could decrypt nothing.
    Live(live::LiveArgs),
    /// Design level: Stateright models of each protocol, with the server as adversary.
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// Merge results records (`--json` of any command) into a report: index.html (the verdict
    /// first, then the matrices and every failure's evidence), summary.md, results.json (checked
    /// against reports/schema/report-v2.schema.json) and junit.xml. An unreadable input is
    /// named and listed; the report is still written from the others.
    Report(report::ReportArgs),
    /// Serve one compiled-in client over the IETF interop gRPC interface (`MLSClient`), for the
    /// IETF test runner or `e2ee interop --clients grpc:ADDR`. Loopback by default.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    init_tracing();
    // clap prints its own usage errors and exits 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`e2ee ... | head`) is not worth an error message.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(2),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // webrtc-rs warns about every packet it drops while a connection is still coming up, and
    // openmls logs at ERROR every message it refuses, which the checks already report.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,rtc=error,rtc_ice=error,rtc_dtls=error,webrtc=error,openmls=off")
    });
    // Colour codes only where a terminal will render them, not into log files.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Vectors(args) => vectors::run(args),
        Command::Interop(args) => interop::run(args),
        Command::Dave(args) => dave::run(args),
        Command::Live(args) => live::run(args),
        Command::Model { command } => model::run(command),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
