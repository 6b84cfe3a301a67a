//! Progress for anything long, through one sink ([`ProgressSink`], carried by the check context):
//! on stderr a redrawn bar on a terminal, a start line, a line every 30 s and an end line
//! otherwise (so CI logs stay readable); stdout is left to results.
//!
//! A front end may instead follow the work itself and stop it: an [`Observer`] installed with
//! [`observe`] for the duration of a request gets every bar's steps (the Python module's
//! notebook bar or callback) and is asked, between batches, whether to stop ([`poll`]: Ctrl-C
//! in Python). It is scoped to the calling thread rather than carried by the check context
//! because the polls sit deep inside methods (a ScoreCAM chunk, a Monte Carlo draw) that see no
//! context; the runner computes on the thread that made the request.
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A front end following long work: every progress bar's steps and whether to stop.
pub trait Observer: Send + Sync {
    /// Bar `label` reached `done` of `total` steps; `finished` once at its end (a bar that
    /// ends in an error never finishes). Called at most every 50 ms per bar between its start
    /// and its end.
    fn progress(&self, label: &str, done: u64, total: u64, finished: bool);

    /// Whether the work should stop now: the next poll between batches then fails with
    /// [`Error::Interrupted`].
    fn interrupted(&self) -> bool {
        false
    }

    /// Whether this observer shows the progress (false: the bars go to stderr as without an
    /// observer, which then only decides when to stop).
    fn shows_progress(&self) -> bool {
        true
    }
}

thread_local! {
    static OBSERVER: RefCell<Option<Arc<dyn Observer>>> = const { RefCell::new(None) };
}

/// Runs `work` with `observer` following every progress bar and every poll on this thread (the
/// one installed before is restored after, also when `work` panics).
pub fn observe<T>(observer: Arc<dyn Observer>, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<dyn Observer>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            OBSERVER.with(|o| *o.borrow_mut() = previous);
        }
    }
    let _restore = Restore(OBSERVER.with(|o| o.borrow_mut().replace(observer)));
    work()
}

fn observer() -> Option<Arc<dyn Observer>> {
    OBSERVER.with(|o| o.borrow().clone())
}

/// Fails with [`Error::Interrupted`] when the observer of this thread asks to stop; `doing`
/// names the work in the message. Cheap where no observer is installed (the command line).
pub fn poll(doing: impl FnOnce() -> String) -> Result<()> {
    match observer() {
        Some(o) if o.interrupted() => Err(Error::Interrupted { doing: doing() }),
        _ => Ok(()),
    }
}

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
    /// The front end's observer ([`observe`]), which then gets the steps instead of stderr.
    observer: Option<Arc<dyn Observer>>,
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
            observer: observer().filter(|o| o.shows_progress()),
        };
        if let Some(o) = &p.observer {
            o.progress(&p.label, 0, p.total, false);
        } else if !p.quiet && !p.terminal {
            crate::io::note!("{} ...", p.label);
        }
        p
    }

    /// Counts `steps` more steps done.
    pub fn inc(&mut self, steps: u64) {
        self.done = (self.done + steps).min(self.total);
        if let Some(o) = &self.observer {
            let now = Instant::now();
            let due = self
                .last_draw
                .is_none_or(|t| now - t >= Duration::from_millis(50));
            if due || self.done == self.total {
                self.last_draw = Some(now);
                o.progress(&self.label, self.done, self.total, false);
            }
            return;
        }
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
        if let Some(o) = &self.observer {
            o.progress(&self.label, self.total, self.total, true);
            return;
        }
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
