//! What a front end beside the command line needs: blindspot's Python module (python/wheel,
//! docs/python.md) is one, built on this page and the crate's root alone. A front end builds a
//! [`crate::Request`], runs it, and renders the [`crate::Run`] it gets back with these.
use crate::check::runner::Run;
use crate::error::Result;
use std::path::{Path, PathBuf};

pub use crate::error::{first_line, panic_message};
pub use crate::io::escape::printable;
pub use crate::model::export::EXPORT_BUILTIN_PY;
pub use crate::model::export::{fingerprint as weights_fingerprint, parts, Parts};

/// Text for HTML element content and quoted attributes.
pub use crate::io::escape::xml as escape_html;

/// report.html's page for `run`, in memory: what a notebook shows (a Python `Report`'s
/// `_repr_html_`).
pub fn html_page(run: &Run) -> Result<String> {
    crate::report::write::page(&run.report, run.galleries.first())
}

/// A report read back from its JSON (report.json's text; a pickled Python `Report`), each
/// result's findings typed by the built-in checks. `place` names the text in the message.
pub fn report_from_json(text: &str, place: &str) -> Result<crate::Report> {
    crate::Report::from_json(text, &crate::Registry::builtin()).map_err(|e| {
        crate::Error::input(
            format!("this is not a blindspot report: {e}"),
            place,
            "give the text of a report.json that blindspot wrote",
        )
    })
}

/// The terminal's verdict table of a report, as `blindspot run` prints it.
pub fn table(report: &crate::Report) -> String {
    crate::report::table::render(report)
}

/// Writes the command line's output folder for `run` (report.html, report.json, report.md,
/// junit.xml, badges/, figures/) to `dir`, staged so that a failure leaves nothing half-written
/// and a folder blindspot did not write is never replaced; returns the files written, named
/// where they lie.
pub fn write_folder(run: &Run, dir: &Path) -> Result<Vec<PathBuf>> {
    let staged = crate::io::StagedDir::begin(dir)?;
    let files = crate::report::write_report(&run.report, run.galleries.first(), staged.path())?;
    let files = files
        .iter()
        .filter_map(|f| f.strip_prefix(staged.path()).ok())
        .map(|f| dir.join(f))
        .collect();
    staged.commit()?;
    Ok(files)
}

/// The `blindspot` command line on `args` (the program's name first), run in this process as
/// the binary runs it; returns the exit code (docs/cli.md). The Python wheel's `blindspot`
/// command is this call.
pub fn command_line_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::cli::main_from(args)
}
