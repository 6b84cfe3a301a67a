//! Notes on stderr that never panic: progress and notes go to stderr, and a closed or full
//! stderr (`2>&1 | head -1`, `2>/dev/full`) must not end a run whose results go to files.
/// `eprintln!` that never panics: progress and notes go to stderr, and a closed or full stderr
/// (`2>&1 | head -1`, `2>/dev/full`) must not end a run whose results go to files. What cannot
/// be written is dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // Names and texts from users inside a note never drive the terminal.
        let text = $crate::io::escape::printable(&format!($($arg)*));
        let _ = writeln!(std::io::stderr(), "{text}");
    }};
}
pub(crate) use note;

/// `eprint!` that never panics (see [`note!`]).
macro_rules! note_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = $crate::io::escape::printable(&format!($($arg)*));
        let _ = write!(std::io::stderr(), "{text}");
    }};
}
pub(crate) use note_inline;

