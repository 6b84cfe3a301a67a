//! Renderers of a run's [`Report`] (the data lives in [`crate::check::outcome`]): the terminal
//! table, report.md, report.html, junit.xml, badges, charts and Figure 1. Each reads the typed
//! results' fields.
pub mod badge;
pub mod charts;
pub use crate::io::escape;
pub mod figures;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod reliability;
pub mod table;

pub use crate::check::outcome::{Report, SCHEMA};

use crate::check::wall::WallCheck;
use crate::check::{Check, CheckResult, Gallery};
use crate::error::{Error, Result};
use crate::io::number::fixed;
use std::path::{Path, PathBuf};

/// Where a check's negative controls landed (any of its results' `controls`), in one line:
/// `negative controls: randomcam pass 0.096 [-0.133, 0.325], sobel fail 1.000 [1.000, 1.000], …`,
/// and when one passed, that the check cannot separate. None for a check without controls.
pub fn controls_line(controls: &[crate::check::outcome::Control]) -> Option<String> {
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
    let verdict = match controls
        .iter()
        .any(|c| c.verdict == crate::check::Verdict::Pass)
    {
        true => "a control passes, so the check cannot separate: every verdict is inconclusive",
        false => "every control fails: the check separates",
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

/// Writes report.json, report.md, report.html, junit.xml, badges/ and figures/ (the charts and,
/// with the first wall check's `gallery`, Figure 1) into `dir`, each file written whole or not at
/// all; returns the files written.
pub fn write_report(
    report: &Report,
    gallery: Option<&Gallery>,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let stems = badge_stems(report);
    let mut written = Vec::new();
    let mut put = |name: String, text: String| -> Result<()> {
        let path = dir.join(name);
        crate::io::write_atomic(&path, text.as_bytes())?;
        written.push(path);
        Ok(())
    };
    // Every figure is drawn once: written under figures/ and inlined in report.html.
    let mut drawn = Vec::new();
    for chart in charts::charts(report) {
        let name = format!("figures/{}.svg", chart.stem);
        let svg = chart
            .svg()
            .map_err(|e| Error::io("draw", &dir.join(&name), std::io::Error::other(e)))?;
        drawn.push(Drawn {
            stem: chart.stem,
            run: chart.run,
            svg,
        });
    }
    let first_wall = report.runs().find(|(run, _)| run.check == WallCheck::NAME);
    let wall = match (gallery, first_wall) {
        (Some(gallery), Some((run, results))) => {
            let results: Vec<&CheckResult> = results.iter().collect();
            let figure1 = Drawn {
                stem: "figure1".into(),
                run: run.index,
                svg: figures::figure1_svg(gallery, &results)?,
            };
            Some((figure1, gallery))
        }
        _ => None,
    };
    let mut figures: Vec<&Drawn> = wall.iter().map(|(figure1, _)| figure1).collect();
    figures.extend(&drawn);
    for figure in &figures {
        put(format!("figures/{}.svg", figure.stem), figure.svg.clone())?;
    }
    let names: Vec<String> = figures
        .iter()
        .map(|f| format!("figures/{}.svg", f.stem))
        .collect();
    put("report.json".into(), report.to_json())?;
    put("report.md".into(), markdown::render(report, &names))?;
    let wall = wall.as_ref().map(|(figure1, gallery)| (figure1, *gallery));
    put("report.html".into(), html::render(report, &drawn, wall)?)?;
    put("junit.xml".into(), junit::render(report))?;
    let labels = badge::labels(report);
    for ((r, stem), label) in report.results.iter().zip(&stems).zip(&labels) {
        put(
            format!("badges/{stem}.json"),
            badge::endpoint_json(r, label),
        )?;
        put(format!("badges/{stem}.svg"), badge::svg(r, label))?;
    }
    Ok(written)
}

/// A figure drawn once as SVG: written to `figures/STEM.svg` and inlined in report.html, in the
/// section of check `run` (its index in the suite).
pub struct Drawn {
    pub stem: String,
    pub run: usize,
    pub svg: String,
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
