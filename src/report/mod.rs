//! Renderers of a run's [`Report`] (the data lives in [`crate::check::outcome`]): the terminal
//! table, report.md, report.html, junit.xml, badges, charts and Figure 1. Each reads the typed
//! results' fields.
pub mod badge;
pub use crate::io::escape;
pub mod figures;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod reliability;
pub mod table;
pub mod write;

pub use crate::check::outcome::SCHEMA;
pub use crate::check::Report;
pub use figures::Drawn;
pub use write::write_report;

use crate::check::CheckResult;
use crate::io::number::fixed;

/// Where a check's negative controls landed (any of its results' `controls`), in one line:
/// `negative controls: randomcam pass 0.096 [-0.133, 0.325], sobel fail 1.000 [1.000, 1.000], …`,
/// and whether the check separates (only when every control fails). None for a check without
/// controls.
pub fn controls_line(controls: &[crate::check::Control]) -> Option<String> {
    if controls.is_empty() {
        return None;
    }
    let landed: Vec<String> = controls
        .iter()
        .map(|c| {
            format!(
                "{} {} {} [{}, {}]",
                crate::io::escape::one_line(&c.method),
                c.verdict,
                fixed(c.mean, 3),
                fixed(c.ci_low, 3),
                fixed(c.ci_high, 3)
            )
        })
        .collect();
    use crate::check::Verdict;
    let verdict = if controls.iter().any(|c| c.verdict == Verdict::Pass) {
        "a control passes, so the check cannot separate: every verdict is inconclusive"
    } else if controls.iter().all(|c| c.verdict == Verdict::Fail) {
        "every control fails: the check separates"
    } else {
        "a control is undecided, so the check has not shown that it separates: every verdict is \
         inconclusive"
    };
    Some(format!(
        "negative controls: {}; {verdict}",
        landed.join(", ")
    ))
}

/// The file stem of a result's badge: `gradcam-pp-wall`, `gradcam-theorem-V512-tau1-scale0.5`.
pub fn badge_stem(r: &CheckResult) -> String {
    let config = r
        .configuration()
        .map(|c| format!("-{}", config_slug(&c)))
        .unwrap_or_default();
    format!("{}-{}{config}", slug(&r.method), slug(&r.check))
}

/// Every result's badge stem, distinct: [`badge_stem`], and where an earlier result took it (a
/// suite that holds a check twice, a configuration given twice) with the check's position
/// (`gradcam-wall-check3`), then an occurrence number (`…-check3-2`).
pub fn badge_stems(report: &Report) -> Vec<String> {
    // Each result's check position, where the report lists its checks.
    let mut positions: Vec<Option<usize>> = report
        .runs()
        .flat_map(|(run, results)| results.iter().map(move |_| Some(run.index + 1)))
        .collect();
    positions.resize(report.results.len(), None);
    let mut stems: Vec<String> = Vec::with_capacity(report.results.len());
    for (r, position) in report.results.iter().zip(positions) {
        let base = badge_stem(r);
        let mut stem = base.clone();
        if let (true, Some(p)) = (stems.contains(&stem), position) {
            stem = format!("{base}-check{p}");
        }
        let plain = stem.clone();
        let mut k = 2;
        while stems.contains(&stem) {
            stem = format!("{plain}-{k}");
            k += 1;
        }
        stems.push(stem);
    }
    stems
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
