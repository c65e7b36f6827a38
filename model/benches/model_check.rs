//! `cargo bench -p e2ee-model`: states/s, unique states, wall time and peak memory per protocol
//! at 3, 4 and 5 participants, and at the 4-participant target bounds, with every server power
//! enabled. One exhaustive breadth-first run per row (counts are deterministic, so repeated
//! sampling would only cost minutes), each in its own process so that peak memory is the row's.
//!
//! Environment: `E2EE_BENCH_THREADS` (default 2), `E2EE_BENCH_TIMEOUT` seconds per row (default
//! 300; a row over it is reported as such). A filter argument selects protocols by name.

use e2ee_model::{check, Bounds, CheckOptions, Protocol, Strategy};
mod common;
use common::peak_rss_mib;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The allocator the `e2ee` binary uses, so the numbers are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (participants, changes, interference): the scaling rows, then the target rows.
const ROWS: &[(u8, u8, u8)] = &[(3, 2, 1), (4, 2, 1), (5, 2, 1), (4, 3, 1), (4, 3, 2)];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one row in this process and prints its table line.
fn run_row(protocol: Protocol, (participants, max_changes, max_interference): (u8, u8, u8)) {
    let opts = CheckOptions {
        protocol,
        bounds: Bounds {
            participants,
            initial_members: 2,
            max_changes,
            max_interference,
        },
        mutant: None,
        threads: env_or("E2EE_BENCH_THREADS", 2),
        symmetry: false,
        strategy: Strategy::Bfs,
    };
    match check(&opts, &mut |_| {}) {
        Ok(out) => {
            let secs = out.elapsed.max(Duration::from_millis(1)).as_secs_f64();
            let verdict = if out.expectation_met() {
                "all hold"
            } else {
                "VIOLATION"
            };
            println!(
                "| {protocol} | {participants} | {max_changes} | {max_interference} | {} | {} | {:.0} | {secs:.1} s | {:.0} MiB | {verdict} |",
                out.unique_state_count,
                out.state_count,
                out.state_count as f64 / secs,
                peak_rss_mib()
            );
        }
        Err(e) => println!(
            "| {protocol} | {participants} | {max_changes} | {max_interference} | error: {e} |"
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(row) = args.iter().position(|a| a == "--row") {
        let spec: Vec<&str> = args[row + 1].split(',').collect();
        let protocol: Protocol = spec[0].parse().expect("protocol");
        let n = |i: usize| spec[i].parse::<u8>().expect("bound");
        run_row(protocol, (n(1), n(2), n(3)));
        return;
    }
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let timeout = Duration::from_secs(env_or("E2EE_BENCH_TIMEOUT", 300));
    let me = std::env::current_exe().expect("own path");
    println!("| protocol | participants | changes | interference | unique states | states | states/s | wall | peak RSS | properties |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for protocol in Protocol::default_run() {
        if !filter.is_empty() && !filter.iter().any(|f| protocol.name().contains(f.as_str())) {
            continue;
        }
        for &(p, c, i) in ROWS {
            let mut child = Command::new(&me)
                .args(["--row", &format!("{protocol},{p},{c},{i}")])
                .stdout(Stdio::inherit())
                .spawn()
                .expect("spawn a row");
            let start = Instant::now();
            loop {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                if start.elapsed() > timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    println!(
                        "| {protocol} | {p} | {c} | {i} | over {} s: not finished | | | | | |",
                        timeout.as_secs()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
