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
