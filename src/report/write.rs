//! A run's output folder: every renderer's file written whole, each figure drawn once.
use super::figures::{self, Drawn};
use super::{badge, badge_stems, html, junit, markdown, Report};
use crate::chart::Chart;
use crate::check::{CheckResult, Findings, Gallery};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

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
    let (drawn, wall) = draw(report, gallery, dir)?;
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

/// The charts of `report`, and Figure 1 with the first wall check's `gallery`, drawn (`dir`
/// names where they go in messages).
#[allow(clippy::type_complexity)]
fn draw<'g>(
    report: &Report,
    gallery: Option<&'g Gallery>,
    dir: &Path,
) -> Result<(Vec<Drawn>, Option<(Drawn, &'g Gallery)>)> {
    let mut drawn = Vec::new();
    for chart in charts(report) {
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
    // The gallery's check run: the pictures beside its numbers (Figure 1).
    let pictured = gallery.and_then(|g| report.runs().find(|(run, _)| run.index == g.run));
    let wall = match (gallery, pictured) {
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
    Ok((drawn, wall))
}

/// report.html's page for `report` (with the first wall check's `gallery`), in memory: what a
/// notebook shows.
pub fn page(report: &Report, gallery: Option<&Gallery>) -> Result<String> {
    let (drawn, wall) = draw(report, gallery, Path::new("report.html"))?;
    let wall = wall.as_ref().map(|(figure1, gallery)| (figure1, *gallery));
    html::render(report, &drawn, wall)
}

/// Every chart of a report: each check run's own ([`crate::check::CheckFindings::charts`]), in
/// run order, a stem already taken by an earlier run's chart suffixed with the run's index
/// (`randomization-4`), then an occurrence number.
pub fn charts(report: &Report) -> Vec<Chart> {
    let mut all: Vec<Chart> = Vec::new();
    for (run, results) in report.runs() {
        let Some(findings) = Findings::of_run(results) else {
            continue;
        };
        for mut chart in findings.charts(run.index, results) {
            chart.run = run.index;
            let taken = |stem: &str, all: &[Chart]| all.iter().any(|c| c.stem == stem);
            if taken(&chart.stem, &all) {
                let base = format!("{}-{}", chart.stem, run.index);
                let mut stem = base.clone();
                let mut k = 2;
                while taken(&stem, &all) {
                    stem = format!("{base}-{k}");
                    k += 1;
                }
                chart.stem = stem;
            }
            all.push(chart);
        }
    }
    all
}
