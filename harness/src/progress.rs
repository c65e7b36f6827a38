//! Progress on stderr: a live spinner on a terminal, a single final line otherwise (so logs
//! and CI output keep the figures without a wall of redraws).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// A spinner whose message the caller rewrites as work advances.
#[derive(Debug)]
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    /// Starts drawing on stderr if it is a terminal; stays hidden otherwise.
    pub fn start() -> Spinner {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner { bar }
    }

    pub fn update(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }

    /// Clears the spinner and leaves `message` as one line on stderr, terminal or not.
    pub fn finish(self, message: &str) {
        self.bar.finish_and_clear();
        // Progress is a courtesy: a closed stderr must not stop the check or panic.
        let _ = writeln!(std::io::stderr(), "{message}");
    }
}

/// Runs `run` on every job on `workers` threads (at least one), each taking the next job as it
/// finishes one; the results in job order. `progress(done, total)` after each.
pub fn run_pool<J: Sync, R: Send>(
    jobs: &[J],
    workers: usize,
    run: impl Fn(&J) -> R + Sync,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let result = run(job);
                out.lock().unwrap()[i] = Some(result);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, jobs.len());
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
