//! `cargo bench -p e2ee-model`: states/s, unique states, wall time and peak memory per protocol
//! at 3, 4 and 5 participants (3 joins or leaves, 1 server interference: drop, reorder, replay or
//! forgery). One exhaustive run per row (a model
//! check is deterministic in its counts, so repeated sampling would only cost minutes).
//! `E2EE_BENCH_MAX=4` stops after 4 participants; `E2EE_BENCH_THREADS` sets checker threads.

use e2ee_model::{check, Bounds, CheckOptions, Protocol, Strategy};
use std::time::Duration;

/// Peak resident memory of this process so far, from /proc (Linux); 0 elsewhere.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects protocols by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let max: u8 = std::env::var("E2EE_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let threads: usize = std::env::var("E2EE_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    println!("| protocol | participants | changes | interference | unique states | states | states/s | wall | peak RSS (process) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for protocol in Protocol::ALL {
        if !filter.is_empty() && !filter.iter().any(|f| protocol.name().contains(f.as_str())) {
            continue;
        }
        for participants in 3..=max {
            let bounds = Bounds {
                participants,
                initial_members: 2,
                max_changes: 3,
                max_interference: 1,
            };
            let opts = CheckOptions {
                protocol,
                bounds,
                mutant: None,
                threads,
                symmetry: false,
                strategy: Strategy::Bfs,
            };
            let out = match check(&opts, &mut |_| {}) {
                Ok(out) => out,
                Err(e) => {
                    eprintln!("{protocol} at {participants}: {e}");
                    continue;
                }
            };
            let secs = out.elapsed.max(Duration::from_millis(1)).as_secs_f64();
            println!(
                "| {protocol} | {participants} | {} | {} | {} | {} | {:.0} | {:.1} s | {:.0} MiB |",
                bounds.max_changes,
                bounds.max_interference,
                out.unique_state_count,
                out.state_count,
                out.state_count as f64 / secs,
                secs,
                peak_rss_mib()
            );
        }
    }
}
