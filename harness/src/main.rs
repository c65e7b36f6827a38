//! `e2ee`: argument parsing and exit codes only; the work is in the `e2ee_harness` library.
//!
//! Exit codes: 0 every check met its expectation, 1 some check failed, 2 usage or input error.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use e2ee_harness::model_cmd::{self, Request};
use e2ee_harness::results::{self, Check, Run};
use e2ee_model::{Bounds, CheckOptions, Protocol};
use std::io::Write;
use std::path::PathBuf;
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
    /// scenarios; then the default live call. Writes the report under --reports/<time>/.
    Check {
        /// The vectors directory for the implementation level [default: $E2EE_VECTORS; without
        /// either, that level is recorded as skipped].
        #[arg(long, value_name = "DIR")]
        vectors: Option<PathBuf>,
        /// Where the report goes: a new directory <time> inside it.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        reports: PathBuf,
        #[command(flatten)]
        json: RecordArgs,
    },
    /// Implementation level: the IETF MLS test vectors and RFC 9605's SFrame vectors against
    /// every client (openmls, mls-rs, sframe).
    Vectors(VectorsArgs),
    /// Implementation level: the IETF MLS interop scenarios, client × client, through a delivery
    /// service that records everything and tries to decrypt it.
    Interop(InteropArgs),
    /// Deployment level: a real WebRTC call through a recording SFU on loopback, media under
    /// SFrame keyed from MLS; then proof the SFU could decrypt nothing.
    Live(LiveArgs),
    /// Design level: Stateright models of each protocol, with the server as adversary.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Merge results records (`--json` of any command) into a report: index.html (the verdict
    /// first, then the matrices and every failure's evidence), summary.md, results.json (checked
    /// against reports/schema/report-v1.schema.json) and junit.xml. An unreadable input is
    /// named and listed; the report is still written from the others.
    Report {
        /// The results files.
        #[arg(long = "in", value_name = "FILE", num_args = 1.., required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write the report.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Known findings to judge the inputs' failures against (TOML, as `e2ee check
        /// --expect`), on top of any their commands were judged against.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// List protocols, properties and mutants, one per line.
    List,
    /// Check protocols against every property and print the verdicts.
    Check(ModelCheckArgs),
    /// Serve Stateright's Explorer to step through a model in the browser (blocks).
    Explore(ExploreArgs),
}

#[derive(Debug, Subcommand)]
enum VectorsCommand {
    /// Make this project's own vectors with one client (RFC 9605 §5.2 has none published).
    Generate {
        /// Which vectors: mls-sframe (the MLS exporter → SFrame binding).
        #[arg(long, value_name = "KIND")]
        kind: String,
        /// The MLS client that makes them.
        #[arg(long, value_name = "NAME", default_value = "mls-rs")]
        client: String,
        /// Where to write them.
        #[arg(long, value_name = "FILE", default_value = "vectors/mls-sframe.json")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct VectorsArgs {
    #[command(subcommand)]
    command: Option<VectorsCommand>,
    /// Only these clients (comma-separated: openmls, mls-rs, sframe) [default: all].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    client: Option<Vec<String>>,
    /// The vectors directory (every *.json under it is read) [default: $E2EE_VECTORS].
    #[arg(long, value_name = "DIR")]
    vectors: Option<PathBuf>,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Args)]
struct InteropArgs {
    /// MLS clients that play the actors (comma-separated) [default: openmls,mls-rs].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    clients: Option<Vec<String>>,
    /// A scenario config, or a directory of them [default: <vectors>/mls-interop].
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
    control: Option<e2ee_harness::interop::runner::Control>,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Subcommand)]
