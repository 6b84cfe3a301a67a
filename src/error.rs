//! The library's one error type. Every variant that a user can cause says what went wrong, where,
//! and how to fix it; the CLI prints it as one message and exits non-zero.
use std::path::{Path, PathBuf};

/// Result alias used across blindspot.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, where, and how to fix it: every variant a user can cause prints as one
/// message of that shape.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input data (arrays, targets, images, options) that cannot be used as given.
    #[error("{what}\n  where: {place}\n  fix: {fix}")]
    Input {
        /// What is wrong with it.
        what: String,
        /// Where it came from (a file, a flag, a suite's check).
        place: String,
        /// How to fix it.
        fix: String,
    },
    /// A model file or built-in model that cannot be loaded or used.
    #[error("{what}\n  where: {place}\n  fix: {fix}")]
    Model {
        /// What is wrong with it.
        what: String,
        /// The model's specification or file.
        place: String,
        /// How to fix it.
        fix: String,
    },
    /// The requested device does not exist here.
    #[error("{what}\n  fix: {fix}")]
    Device {
        /// What is missing.
        what: String,
        /// How to fix it.
        fix: String,
    },
    /// An unknown method, check or suite name.
    #[error("unknown {kind} `{name}`\n  fix: use one of: {known}")]
    Unknown {
        /// `method`, `check`, `suite`, `model`, ….
        kind: &'static str,
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A file that cannot be read or written. The OS error is part of the message (not a
    /// `source`), so that a chain of contexts prints it once.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// `read`, `write`, `create`, ….
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// The front end asked the work to stop (Ctrl-C in Python: [`crate::Observer`]).
    #[error("interrupted while {doing}")]
    Interrupted {
        /// What blindspot was doing (a progress label, a method's batch).
        doing: String,
    },
    /// libtorch refused an operation; `context` says which.
    #[error("libtorch failed while {context}: {message}")]
    Torch {
        /// What blindspot was doing.
        context: String,
        /// libtorch's message, first line only.
        message: String,
    },
}

impl Error {
    /// An [`Error::Input`].
    pub fn input(
        what: impl Into<String>,
        place: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error::Input {
            what: what.into(),
            place: place.into(),
            fix: fix.into(),
        }
    }

    /// An [`Error::Model`].
    pub fn model(
        what: impl Into<String>,
        place: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error::Model {
            what: what.into(),
            place: place.into(),
            fix: fix.into(),
        }
    }

    /// An [`Error::Io`].
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// Wraps a libtorch error, keeping only its first line (libtorch appends C++ backtraces).
    pub fn torch(context: impl Into<String>, err: tch::TchError) -> Self {
        Error::Torch {
            context: context.into(),
            message: first_line(&err.to_string()),
        }
    }
}

/// A value from the user, made safe to echo in a message: control characters escaped, and cut
/// to 64 characters (an environment variable or a flag may hold anything, of any length).
pub fn shorten(text: &str) -> String {
    const MOST: usize = 64;
    let mut out = String::new();
    for c in text.chars().take(MOST) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().count() > MOST {
        out.push('…');
    }
    out
}

/// The message a panic carried (`panic!` with a literal or a formatted string), for reporting a
/// caught panic as one line.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown failure".into())
}

/// The meaningful line of a libtorch message: the exception a TorchScript model raised (the last
/// line after the interpreter's tracebacks, `builtins.ValueError: …`, a model's own words, up to
/// 300 characters), the last `RuntimeError:` of a TorchScript traceback, or else the first line
/// that is not part of a C++ stack trace.
pub fn first_line(message: &str) -> String {
    let opening = message.lines().next().unwrap_or("");
    if opening.contains("failed in the TorchScript interpreter") {
        if let Some(last) = message.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            let raised = last.strip_prefix("builtins.").unwrap_or(last);
            let text: String = raised.chars().take(300).collect();
            return match raised.chars().count() > 300 {
                true => format!("{text}…"),
                false => text,
            };
        }
    }
    if let Some(line) = message
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("RuntimeError: "))
    {
        return line.trim().to_string();
    }
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Exception raised from"))
        .unwrap_or("unknown libtorch error")
        .trim_start_matches("Internal torch error: ");
    // A libtorch error inside a panic message is Debug-formatted: its newlines are escaped.
    match line.find("\\nException raised from") {
        Some(end) => line[..end].to_string(),
        None => line.to_string(),
    }
}
