//! The terminal table: one line per result, with the verdict and the numbers behind it.
use super::Report;
use crate::check::theorem::{BoundReading, TheoremFindings};
use crate::check::{CheckResult, Findings, Verdict};

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!("{v:.4} {}", if b.holds { "holds" } else { "VIOLATED" }),
    }
}

fn theorem_line(r: &CheckResult, t: &TheoremFindings) -> String {
    let consistent = if t.consistent {
        "consistent"
    } else {
        "INCONSISTENT"
    };
    format!(
        "{:>5} {:>5.2} {:>5.2} {:>9.5} ± {:<8.5} {:>6} {:>9.5} {:<12} {:<16} {:<16} {:<16}",
        t.filters,
        t.tau,
        t.input_scale,
        t.estimate,
        (r.summary.ci_high - r.summary.ci_low) / 2.0,
        r.summary.n,
        t.closed_form,
        consistent,
        reading(&t.bounds.linear),
        reading(&t.bounds.over_sqrt),
        reading(&t.bounds.sqrt),
    )
}

const THEOREM_TITLE: &str = "theorem: E[GC_ij]/|m_ij| behind the wall of the masked rCNN \
                             (GradCAM), Monte Carlo vs closed form vs the talk's bound";

fn header(r: &CheckResult) -> String {
    if matches!(r.findings, Findings::Theorem(_)) {
        let columns = format!(
            "{:>5} {:>5} {:>5} {:>20} {:>6} {:>9} {:<12} {:<16} {:<16} {:<16}",
            "V",
            "tau",
            "|m|x",
            "estimate ± half-width",
            "draws",
            "closed",
            "",
            "linear",
            "over_sqrt",
            "sqrt"
        );
        return format!("{THEOREM_TITLE}\n{columns}\n");
    }
    let columns = format!(
        "{:<20} {:<7} {:>18} {:>20} {:>5}",
        "method", "verdict", "mean ± std", "95% bound", "n"
    );
    format!("{}: {}\n{columns}\n", r.check, r.statistic)
}

fn line(r: &CheckResult) -> String {
    if let Findings::Theorem(t) = &r.findings {
        return theorem_line(r, t);
    }
    let s = &r.summary;
    let as_pct = matches!(r.findings, Findings::Wall(_));
    let number = |v: f64| if as_pct { pct(v) } else { format!("{v:.3}") };
    let interval = if s.interval.contains("one-sided upper") {
        format!("<= {}", number(s.ci_high))
    } else if s.interval.contains("one-sided lower") {
        format!(">= {}", number(s.ci_low))
    } else {
        format!("[{}, {}]", number(s.ci_low), number(s.ci_high))
    };
    let numbers = if r.verdict == Verdict::Error {
        r.reason.clone()
    } else {
        let spread = format!("{} ± {}", number(s.mean), number(s.std));
        format!("{spread:>18} {interval:>20} {:>5}", s.n)
    };
    format!(
        "{:<20} {:<7} {numbers}",
        r.method,
        r.verdict.to_string().to_uppercase()
    )
}

/// The table as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for (_, results) in report.runs() {
        let Some(first) = results.first() else {
            continue;
        };
        out.push('\n');
        out.push_str(&header(first));
        for r in results {
            out.push_str(&line(r));
            out.push('\n');
        }
    }
    let passed = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    let rest = report.results.len() - passed;
    out.push_str(&format!("\n{passed} passed, {rest} failed or errored\n"));
    out
}
