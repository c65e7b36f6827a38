//! `cargo bench -p e2ee-model --bench orange_tla [N]`: the full check of the port of Cloudflare's
//! TLA+ Orange model at MaxTotalUsers = N (default 5), breadth-first on every core, beside TLC's
//! own run (Orange.toolbox/Model_1/MC.out at 404f994: TLC 2.19, 16 workers on 8 cores,
//! 55,374,565 states generated, 20,165,835 distinct, 1,303,969 ms).

use e2ee_model::protocols::orange_tla::OrangeTla;
use stateright::{Checker, Model};
mod common;
use common::peak_rss_mib;
use std::time::Instant;

// The allocator the `e2ee` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u8 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let model = OrangeTla::new(n);
    let properties = model.properties().len();
    let start = Instant::now();
    let checker = model.checker().threads(threads).spawn_bfs().join();
    let secs = start.elapsed().as_secs_f64();
    let violated = checker.discoveries().len();
    println!("| checker | MaxTotalUsers | distinct | generated | wall | states/s | peak memory | invariants |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| e2ee port, {threads} threads | {n} | {} | {} | {secs:.1} s | {:.0} | {:.0} MiB | {} of {properties} violated |",
        checker.unique_state_count(),
        checker.state_count(),
        checker.state_count() as f64 / secs,
        peak_rss_mib(),
        violated
    );
    if n == 5 {
        println!("| TLC 2.19, 16 workers on 8 cores | 5 | 20165835 | 55374565 | 1304.0 s | 42466 | — | 0 violated |");
    }
}
