//! report.md: a Table-1-style table — rows are methods, columns are checks, each cell the
//! statistic ± spread with a pass/fail mark — then the Theorem 1 table.
use super::escape::markdown as md;
use super::Report;
use crate::check::property::PropertyFindings;
use crate::check::theorem::BoundReading;
use crate::check::wall::WallFindings;
use crate::check::{CheckResult, Verdict};
use crate::io::number::fixed;

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Inconclusive => "❔",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
    }
}

/// A result's cell: the verdict's mark and the check's numbers
/// ([`crate::check::CheckFindings::markdown_cell`]).
fn cell(r: &CheckResult) -> String {
    format!("{} {}", mark(r.verdict), r.findings.markdown_cell(r))
}

fn reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!("{} {}", fixed(v, 4), if b.holds { "holds" } else { "**violated**" }),
    }
}

/// Items of `values` in first-seen order, without repeats.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

/// The method × check table of every check with one result per method.
fn method_table(report: &Report, out: &mut String) {
    let per_method: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.configuration().is_none())
        .collect();
    let columns = distinct(per_method.iter().map(|r| r.check.as_str()));
    if columns.is_empty() {
        return;
    }
    let methods = distinct(per_method.iter().map(|r| r.method.as_str()));
    let headers: Vec<String> = columns.iter().map(|c| md(c)).collect();
    out.push_str(&format!(
        "| method | {} |\n|---|{}\n",
        headers.join(" | "),
        "---|".repeat(columns.len())
    ));
    for m in &methods {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                let found = per_method.iter().find(|r| r.method == *m && r.check == *c);
                found.map(|r| cell(r)).unwrap_or_else(|| "–".into())
            })
            .collect();
        let title = per_method
            .iter()
            .find(|r| r.method == *m)
            .map_or(*m, |r| &r.title);
        out.push_str(&format!("| {} | {} |\n", md(title), cells.join(" | ")));
    }
    out.push_str(
        "\nCells: mean ± std over images (wall: µ, the share of the map's ℓ2 norm behind the \
         certified wall, in %; randomization checks: Spearman or SSIM); ✅ pass, ❌ fail, ❔ \
         inconclusive, ⚠️ error. A sign-ambiguous method shows the worse of its two signs. \
         Rules:\n\n",
    );
    for c in &columns {
        if let Some(r) = per_method.iter().find(|r| r.check == *c) {
            out.push_str(&format!("- **{}**: {}\n", md(c), md(&r.rule)));
            if let Some(controls) = super::controls_line(&r.controls) {
                out.push_str(&format!("  {}\n", md(&controls)));
            }
        }
    }
    let wall = per_method
        .iter()
        .find_map(|r| Some(&r.findings.get::<WallFindings>()?.wall));
    if let Some(rows) = wall.and_then(|w| w.rows.map(|rows| (rows, &w.method))) {
        let ((first, last), how) = ((rows.0.first, rows.0.last), rows.1);
        out.push_str(&format!(
            "- wall: input rows {first}..{last}, certified by {how}\n"
        ));
    }
}

/// The verdicts against the expectations: one bold line, then each unexpected verdict.
fn outcomes(report: &Report, out: &mut String) {
    out.push_str(&format!("**{}**\n\n", md(&report.expectation_summary())));
    for r in report.unexpected() {
        out.push_str(&format!(
            "- {} {}\n",
            mark(r.verdict),
            md(&r.expectation_line())
        ));
    }
    if !report.unexpected().is_empty() {
        out.push('\n');
    }
}

/// The run's settings: error control and the models with their SHA-256.
fn settings(report: &Report, out: &mut String) {
    out.push_str(&format!(
        "Error control: {}.\n\n",
        report.error_control.describe()
    ));
    if !report.models.is_empty() {
        out.push_str("| model | SHA-256 | of |\n|---|---|---|\n");
        for m in &report.models {
            let (spec, of) = (md(&m.spec), md(&m.of));
            out.push_str(&format!("| {spec} | `{}` | {of} |\n", m.sha256));
        }
        out.push('\n');
    }
}

/// The Markdown report.
/// report.md; `figures` are the figure files written beside it (paths relative to it), linked
/// after the settings with the HTML report.
pub fn render(report: &Report, figures: &[String]) -> String {
    let mut out = format!(
        "# blindspot report: {}\n\nseed {}, device {}, precision {}, blindspot {}\n\n",
        md(&report.check),
        report.seed,
        md(&report.device),
        md(&report.precision.summary()),
        md(&report.blindspot)
    );
    outcomes(report, &mut out);
    settings(report, &mut out);
    out.push_str(
        "The page to click through, with every figure and the statistics behind each verdict: \
         [report.html](report.html).\n\n",
    );
    for figure in figures {
        out.push_str(&format!("![{figure}]({figure})\n\n"));
    }
    method_table(report, &mut out);
    let theorem = report.theorem_results();
    if !theorem.is_empty() {
        out.push_str(
            "\n## Theorem 1: E[GC_ij]/‖m_ij‖ behind the wall (GradCAM on the masked rCNN)\n\n",
        );
        out.push_str(
            "| V | τ | ‖m‖× | estimate ± half-width | draws | closed form | verdict | linear | \
             over_sqrt | sqrt |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for (r, t) in theorem {
            out.push_str(&format!(
                "| {} | {} | {} | {} ± {} | {} | {} | {} | {} | {} | {} |\n",
                t.filters,
                t.tau,
                t.input_scale,
                fixed(r.summary.mean, 5),
                fixed((r.summary.ci_high - r.summary.ci_low) / 2.0, 5),
                r.summary.n,
                fixed(t.closed_form, 5),
                mark(r.verdict),
                reading(&t.bounds.linear),
                reading(&t.bounds.over_sqrt),
                reading(&t.bounds.sqrt)
            ));
        }
    }
    properties(report, &mut out);
    out
}

/// The property runs: per method the tallies, the shrunk counterexample and its replay command;
/// the boundaries where a reading of the talk's bound breaks.
fn properties(report: &Report, out: &mut String) {
    let runs: Vec<(&CheckResult, &crate::check::property::PropertyDetail)> = report
        .results
        .iter()
        .filter_map(|r| Some((r, &r.findings.get::<PropertyFindings>()?.detail)))
        .collect();
    if runs.is_empty() {
        return;
    }
    out.push_str(
        "\n## Properties on random models\n\n| property | method | held | failed (from the \
         upsampling) | undecided | smallest counterexample | replay |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (r, d) in &runs {
        let upsampling = d
            .upsampling_failures
            .map_or(String::new(), |u| format!(" ({u})"));
        let (example, replay) = match &d.counterexample {
            Some(c) => (
                format!(
                    "{} ({:.3e}, {} steps)",
                    md(&c.architecture),
                    c.value,
                    c.shrink_steps.len()
                ),
                md(&c.replay),
            ),
            None => ("–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {}/{} | {}{upsampling} | {} | {example} | {replay} |\n",
            md(&d.property),
            md(&r.title),
            d.held,
            d.cases,
            d.failed,
            d.inconclusive
        ));
    }
    for (_, d) in &runs {
        for b in &d.boundaries {
            out.push_str(&format!(
                "\n- the {} reading of the bound fails from V = {} at {} (Monte Carlo at V = {}; \
                 {})",
                md(&b.reading),
                b.from_filters,
                md(&b.geometry),
                b.violated_at,
                md(&b.case)
            ));
        }
    }
    out.push('\n');
}
