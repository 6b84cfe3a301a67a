//! Renderers of a run's [`Report`] (the data lives in [`crate::check::outcome`]): the terminal
//! table, report.md, junit.xml, badges and figures. Each reads the typed results' fields.
pub mod badge;
pub mod figures;
mod font;
pub mod junit;
pub mod markdown;
pub mod table;

pub use crate::check::outcome::{CheckRun, Report, SCHEMA};

use crate::check::CheckResult;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The file stem of a result's badge: `gradcam-pp-wall`, `gradcam-theorem-V512-tau1-scale0.5`.
pub fn badge_stem(r: &CheckResult) -> String {
    let config = r
        .configuration()
        .map(|c| format!("-{}", config_slug(&c)))
        .unwrap_or_default();
    format!("{}-{}{config}", slug(&r.method), r.check)
}

/// Writes report.json, report.md, junit.xml and badges/ into `dir` (figures are separate).
/// Refuses a report in which two results would share a badge.
pub fn write_dir(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let stems: Vec<String> = report.results.iter().map(badge_stem).collect();
    for (i, stem) in stems.iter().enumerate() {
        if stems[..i].contains(stem) {
            return Err(Error::input(
                format!("two results would both write badges/{stem}.json"),
                dir.display().to_string(),
                "give every method a distinct name, and every configuration of a check a \
                 distinct setting",
            ));
        }
    }
    let mut written = Vec::new();
    let mut put = |name: String, text: String| -> Result<()> {
        let path = dir.join(name);
        crate::io::write_atomic(&path, text.as_bytes())?;
        written.push(path);
        Ok(())
    };
    put("report.json".into(), report.to_json())?;
    put("report.md".into(), markdown::render(report))?;
    put("junit.xml".into(), junit::render(report))?;
    for (r, stem) in report.results.iter().zip(&stems) {
        put(format!("badges/{stem}.json"), badge::endpoint_json(r))?;
        put(format!("badges/{stem}.svg"), badge::svg(r))?;
    }
    Ok(written)
}

/// A file-name-safe version of a method name: `GradCAM++` → `gradcam-pp`.
pub fn slug(name: &str) -> String {
    let name = name.to_lowercase().replace("++", "-pp");
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A file-name-safe configuration label: `V=512 tau=1 scale=0.5` → `V512-tau1-scale0.5`.
fn config_slug(label: &str) -> String {
    let label = label.replace('=', "");
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
