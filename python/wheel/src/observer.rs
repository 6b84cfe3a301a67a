//! The Python side following a run: each progress bar's steps to a Python callback (the notebook
//! bar `blindspot` makes with tqdm, or the user's), and Ctrl-C. blindspot computes with the GIL
//! released, so Python's own SIGINT handler only sets a flag; every poll between batches
//! ([`blindspot::Observer::interrupted`]) takes the GIL and runs the pending signal handlers,
//! and the `KeyboardInterrupt` they raise stops the run and is raised to the caller as it is.
use pyo3::prelude::*;
use std::sync::Mutex;

pub struct PyObserver {
    /// `callback(label, done, total, finished)`; None: no callback.
    callback: Option<Py<PyAny>>,
    /// Whether the bars are shown here (by the callback, or nowhere when quiet) rather than on
    /// stderr.
    shows: bool,
    /// What stopped the run: the exception a signal handler or the callback raised.
    raised: Mutex<Option<PyErr>>,
}

impl PyObserver {
    pub fn new(callback: Option<Py<PyAny>>, quiet: bool) -> Self {
        let shows = callback.is_some() || quiet;
        PyObserver {
            callback,
            shows,
            raised: Mutex::new(None),
        }
    }

    /// The exception that stopped the run, if one did (taken: asked once).
    pub fn take_raised(&self) -> Option<PyErr> {
        self.slot().take()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<PyErr>> {
        self.raised
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep(&self, err: PyErr) {
        self.slot().get_or_insert(err);
    }
}

impl blindspot::Observer for PyObserver {
    fn progress(&self, label: &str, done: u64, total: u64, finished: bool) {
        let Some(callback) = &self.callback else {
            return;
        };
        if self.slot().is_some() {
            return;
        }
        Python::with_gil(|py| {
            if let Err(e) = callback.call1(py, (label, done, total, finished)) {
                self.keep(e);
            }
        });
    }

    fn interrupted(&self) -> bool {
        if self.slot().is_some() {
            return true;
        }
        // Outside the main thread this runs no handler (Python runs them there alone).
        match Python::with_gil(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                self.keep(e);
                true
            }
        }
    }

    fn shows_progress(&self) -> bool {
        self.shows
    }
}
