//! How the theorem check shows and defends its findings ([`CheckFindings`] for
//! [`TheoremFindings`]): the terminal table, the badge, the sweep's charts (one per (τ, input
//! scale)), the Theorem 1 tables of report.md and report.html, and its rules of the merge audit.
use super::findings::{BoundReading, ClassChoice, TheoremFindings};
use crate::chart::{number, range_of, Chart, Point, Series, XAxis, MARKERS, PALETTE};
use crate::check::audit::two_sided_bounds;
use crate::check::stats::{percent, ErrorControl};
use crate::check::{CheckFindings, CheckResult, Verdict};
use crate::io::number::{fixed, Fixed};
use std::fmt::Write;

/// How a bound reading reads in the table: its value and whether it holds.
fn reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!("{} {}", fixed(v, 4), if b.holds { "holds" } else { "VIOLATED" }),
    }
}

impl CheckFindings for TheoremFindings {
    fn configuration(&self) -> Option<String> {
        Some(TheoremFindings::configuration(self))
    }

    fn charts(&self, run: usize, results: &[CheckResult]) -> Vec<Chart> {
        charts(run, results)
    }

    fn markdown_section(&self, results: &[CheckResult]) -> Option<String> {
        markdown(results)
    }

    fn html_section(&self, results: &[CheckResult]) -> Option<String> {
        html(results)
    }

    fn audit(&self, result: &CheckResult, control: &ErrorControl) -> Result<(), String> {
        audit(self, result, control)
    }

    fn table_header(&self, _first: &CheckResult) -> Option<String> {
        let columns = format!(
            "{:>5} {:>5} {:>5} {:>20} {:>6} {:>9} {:<13} {:<16} {:<16} {:<16}",
            "V",
            "tau",
            "|m|x",
            "estimate ± half-width",
            "draws",
            "closed",
            "verdict",
            "linear",
            "over_sqrt",
            "sqrt"
        );
        Some(format!(
            "theorem: E[GC_ij]/|m_ij| behind the wall of the masked rCNN (GradCAM), Monte Carlo \
             vs closed form vs the talk's bound\n{columns}\n"
        ))
    }

    fn table_line(&self, r: &CheckResult) -> Option<String> {
        Some(format!(
            "{:>5} {:>5.2} {:>5.2} {:>9} ± {:<8} {:>6} {:>9} {:<13} {:<16} {:<16} {:<16}",
            self.filters,
            self.tau,
            self.input_scale,
            Fixed { value: self.estimate, decimals: 5 },
            Fixed { value: (r.summary.ci_high - r.summary.ci_low) / 2.0, decimals: 5 },
            r.summary.n,
            Fixed { value: self.closed_form, decimals: 5 },
            r.verdict.shouted(),
            reading(&self.bounds.linear),
            reading(&self.bounds.over_sqrt),
            reading(&self.bounds.sqrt),
        ))
    }

    fn badge_message(&self, _r: &CheckResult) -> Option<String> {
        let consistent = match self.consistent {
            true => "consistent",
            false => "inconsistent",
        };
        Some(format!(
            "{} {consistent}",
            TheoremFindings::configuration(self)
        ))
    }
}

/// The results of a run that hold theorem findings, with them.
fn rows(results: &[CheckResult]) -> Vec<(&CheckResult, &TheoremFindings)> {
    results
        .iter()
        .filter_map(|r| Some((r, r.findings.get::<TheoremFindings>()?)))
        .collect()
}

/// One chart per (τ, input scale) of a run: the Monte Carlo estimate with its interval, the
/// closed form, and the three readings of the talk's bound, against V. The y range holds the
/// estimates, their intervals and the closed form; a bound reading beyond it is an arrow.
pub fn charts(run: usize, results: &[CheckResult]) -> Vec<Chart> {
    let rows = rows(results);
    let mut groups: Vec<(f64, f64)> = Vec::new();
    for (_, t) in &rows {
        if !groups.contains(&(t.tau, t.input_scale)) {
            groups.push((t.tau, t.input_scale));
        }
    }
    let mut charts = Vec::new();
    for (k, (tau, scale)) in groups.into_iter().enumerate() {
        let mut group: Vec<(&CheckResult, &TheoremFindings)> = rows
            .iter()
            .filter(|(_, t)| t.tau == tau && t.input_scale == scale)
            .copied()
            .collect();
        group.sort_by_key(|(_, t)| t.filters);
        let stem = match k {
            0 => "theorem".to_string(),
            k => format!("theorem-{run}-{k}"),
        };
        charts.push(theorem_chart(stem, run, tau, scale, &group));
    }
    charts
}

