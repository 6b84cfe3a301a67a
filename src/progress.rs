//! Progress for anything long, through one sink ([`ProgressSink`], carried by the check context):
//! on stderr a redrawn bar on a terminal, a start line, a line every 30 s and an end line
//! otherwise (so CI logs stay readable); stdout is left to results.
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Where long work (a check's draws, a training) reports how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressSink {
    /// stderr: a redrawn bar on a terminal; a start line, a line every 30 s and an end line in
    /// a log.
    Stderr,
    /// Nowhere.
    Quiet,
}

impl ProgressSink {
    /// [`ProgressSink::Stderr`], or [`ProgressSink::Quiet`] when `BLINDSPOT_QUIET` is set to
    /// anything but `0`.
    pub fn from_env() -> Self {
        match std::env::var_os("BLINDSPOT_QUIET").is_some_and(|v| v != "0") {
            true => ProgressSink::Quiet,
            false => ProgressSink::Stderr,
        }
    }

    /// A progress bar of `total` steps, reported here.
    pub fn start(self, label: impl Into<String>, total: u64) -> Progress {
        Progress::new(label, total, self == ProgressSink::Quiet)
    }
}

/// One long task's progress (from [`ProgressSink::start`]).
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    start: Instant,
    last_draw: Option<Instant>,
    terminal: bool,
    quiet: bool,
}

impl Progress {
    fn new(label: impl Into<String>, total: u64, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let p = Progress {
            label: label.into(),
            total: total.max(1),
            done: 0,
            start: Instant::now(),
            last_draw: None,
            terminal,
            quiet,
        };
        if !p.quiet && !p.terminal {
            crate::io::note!("{} ...", p.label);
        }
        p
    }

    /// Counts `steps` more steps done.
    pub fn inc(&mut self, steps: u64) {
        self.done = (self.done + steps).min(self.total);
        if self.quiet {
            return;
        }
        let now = Instant::now();
        if !self.terminal {
            // A line every 30 s in a log, so a long run shows where it is.
            let since = self.last_draw.unwrap_or(self.start);
            if now - since >= Duration::from_secs(30) && self.done < self.total {
                self.last_draw = Some(now);
                crate::io::note!(
                    "{}: {}/{} ({:.0}s)",
                    self.label,
                    self.done,
                    self.total,
                    self.start.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if self
            .last_draw
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && self.done < self.total
        {
            return;
        }
        self.last_draw = Some(now);
        let width = 30;
        let filled = (self.done * width / self.total) as usize;
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if self.done > 0 {
            elapsed * (self.total - self.done) as f64 / self.done as f64
        } else {
            0.0
        };
        crate::io::note_inline!(
            "\r{} [{}{}] {}/{} {:.0}s (eta {:.0}s)  ",
            self.label,
            "#".repeat(filled),
            "-".repeat(width as usize - filled),
            self.done,
            self.total,
            elapsed,
            eta
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the bar with a closing message.
    pub fn finish(self, message: &str) {
        if self.quiet {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        if self.terminal {
            crate::io::note!(
                "\r{}: {} ({:.1}s){}",
                self.label,
                message,
                elapsed,
                " ".repeat(30)
            );
        } else {
            crate::io::note!("{}: {} ({:.1}s)", self.label, message, elapsed);
        }
    }
}
