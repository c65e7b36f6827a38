//! `e2ee live`: the deployment level, a real WebRTC call through the recording SFU; or only
//! the SFU, one participant, the benchmark, or the server-side checks of a saved record.

use super::stats::{self, Usage};
use super::{client_names, runtime, with_record, write_checks, RecordArgs};
use crate::live::script::{self, CommitterPolicy};
use crate::live::{call, checks, record};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum LiveCommand {
    /// Only the SFU: media (UDP) and signalling (TCP, JSON lines) on --listen, for --seconds;
    /// then its record goes through the server-side checks. Prints its address first.
    Sfu(SfuArgs),
    /// The large-call benchmark: N participants, the first --speakers sending audio and video
    /// and the rest listening; all but --rounds join 5 ms apart (joins batched into commits),
    /// then the last --rounds join and --rounds × (rotation, leave, kick) follow 2.5 s apart.
    /// Prints rotation latency p50/p99 of those measured changes, CPU time and peak memory,
    /// and runs the four checks.
    Bench(BenchArgs),
    /// One participant against an SFU elsewhere (`e2ee live sfu`), for --seconds.
    Client(ClientArgs),
    /// Run the server-side checks on a saved SFU record (pcapng from `--record`, or another
    /// SFU's in the same form).
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct SfuArgs {
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    #[arg(long, value_name = "S", default_value_t = 10)]
    seconds: u64,
    #[arg(long, value_name = "POLICY", default_value = "designated")]
    committer: CommitterPolicy,
    /// Forwarding slots of each kind per participant (the first senders get them).
    #[arg(long, value_name = "N", default_value_t = script::DEFAULT_SLOTS as u64,
          value_parser = clap::value_parser!(u64).range(1..=script::MAX_SLOTS as u64))]
    slots: u64,
    /// Also write the record (pcapng).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
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
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The SFU's address.
    #[arg(long, value_name = "ADDR")]
    sfu: SocketAddr,
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
    committer: CommitterPolicy,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The record.
    file: PathBuf,
    #[command(flatten)]
    json: RecordArgs,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
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
    control: Option<crate::live::call::LiveControl>,
    /// Also write the SFU's record (pcapng: RTP on UDP 5004, delivery service on 7000).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    json: RecordArgs,
}

/// `e2ee live`: exit 2 on a bad script or flag, 1 if a check failed.
pub fn run(mut args: LiveArgs) -> anyhow::Result<u8> {
    match args.command.take() {
        Some(LiveCommand::Sfu(sfu_args)) => sfu(sfu_args),
        Some(LiveCommand::Client(client_args)) => client(client_args, args.seed),
        Some(LiveCommand::Replay(replay_args)) => replay(replay_args),
        Some(LiveCommand::Bench(bench_args)) => {
            let plan = Plan::bench(&bench_args)?;
            args.json = bench_args.json;
            call(plan, args)
        }
        None => {
            let plan = Plan::script(&args)?;
            call(plan, args)
        }
    }
}

/// `e2ee live sfu`: the SFU for --seconds, then the server-side checks of its record.
fn sfu(args: SfuArgs) -> anyhow::Result<u8> {
    let runtime = runtime()?;
    let (addr, sfu) = runtime.block_on(call::start_sfu_process(
        args.listen,
        args.committer,
        args.slots as usize,
    ))?;
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    let report = runtime.block_on(async {
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let (reply, got) = tokio::sync::oneshot::channel();
        let _ = sfu.send(crate::live::sfu::SfuCmd::Finish { reply });
        got.await.unwrap_or_default()
    });
    if let Some(path) = &args.record {
        write_record(path, &report.record)?;
    }
    with_record(args.json, |out| {
        let sframe = crate::clients::sframe::Sframe::new();
        let (check, found) = record::server_check(format!("sfu {addr}"), &report.record, &sframe);
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
    })
}