fn theorem_chart(
    stem: String,
    run: usize,
    tau: f64,
    scale: f64,
    rows: &[(&CheckResult, &TheoremFindings)],
) -> Chart {
    // The interval drawn is the one the verdict used (at the run's per-verdict level).
    let levels: Vec<f64> = rows.iter().map(|(r, _)| r.summary.ci_level).collect();
    let level = match levels.first() {
        Some(&l) if levels.iter().all(|&m| m == l) => percent(l),
        _ => "each verdict's".into(),
    };
    let estimate = Series {
        name: format!("Monte Carlo mean, {level} interval"),
        note: None,
        marker: MARKERS[0],
        colour: (0, 0, 0),
        line: false,
        points: rows
            .iter()
            .map(|(r, t)| Point {
                interval: Some((r.summary.ci_low, r.summary.ci_high)),
                ..Point::at(t.filters as f64, r.summary.mean)
            })
            .collect(),
    };
    let curve = |name: &str, k: usize, value: &dyn Fn(&TheoremFindings) -> Option<f64>| Series {
        name: name.into(),
        note: None,
        marker: MARKERS[k],
        colour: PALETTE[k - 1],
        line: true,
        points: rows
            .iter()
            .filter_map(|(_, t)| value(t).map(|y| Point::at(t.filters as f64, y)))
            .collect(),
    };
    let series = vec![
        estimate,
        curve("closed form (exact E[GC]/‖m‖)", 1, &|t| {
            Some(t.closed_form)
        }),
        curve("bound, linear reading", 4, &|t| t.bounds.linear.value),
        curve("bound, over-√V reading", 2, &|t| t.bounds.over_sqrt.value),
        curve("bound, √ reading", 3, &|t| t.bounds.sqrt.value),
    ];
    let y_range = range_of(
        rows.iter().flat_map(|(r, t)| {
            [
                r.summary.ci_low,
                r.summary.ci_high,
                r.summary.mean,
                t.closed_form,
            ]
        }),
        true,
    );
    Chart {
        stem,
        run,
        title: format!("Theorem 1: GradCAM behind the wall, τ = {tau}, input scale {scale}"),
        x: XAxis::Log2 {
            label: "V, filters (log scale)".into(),
        },
        y_label: "E[GC] / ‖m‖ behind the wall".into(),
        y_range,
        reference: None,
        series,
    }
}

/// A bound reading in report.md: its value and whether it holds.
fn md_reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!("{} {}", fixed(v, 4), if b.holds { "holds" } else { "**violated**" }),
    }
}

/// report.md's Theorem 1 table: V, τ, scale, the estimate, the closed form, the readings.
pub fn markdown(results: &[CheckResult]) -> Option<String> {
    let rows = rows(results);
    if rows.is_empty() {
        return None;
    }
    let mut out = String::from(
        "\n## Theorem 1: E[GC_ij]/‖m_ij‖ behind the wall (GradCAM on the masked rCNN)\n\n\
         | V | τ | ‖m‖× | estimate ± half-width | draws | closed form | verdict | linear | \
         over_sqrt | sqrt |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (r, t) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ± {} | {} | {} | {} | {} | {} | {} |",
            t.filters,
            t.tau,
            t.input_scale,
            fixed(r.summary.mean, 5),
            fixed((r.summary.ci_high - r.summary.ci_low) / 2.0, 5),
            r.summary.n,
            fixed(t.closed_form, 5),
            r.verdict.mark(),
            md_reading(&t.bounds.linear),
            md_reading(&t.bounds.over_sqrt),
            md_reading(&t.bounds.sqrt)
        );
    }
    Some(out)
}

/// A bound reading in report.html.
fn html_reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!(
            "{} {}",
            number(v),
            if b.holds { "holds" } else { "violated" }
        ),
    }
}

/// report.html's Theorem 1 table.
pub fn html(results: &[CheckResult]) -> Option<String> {
    let rows = rows(results);
    if rows.is_empty() {
        return None;
    }
    let mut out = String::from(
        "<h3 id=\"theorem\">Theorem 1</h3>\n<table>\n<tr><th>V</th><th>τ</th><th>scale</th>\
         <th>Monte Carlo E[GC]/‖m‖</th><th>closed form</th><th>verdict</th>\
         <th>linear reading</th><th>over-√V reading</th><th>√ reading</th></tr>\n",
    );
    for (r, t) in rows {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} [{}, {}]</td><td class=\"num\">{}</td>\
             <td style=\"color:{}\"><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.filters,
            t.tau,
            t.input_scale,
            number(r.summary.mean),
            number(r.summary.ci_low),
            number(r.summary.ci_high),
            number(t.closed_form),
            r.verdict.colour(),
            r.verdict,
            html_reading(&t.bounds.linear),
            html_reading(&t.bounds.over_sqrt),
            html_reading(&t.bounds.sqrt)
        );
    }
    out.push_str("</table>\n");
    Some(out)
}

/// The theorem's rules of the merge audit: the estimate is the mean, `consistent` says where the
/// closed form lies, the interval is the two-sided Student-t interval of the draws at the run's
/// error, and the verdict is the one the rule gives: fail iff (fixed class) the closed form lies
/// outside the interval, else pass iff the precision reached meets its target.
pub fn audit(
    t: &TheoremFindings,
    result: &CheckResult,
    control: &ErrorControl,
) -> Result<(), String> {
    let s = &result.summary;
    if !crate::check::audit::close(t.estimate, s.mean) {
        return Err(format!(
            "the estimate {} is not the mean {}",
            t.estimate, s.mean
        ));
    }
    let within = s.ci_low <= t.closed_form && t.closed_form <= s.ci_high;
    let fixed = t.class == ClassChoice::Fixed;
    if t.consistent != (fixed && within) {
        return Err(format!(
            "`consistent: {}` but the closed form {} lies {} [{}, {}]",
            t.consistent,
            t.closed_form,
            if within { "inside" } else { "outside" },
            s.ci_low,
            s.ci_high
        ));
    }
    two_sided_bounds(result, control)?;
    let precise = t.detail.relative_half_width <= t.detail.target_relative_half_width;
    let verdict = match (fixed && !within, precise) {
        (true, _) => Verdict::Fail,
        (false, true) => Verdict::Pass,
        (false, false) => Verdict::Inconclusive,
    };
    if result.verdict != verdict {
        return Err(format!(
            "verdict {} but the closed form {} lies {} the interval and the precision \
             reached, {}, {} the target {}: that gives {verdict}",
            result.verdict,
            t.closed_form,
            if within { "inside" } else { "outside" },
            t.detail.relative_half_width,
            if precise { "meets" } else { "misses" },
            t.detail.target_relative_half_width
        ));
    }
    Ok(())
}
