//! Progress of a sweep on stderr: a bar with runs done, rate and ETA on a terminal, plain lines
//! (at each 10 %, at most one a second, and at least every 10 s) otherwise, nothing when asked.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else plain lines.
    Auto,
    /// Plain lines.
    Lines,
    /// Nothing.
    Off,
}

/// Progress of one invocation: `done` of `total` runs of this shard, `before` of them done
/// by earlier invocations.
#[derive(Debug)]
pub struct Progress {
    name: String,
    total: u64,
    before: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    last_decile: u64,
    bar: Option<ProgressBar>,
    lines: bool,
}

/// A plain line at least this often…
const LINE_EVERY: Duration = Duration::from_secs(10);
/// …and at each 10 %, but not more often than this (a short sweep prints next to nothing).
const LINE_MIN: Duration = Duration::from_secs(1);

impl Progress {
    /// Starts showing progress.
    pub fn new(mode: ProgressMode, name: &str, total: u64, before: u64) -> Progress {
        let terminal = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
        let bar = terminal.then(|| bar(total, before));
        let now = Instant::now();
        Progress {
            name: name.to_string(),
            total,
            before,
            done: before,
            started: now,
            last_line: now,
            last_decile: decile(before, total),
            bar,
            lines: mode != ProgressMode::Off && !terminal,
        }
    }

    /// One more run done.
    pub fn inc(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            return;
        }
        let d = decile(self.done, self.total);
        let since = self.last_line.elapsed();
        let due = (d > self.last_decile && since >= LINE_MIN) || since >= LINE_EVERY;
        if self.lines && due {
            self.last_decile = d;
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let new = self.done - self.before;
        let rate = new as f64 / secs.max(1e-9);
        let eta = (self.total - self.done) as f64 / rate.max(1e-9);
        format!(
            "{}: {}/{} runs ({:.0} %), {rate:.1} runs/s, eta {eta:.0} s",
            self.name,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64
        )
    }

    /// Prints a message without breaking the bar (nothing when progress is off).
    pub fn println(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None if self.lines => eprintln!("{message}"),
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn decile(done: u64, total: u64) -> u64 {
    (done * 10).checked_div(total).unwrap_or(10)
}

fn bar(total: u64, before: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{bar:40.cyan/blue} {pos}/{len} runs  {per_sec}  elapsed {elapsed}  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(before);
    bar.reset_eta();
    bar
}
