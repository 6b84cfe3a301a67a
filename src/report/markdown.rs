//! report.md: a Table-1-style table — rows are methods, columns are checks, each cell the
//! statistic ± spread with a pass/fail mark — then the Theorem 1 table.
use super::escape::markdown as md;
use super::Report;
use crate::check::{CheckResult, Findings};

/// A result's cell: the verdict's mark and the check's numbers
/// ([`crate::check::CheckFindings::markdown_cell`]).
fn cell(r: &CheckResult) -> String {
    format!("{} {}", r.verdict.mark(), r.findings.markdown_cell(r))
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
            if let Some(note) = r.findings.rule_note() {
                out.push_str(&format!("  {}\n", md(&note)));
            }
        }
    }
}

/// The verdicts against the expectations: one bold line, then each unexpected verdict.
fn outcomes(report: &Report, out: &mut String) {
    out.push_str(&format!("**{}**\n\n", md(&report.expectation_summary())));
    for r in report.unexpected() {
        out.push_str(&format!(
            "- {} {}\n",
            r.verdict.mark(),
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
    // Each check's own section (the Theorem 1 table, the property runs), in run order.
    for (_, results) in report.runs() {
        if let Some(section) = Findings::of_run(results).and_then(|f| f.markdown_section(results)) {
            out.push_str(&section);
        }
    }
    out
}
