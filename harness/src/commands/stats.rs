//! What `e2ee live` prints of a call besides its checks: the frames each participant sent,
//! received and opened, the membership changes' rotation latencies, and the benchmark's
//! statistics (latency percentiles, CPU time and peak memory, from /proc).

use crate::live::checks::{Latency, Tally};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Above this many participants the tally table is one line of totals.
const TALLY_ROWS: usize = 20;

/// CPU and wall time something took, and the peak resident memory after it.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub cpu_s: f64,
    pub wall: Duration,
    pub peak_rss_mib: f64,
}

impl Usage {
    /// Runs `f` and measures it.
    pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let value = f();
        let usage = Usage {
            cpu_s: cpu_seconds() - cpu,
            wall: wall.elapsed(),
            peak_rss_mib: peak_rss_mib(),
        };
        (value, usage)
    }
}

/// Frames sent, received, opened and failed per participant; above [`TALLY_ROWS`]
/// participants only the totals.
pub fn write_tallies(
    out: &mut dyn Write,
    tallies: &BTreeMap<String, Tally>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>8} {:>9} {:>8} {:>8}",
        "participant", "sent", "received", "opened", "failed"
    )?;
    let mut total = Tally::default();
    for (who, t) in tallies {
        if tallies.len() <= TALLY_ROWS {
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
    if tallies.len() > TALLY_ROWS {
        writeln!(
            out,
            "{:<12} {:>8} {:>9} {:>8} {:>8}",
            format!("all {}", tallies.len()),
            total.sent,
            total.received,
            total.opened,
            total.received - total.opened
        )?;
    }
    Ok(())
}

/// The rotation latency of each membership change (only the `measured` ones, if given).
pub fn write_latencies(
    out: &mut dyn Write,
    latencies: &[Latency],
    measured: Option<&[String]>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "\nmembership change: last member on the new epoch, from the event | from the request"
    )?;
    let ms = |d: Option<Duration>| {
        d.map_or_else(
            || "   never".to_string(),
            |d| format!("{:>8.1}", d.as_secs_f64() * 1000.0),
        )
    };
    for l in latencies {
        if measured.is_none_or(|m| m.contains(&l.change)) {
            writeln!(
                out,
                "  {:<20} {} ms | {} ms",
                l.change,
                ms(l.from_event),
                ms(l.from_request)
            )?;
        }
    }
    Ok(())
}

/// The benchmark's statistics: latency percentiles of the `measured` changes, the call's and
/// the checks' resource use. Returns them as figures for the results record.
pub fn write_bench(
    out: &mut dyn Write,
    latencies: &[Latency],
    measured: &[String],
    call: Usage,
    checks: Usage,
) -> std::io::Result<BTreeMap<String, f64>> {
    let of_measured: Vec<&Latency> = latencies
        .iter()
        .filter(|l| measured.contains(&l.change))
        .collect();
    let never = of_measured
        .iter()
        .filter(|l| l.from_event.is_none())
        .count();
    let mut figures = BTreeMap::new();
    for (what, pick) in [
        ("event", (|l: &Latency| l.from_event) as fn(&Latency) -> _),
        ("request", |l: &Latency| l.from_request),
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
        call.wall.as_secs_f64(),
        call.cpu_s,
        100.0 * call.cpu_s / call.wall.as_secs_f64() / 2.0,
        call.peak_rss_mib,
        checks.wall.as_secs_f64(),
        checks.cpu_s,
        peak_rss_mib()
    )?;
    figures.insert("bench.call_cpu_s".into(), call.cpu_s);
    figures.insert("bench.call_wall_s".into(), call.wall.as_secs_f64());
    figures.insert("bench.call_peak_rss_mib".into(), call.peak_rss_mib);
    figures.insert("bench.checks_cpu_s".into(), checks.cpu_s);
    Ok(figures)
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

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_the_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.50), 2.0);
        assert_eq!(percentile(&v, 0.99), 4.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
    }
}