enum LiveCommand {
    /// Only the SFU: media (UDP) and signalling (TCP, JSON lines) on --listen, for --seconds;
    /// then its record goes through the server-side checks. Prints its address first.
    Sfu {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long, value_name = "S", default_value_t = 10)]
        seconds: u64,
        #[arg(long, value_name = "POLICY", default_value = "designated")]
        committer: e2ee_harness::live::script::CommitterPolicy,
        /// Forwarding slots of each kind per participant (the first senders get them).
        #[arg(long, value_name = "N", default_value_t = e2ee_harness::live::script::DEFAULT_SLOTS as u64,
              value_parser = clap::value_parser!(u64).range(1..=e2ee_harness::live::script::MAX_SLOTS as u64))]
        slots: u64,
        /// Also write the record (pcapng).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        #[command(flatten)]
        json: RecordArgs,
    },
    /// The large-call benchmark: N participants, the first --speakers sending audio and video
    /// and the rest listening; all but --rounds join 5 ms apart (joins batched into commits),
    /// then the last --rounds join and --rounds × (rotation, leave, kick) follow 2.5 s apart.
    /// Prints rotation latency p50/p99 of those measured changes, CPU time and peak memory,
    /// and runs the four checks.
    Bench {
        #[arg(long, value_name = "N", default_value_t = 200)]
        participants: usize,
        #[arg(long, value_name = "K", default_value_t = 2)]
        speakers: usize,
        #[arg(long, value_name = "R", default_value_t = 5)]
        rounds: usize,
        /// The MLS clients the participants use in turn [default: all].
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        clients: Option<Vec<String>>,
        #[command(flatten)]
        json: RecordArgs,
    },
    /// One participant against an SFU elsewhere (`e2ee live sfu`), for --seconds.
    Client {
        /// The SFU's address.
        #[arg(long, value_name = "ADDR")]
        sfu: std::net::SocketAddr,
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Its MLS client.
        #[arg(long, value_name = "NAME", default_value = "openmls")]
        client: String,
        /// The first participant of the call creates the group.
        #[arg(long)]
        creator: bool,
        #[arg(long, value_name = "S", default_value_t = 5)]
        seconds: u64,
        #[arg(long, value_name = "POLICY", default_value = "designated")]
        committer: e2ee_harness::live::script::CommitterPolicy,
    },
    /// Run the server-side checks on a saved SFU record (pcapng from `--record`, or another
    /// SFU's in the same form).
    Replay {
        /// The record.
        file: PathBuf,
        #[command(flatten)]
        json: RecordArgs,
    },
}

#[derive(Debug, Args)]
struct LiveArgs {
    #[command(subcommand)]
    command: Option<LiveCommand>,
    /// A call script (TOML) [default: the built-in one, four participants, every event].
    #[arg(long, value_name = "FILE", conflicts_with = "participants")]
    script: Option<PathBuf>,
    /// Instead of a script: N participants, joining 200 ms apart (the last 1.5 s after the one
    /// before it, so a joiner is fed frames older than the grace window), then a rotation, a
    /// mute, a kick and a leave.
    #[arg(long, value_name = "N")]
    participants: Option<usize>,
    /// The MLS clients the generated participants use in turn (with --participants).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "participants"
    )]
    clients: Option<Vec<String>>,
    /// Where the SFU listens [default: 127.0.0.1, any port].
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Seed a bug the checks must flag: escrow (participants hand their media keys to the SFU)
    /// or no-rotate (departures without a commit).
    #[arg(long, value_name = "NAME")]
    control: Option<e2ee_harness::live::call::LiveControl>,
    /// Also write the SFU's record (pcapng: RTP on UDP 5004, delivery service on 7000).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HandshakeMode {
    Private,
    Public,
}

#[derive(Debug, Args)]
struct RecordArgs {
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
    fn expectations(
        &self,
        known: bool,
    ) -> anyhow::Result<Option<e2ee_harness::expect::Expectations>> {
        use e2ee_harness::expect::Expectations;
        Ok(match self.expect.as_deref() {
            Some("none") => None,
            Some(path) => Some(Expectations::read(std::path::Path::new(path))?),
            None if known => Some(Expectations::known_findings()),
            None => None,
        })
    }
}