/// `e2ee live client`: exit 1 if the participant met an error.
fn client(args: ClientArgs, seed: u64) -> anyhow::Result<u8> {
    client_names(Some(std::slice::from_ref(&args.client)))?;
    let runtime = runtime()?;
    let events = runtime.block_on(call::run_client(
        &args.name,
        &args.client,
        args.sfu,
        args.creator,
        args.committer,
        Duration::from_secs(args.seconds),
        seed,
    ))?;
    let (mut sent, mut received, mut opened, mut errors) = (0, 0, 0, 0);
    for e in &events {
        use call::Event;
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
    println!(
        "{} ({}): sent {sent}, received {received}, opened {opened}",
        args.name, args.client
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

/// `e2ee live replay`: the server-side checks of a saved record.
fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let file = &args.file;
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let rec = record::Record::read(std::io::BufReader::new(f))
        .with_context(|| format!("{} is not an SFU record", file.display()))?;
    with_record(args.json, |out| {
        let sframe = crate::clients::sframe::Sframe::new();
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
    })
}

/// Writes an SFU record (pcapng) to `path`.
fn write_record(path: &Path, record: &record::Record) -> anyhow::Result<()> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    record.write(std::io::BufWriter::new(f))?;
    Ok(())
}

/// The call to run: where its script comes from and its text; for the benchmark, the index
/// of its first measured event.
#[derive(Debug)]
struct Plan {
    file: String,
    text: String,
    bench: Option<usize>,
}

impl Plan {
    /// `e2ee live bench`: the generated benchmark script.
    fn bench(args: &BenchArgs) -> anyhow::Result<Plan> {
        let BenchArgs {
            participants,
            speakers,
            rounds,
            ..
        } = *args;
        if speakers == 0 || speakers > script::MAX_SLOTS || participants < speakers + 1 {
            anyhow::bail!(
                "--speakers must be 1 to {} and below --participants",
                script::MAX_SLOTS
            );
        }
        let chosen = client_names(args.clients.as_deref())?;
        let text = script::bench(participants, speakers, rounds, &chosen);
        let rounds = rounds.min(participants.saturating_sub(speakers + 1) / 3);
        Ok(Plan {
            file: format!("bench {participants}/{speakers}"),
            text,
            bench: Some(participants - rounds),
        })
    }

    /// `e2ee live`: --script, --participants, or the default script.
    fn script(args: &LiveArgs) -> anyhow::Result<Plan> {
        let (file, text) = match (&args.script, args.participants) {
            (Some(path), _) => (
                path.display().to_string(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            ),
            (None, Some(n)) => {
                if n == 0 {
                    anyhow::bail!("--participants must be at least 1");
                }
                let chosen = client_names(args.clients.as_deref())?;
                (format!("--participants {n}"), script::generated(n, &chosen))
            }
            (None, None) => (
                "the default script".to_string(),
                script::DEFAULT.to_string(),
            ),
        };
        Ok(Plan {
            file,
            text,
            bench: None,
        })
    }
}

/// Runs the planned call, prints what it carried and its checks.
fn call(plan: Plan, args: LiveArgs) -> anyhow::Result<u8> {
    let call_script = script::parse(&plan.file, &plan.text, &client_names(None)?)?;
    let subject = format!(
        "live/{} ({} participants, {:?} committer{})",
        args.script
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(
                || if plan.bench.is_some() {
                    "bench"
                } else {
                    "default"
                }
                .to_string(),
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
    let measured: Option<Vec<String>> = plan.bench.map(|first| {
        call_script.events[first..]
            .iter()
            .map(|e| format!("{} {}", e.kind.name(), e.participant))
            .collect()
    });
    with_record(args.json, |out| {
        let spinner = crate::progress::Spinner::start();
        spinner.update(&format!(
            "call running ({} s)",
            call_script.end_ms() as f64 / 1000.0
        ));
        let (call, call_usage) = Usage::measure(|| {
            runtime.block_on(call::run(call_script, args.listen, args.control, args.seed))
        });
        let call = call?;
        spinner.finish(&format!(
            "call of {} participants done",
            call.script.participants.len()
        ));
        if let Some(path) = &args.record {
            write_record(path, &call.sfu.record)?;
            writeln!(
                out,
                "SFU record: {} ({} packets)",
                path.display(),
                call.sfu.record.packets.len()
            )?;
        }
        let (mut judged, judge_usage) = Usage::measure(|| checks::judge(&call, &subject));
        stats::write_tallies(out, &judged.tallies)?;
        stats::write_latencies(out, &judged.latencies, measured.as_deref())?;
        let commits: std::collections::BTreeSet<(Duration, &str)> = call
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
        if let Some(measured) = &measured {
            let figures =
                stats::write_bench(out, &judged.latencies, measured, call_usage, judge_usage)?;
            if let Some(first) = judged.checks.first_mut() {
                first.figures.extend(figures);
            }
        }
        write_checks(out, &judged.checks)?;
        Ok(judged.checks)
    })
}