#[derive(Debug, Args)]
struct BoundsArgs {
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
enum StrategyArg {
    /// Breadth-first: shortest counterexamples (single-threaded).
    Bfs,
    /// Depth-first: less memory; needed for --symmetry.
    Dfs,
}

#[derive(Debug, Args)]
struct ModelCheckArgs {
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
struct ExploreArgs {
    /// The protocol to explore.
    #[arg(long, value_name = "P")]
    protocol: String,
    /// Address to serve the Explorer on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    #[command(flatten)]
    bounds: BoundsArgs,
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
        Command::Check {
            vectors,
            reports,
            json,
        } => {
            let expectations = json.expectations(true)?;
            let run = record_judged(json, expectations, |out| {
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
            let report = e2ee_harness::report::Report::from_runs(
                vec![(input.display().to_string(), run)],
                vec![],
            );
            report.write(&dir)?;
            print_verdict(&report)?;
            println!("report: {}", dir.join("index.html").display());
            Ok(report.exit_code())
        }
        Command::Report {
            inputs,
            out,
            expect,
        } => {
            let expectations = expect
                .as_deref()
                .map(e2ee_harness::expect::Expectations::read)
                .transpose()?;
            let report =
                e2ee_harness::report::Report::from_files_expecting(&inputs, expectations.as_ref());
            for r in &report.rejected {
                eprintln!("error: {}", r.error);
            }
            report.write(&out)?;
            print_verdict(&report)?;
            println!("report: {}", out.join("index.html").display());
            Ok(report.exit_code())
        }
        Command::Vectors(args) => run_vectors(args),
        Command::Interop(args) => run_interop(args),
        Command::Live(args) => run_live(args),
        Command::Model { command } => match command {
            ModelCommand::List => {
                let text = model_cmd::render_listing(&e2ee_model::listing());
                std::io::stdout().lock().write_all(text.as_bytes())?;
                Ok(0)
            }
            ModelCommand::Check(args) => {
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
            ModelCommand::Explore(args) => {
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
        },
    }
}

/// The vectors part of `e2ee check`: every client over the directory, or one skipped check
/// saying why there is no directory.
/// The interop level of `e2ee check`: a seeded sample (`e2ee interop` runs them all).
fn check_interop(flag: Option<PathBuf>, out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use e2ee_harness::{clients, interop, vectors};
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
    let all = clients::mls_clients();
    let chosen: Vec<&dyn clients::MlsClient> = all.iter().map(|c| c.as_ref()).collect();
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

/// The default live call and its four checks.
fn check_live(out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use e2ee_harness::live::{call, checks, script};
    let names: Vec<&str> = e2ee_harness::clients::mls_clients()
        .iter()
        .map(|c| c.name())
        .collect();
    let s = script::parse("the default script", script::DEFAULT, &names)?;
    let runtime = runtime()?;
    let spinner = e2ee_harness::progress::Spinner::start();
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
    for c in &judged.checks {
        writeln!(out, "{:<14} {}: {}", c.verdict.as_str(), c.name, c.reason)?;
    }
    Ok(judged.checks)
}

fn check_vectors(flag: Option<PathBuf>, out: &mut dyn Write) -> anyhow::Result<Vec<Check>> {
    use e2ee_harness::vectors;
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

/// `e2ee live`: exit 2 on a bad script or flag, 1 if a check failed.
fn run_live(args: LiveArgs) -> anyhow::Result<u8> {
    use e2ee_harness::clients;
    use e2ee_harness::live::{checks, record, script};
    let names: Vec<&str> = clients::mls_clients().iter().map(|c| c.name()).collect();
    if let Some(LiveCommand::Sfu {
        listen,
        seconds,
        committer,
        slots,
        record: record_file,
        json,
    }) = args.command
    {
        let runtime = runtime()?;
        let (addr, sfu) = runtime.block_on(e2ee_harness::live::call::start_sfu_process(
            listen,
            committer,
            slots as usize,
        ))?;
        println!("listening on {addr}");
        std::io::stdout().flush()?;
        let report = runtime.block_on(async {
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            let (reply, got) = tokio::sync::oneshot::channel();
            let _ = sfu.send(e2ee_harness::live::sfu::SfuCmd::Finish { reply });
            got.await.unwrap_or_default()
        });
        if let Some(path) = &record_file {
            let f = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            report.record.write(std::io::BufWriter::new(f))?;
        }
        return with_record(json, |out| {
            let sframe = clients::sframe::Sframe::new();
            let (check, found) =
                record::server_check(format!("sfu {addr}"), &report.record, &sframe);
            writeln!(
                out,
                "{} frames, {} delivery-service messages, {} commits, {} epochs ({} sender-epochs), {} candidate keys tried",
                found.frames,
                found.ds_messages,
                report.committed.len(),
                found.epochs,
                found.kids,
                found.candidate_keys
            )?;
            Ok(vec![check])
        });
    }
    if let Some(LiveCommand::Client {
        sfu,
        name,
        client,
        creator,
        seconds,
        committer,
    }) = args.command
    {
        clients::by_names(Some(std::slice::from_ref(&client)))?;
        let runtime = runtime()?;
        let events = runtime.block_on(e2ee_harness::live::call::run_client(
            &name,
            &client,
            sfu,
            creator,
            committer,
            std::time::Duration::from_secs(seconds),
            args.seed,
        ))?;
        let (mut sent, mut received, mut opened, mut errors) = (0, 0, 0, 0);
        for e in &events {
            use e2ee_harness::live::call::Event;
            match e {
                Event::Sent { .. } => sent += 1,
                Event::Received {
                    opened: o, retried, ..
                } => {
                    received += usize::from(!retried);
                    opened += usize::from(*o);
                }
                Event::Error { what, .. } => {
                    errors += 1;
                    eprintln!("error: {what}");
                }
                _ => {}
            }
        }
        println!("{name} ({client}): sent {sent}, received {received}, opened {opened}");
        return Ok(if errors > 0 { 1 } else { 0 });
    }
    if let Some(LiveCommand::Replay { file, json }) = args.command {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        let rec = record::Record::read(std::io::BufReader::new(f))
            .with_context(|| format!("{} is not an SFU record", file.display()))?;
        return with_record(json, |out| {
            let sframe = clients::sframe::Sframe::new();
            let (check, found) =
                record::server_check(format!("record {}", file.display()), &rec, &sframe);
            writeln!(
                out,
                "{}: {} frames, {} delivery-service messages, {} epochs ({} sender-epochs), {} candidate keys tried",
                file.display(),
                found.frames,
                found.ds_messages,
                found.epochs,
                found.kids,
                found.candidate_keys
            )?;
            for f in found.canaries.iter().chain(&found.decrypted) {
                writeln!(out, "  {f}")?;
            }
            Ok(vec![check])
        });
    }
    // The benchmark: its script, and where its measured events start.
    let mut bench = None;
    let mut json = args.json;
    let (file, text) = match (&args.script, args.participants) {
        _ if matches!(args.command, Some(LiveCommand::Bench { .. })) => {
            let Some(LiveCommand::Bench {
                participants,
                speakers,
                rounds,
                clients,
                json: bench_json,
            }) = args.command
            else {
                unreachable!()
            };
            if speakers == 0 || speakers > script::MAX_SLOTS || participants < speakers + 1 {
                anyhow::bail!(
                    "--speakers must be 1 to {} and below --participants",
                    script::MAX_SLOTS
                );
            }
            json = bench_json;
            let chosen = chosen_clients(clients)?;
            let text = script::bench(participants, speakers, rounds, &chosen);
            let rounds = rounds.min(participants.saturating_sub(speakers + 1) / 3);
            bench = Some(participants - rounds);
            (format!("bench {participants}/{speakers}"), text)
        }
        (Some(path), _) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        (None, Some(n)) => {
            if n == 0 {
                anyhow::bail!("--participants must be at least 1");
            }
            let chosen = chosen_clients(args.clients.clone())?;
            (format!("--participants {n}"), script::generated(n, &chosen))
        }
        (None, None) => (
            "the default script".to_string(),
            script::DEFAULT.to_string(),
        ),
    };
    let call_script = script::parse(&file, &text, &names)?;
    let subject = format!(
        "live/{} ({} participants, {:?} committer{})",
        args.script
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(
                || if bench.is_some() { "bench" } else { "default" }.to_string(),
                |s| s.to_string_lossy().into_owned()
            ),
        call_script.participants.len(),
        call_script.committer,
        args.control
            .map(|c| format!(", control {}", c.name()))
            .unwrap_or_default()
    );
    let runtime = runtime()?;
    // Measured events of the benchmark: "join p195", "leave p193", ...
    let measured: Vec<String> = bench
        .map(|first| {
            call_script.events[first..]
                .iter()
                .map(|e| format!("{} {}", e.kind.name(), e.participant))
                .collect()
        })
        .unwrap_or_default();
    with_record(json, |out| {
        let spinner = e2ee_harness::progress::Spinner::start();
        spinner.update(&format!(
            "call running ({} s)",
            call_script.end_ms() as f64 / 1000.0
        ));
        let cpu_before = cpu_seconds();
        let wall = std::time::Instant::now();
        let call = runtime.block_on(e2ee_harness::live::call::run(
            call_script,
            args.listen,
            args.control,
            args.seed,
        ))?;
        let (call_cpu, call_wall, call_rss) =
            (cpu_seconds() - cpu_before, wall.elapsed(), peak_rss_mib());
        spinner.finish(&format!(
            "call of {} participants done",
            call.script.participants.len()
        ));
        if let Some(path) = &args.record {
            let f = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            call.sfu.record.write(std::io::BufWriter::new(f))?;
            writeln!(
                out,
                "SFU record: {} ({} packets)",
                path.display(),
                call.sfu.record.packets.len()
            )?;
        }
        let (judge_cpu, judge_wall) = (cpu_seconds(), std::time::Instant::now());
        let mut judged = checks::judge(&call, &subject);
        let (judge_cpu, judge_wall) = (cpu_seconds() - judge_cpu, judge_wall.elapsed());
        writeln!(
            out,
            "{:<12} {:>8} {:>9} {:>8} {:>8}",
            "participant", "sent", "received", "opened", "failed"
        )?;
        let mut total = checks::Tally::default();
        for (who, t) in &judged.tallies {
            if judged.tallies.len() <= 20 {
                writeln!(
                    out,
                    "{who:<12} {:>8} {:>9} {:>8} {:>8}",
                    t.sent,
                    t.received,
                    t.opened,
                    t.received - t.opened
                )?;
            }
            total.sent += t.sent;
            total.received += t.received;
            total.opened += t.opened;
        }
        if judged.tallies.len() > 20 {
            writeln!(
                out,
                "{:<12} {:>8} {:>9} {:>8} {:>8}",
                format!("all {}", judged.tallies.len()),
                total.sent,
                total.received,
                total.opened,
                total.received - total.opened
            )?;
        }
        writeln!(
            out,
            "\nmembership change: last member on the new epoch, from the event | from the request"
        )?;
        let ms = |d: Option<std::time::Duration>| {
            d.map_or_else(
                || "   never".to_string(),
                |d| format!("{:>8.1}", d.as_secs_f64() * 1000.0),
            )
        };
        for l in &judged.latencies {
            let shown = bench.is_none() || measured.contains(&l.change);
            if shown {
                writeln!(
                    out,
                    "  {:<20} {} ms | {} ms",
                    l.change,
                    ms(l.from_event),
                    ms(l.from_request)
                )?;
            }
        }
        let commits: std::collections::BTreeSet<(std::time::Duration, &str)> = call
            .sfu
            .committed
            .iter()
            .map(|c| (c.at, c.committer.as_str()))
            .collect();
        writeln!(
            out,
            "\n{} membership changes in {} commits; grace window: {} ms",
            call.sfu.committed.len(),
            commits.len(),
            call.script.grace_ms
        )?;
        if bench.is_some() {
            let of_measured: Vec<&checks::Latency> = judged
                .latencies
                .iter()
                .filter(|l| measured.contains(&l.change))
                .collect();
            let never = of_measured
                .iter()
                .filter(|l| l.from_event.is_none())
                .count();
            let mut figures = std::collections::BTreeMap::new();
            for (what, pick) in [
                (
                    "event",
                    (|l: &checks::Latency| l.from_event) as fn(&checks::Latency) -> _,
                ),
                ("request", |l: &checks::Latency| l.from_request),
            ] {
                let mut v: Vec<f64> = of_measured
                    .iter()
                    .filter_map(|l| pick(l))
                    .map(|d| d.as_secs_f64() * 1000.0)
                    .collect();
                v.sort_by(f64::total_cmp);
                let (p50, p99) = (percentile(&v, 0.50), percentile(&v, 0.99));
                writeln!(
                    out,
                    "rotation latency from the {what}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms ({} changes)",
                    v.last().copied().unwrap_or(0.0),
                    v.len()
                )?;
                figures.insert(format!("bench.latency_from_{what}_p50_ms"), p50);
                figures.insert(format!("bench.latency_from_{what}_p99_ms"), p99);
            }
            if never > 0 {
                writeln!(out, "{never} measured changes never reached every member")?;
            }
            writeln!(
                out,
                "call: {:.1} s wall, {:.1} s CPU ({:.0}% of 2 cores), peak RSS {:.0} MiB; checks: {:.1} s wall, {:.1} s CPU; peak RSS {:.0} MiB",
                call_wall.as_secs_f64(),
                call_cpu,
                100.0 * call_cpu / call_wall.as_secs_f64() / 2.0,
                call_rss,
                judge_wall.as_secs_f64(),
                judge_cpu,
                peak_rss_mib()
            )?;
            figures.insert("bench.call_cpu_s".into(), call_cpu);
            figures.insert("bench.call_wall_s".into(), call_wall.as_secs_f64());
            figures.insert("bench.call_peak_rss_mib".into(), call_rss);
            figures.insert("bench.checks_cpu_s".into(), judge_cpu);
            if let Some(first) = judged.checks.first_mut() {
                first.figures.extend(figures);
            }
        }
        for c in &judged.checks {
            writeln!(out, "{:<14} {}: {}", c.verdict.as_str(), c.name, c.reason)?;
        }
        Ok(judged.checks)
    })
}

/// The MLS clients named by --clients (all of them by default); unknown names are a usage error.
fn chosen_clients(chosen: Option<Vec<String>>) -> anyhow::Result<Vec<&'static str>> {
    let chosen = e2ee_harness::clients::by_names(chosen.as_deref())?;
    Ok(chosen.iter().map(|c| c.name()).collect())
}

/// The multi-thread tokio runtime the live calls run on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// CPU time (user + system) this process has used, from /proc/self/stat (Linux: fields 14 and
/// 15, in USER_HZ = 100 ticks a second); 0 elsewhere.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The command name (field 2) may hold spaces: count from its closing parenthesis.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Peak resident memory of this process so far (VmHWM), in MiB; 0 where /proc is missing.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `q` quantile of sorted values (nearest rank); 0 for none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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

/// `e2ee interop`: exit 2 if nothing could be run, 1 if a check failed or a script was
/// malformed (the others still run).
fn run_interop(args: InteropArgs) -> anyhow::Result<u8> {
    use e2ee_harness::{clients, interop, vectors};
    let all = clients::by_names(args.clients.as_deref())?;
    let chosen: Vec<&dyn clients::MlsClient> = all.iter().map(|c| c.as_ref()).collect();
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
    let code = with_record(args.json, |out| {
        let spinner = e2ee_harness::progress::Spinner::start();
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

/// `e2ee vectors`: exit 2 if nothing could be read, 1 if a case failed or could not be read.
fn run_vectors(args: VectorsArgs) -> anyhow::Result<u8> {
    use e2ee_harness::vectors;
    if let Some(VectorsCommand::Generate { kind, client, out }) = args.command {
        return generate_vectors(&kind, &client, &out);
    }
    let selection = vectors::Selection::named(args.client.as_deref())?;
    let dir = vectors::directory(args.vectors)?;
    if !dir.is_dir() {
        anyhow::bail!("vectors directory {} does not exist", dir.display());
    }
    let mut unread = false;
    let mut nothing = false;
    let code = with_record(args.json, |out| {
        let spinner = e2ee_harness::progress::Spinner::start();
        let start = std::time::Instant::now();
        let dirs = vectors::with_own(dir.clone());
        let outcome = vectors::run(&dirs, &selection, &mut |file| {
            spinner.update(&format!("{}", file.display()));
        })?;
        spinner.finish(&format!(
            "read {} cases in {:.1} s",
            outcome.cases_read,
            start.elapsed().as_secs_f64()
        ));
        for e in &outcome.input_errors {
            tracing::error!("{e}");
        }
        out.write_all(vectors::render(&outcome, &dirs).as_bytes())?;
        unread = !outcome.input_errors.is_empty();
        nothing = outcome.nothing_read();
        Ok(outcome.into_checks())
    })?;
    Ok(if nothing {
        2
    } else if unread {
        code.max(1)
    } else {
        code
    })
}

/// `e2ee vectors generate`: writes the cases, or says why not (exit 2: the inputs were wrong;
/// exit 1: the client failed to make them).
fn generate_vectors(kind: &str, client: &str, out: &std::path::Path) -> anyhow::Result<u8> {
    use e2ee_harness::clients;
    use e2ee_harness::vectors::mls_sframe;
    if kind != "mls-sframe" {
        anyhow::bail!("unknown --kind `{kind}` (known: mls-sframe)");
    }
    let mls = clients::by_names(Some(&[client.to_string()]))
        .map_err(|e| {
            anyhow::anyhow!(
                "unknown --client `{}` (MLS clients: {})",
                e.name,
                e.known.join(", ")
            )
        })?
        .remove(0);
    let sframe = clients::sframe_clients().remove(0);
    let cases = match mls_sframe::generate(mls.as_ref(), sframe.as_ref()) {
        Ok(cases) => cases,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: {client} could not make them: {e}"
            );
            return Ok(1);
        }
    };
    let text = serde_json::to_string_pretty(&cases)? + "\n";
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} mls-sframe cases made by {client} to {}",
        cases.len(),
        out.display()
    );
    Ok(0)
}

/// The security answers, the findings and the verdict, as the report leads with them.
fn print_verdict(report: &e2ee_harness::report::Report) -> anyhow::Result<()> {
    use e2ee_harness::findings::FindingStatus;
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

/// Runs `body` inside a results record: prints the summary, writes `--json` if asked, and
/// turns the verdicts into the exit code.
fn with_record(
    args: RecordArgs,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<Vec<Check>>,
) -> anyhow::Result<u8> {
    let expectations = args.expectations(false)?;
    Ok(record_judged(args, expectations, body)?.exit_code())
}

/// Runs `body`, judges its checks against `expectations`, prints the summary line and saves
/// the record where --json says.
fn record_judged(
    args: RecordArgs,
    expectations: Option<e2ee_harness::expect::Expectations>,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<Vec<Check>>,
) -> anyhow::Result<Run> {
    let argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let mut run = Run::new(results::command_line(argv));
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
    for f in e2ee_harness::findings::group(&unexpected) {
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
