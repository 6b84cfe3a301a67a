//! The terminal table: one line per result, with the verdict and the numbers behind it.
use super::Report;
use crate::check::CheckResult;

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn theorem_line(r: &CheckResult) -> String {
    let get = |k: &str| r.extra.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let bounds = r.extra.get("bounds").and_then(|b| b.as_object());
    let reading = |name: &str| -> String {
        let Some(b) = bounds.and_then(|b| b.get(name)) else {
            return "-".into();
        };
        if b["vacuous"].as_bool() == Some(true) {
            return "vacuous".into();
        }
        format!(
            "{:.4} {}",
            b["value"].as_f64().unwrap_or(f64::NAN),
            if b["holds"].as_bool() == Some(true) {
                "holds"
            } else {
                "VIOLATED"
            }
        )
    };
    let consistent = match r.extra.get("consistent").and_then(|v| v.as_bool()) {
        Some(true) => "consistent",
        Some(false) => "INCONSISTENT",
        None => "-",
    };
    format!(
        "{:>5} {:>5.2} {:>5.2} {:>9.5} ± {:<8.5} {:>6} {:>9.5} {:<12} {:<16} {:<16} {:<16}",
        get("filters"),
        get("tau"),
        get("input_scale"),
        get("estimate"),
        (r.ci_high - r.ci_low) / 2.0,
        r.n,
        get("closed_form"),
        consistent,
        reading("linear"),
        reading("over_sqrt"),
        reading("sqrt"),
    )
}

/// The table as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut last_check = String::new();
    for r in &report.results {
        if r.check != last_check {
            last_check = r.check.clone();
            out.push('\n');
            if r.check == "theorem" {
                out.push_str("theorem: E[GC_ij]/|m_ij| behind the wall of the masked rCNN (GradCAM), Monte Carlo vs closed form vs the talk's bound\n");
                out.push_str(&format!(
                    "{:>5} {:>5} {:>5} {:>20} {:>6} {:>9} {:<12} {:<16} {:<16} {:<16}\n",
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
                ));
            } else {
                out.push_str(&format!("{}: {}\n", r.check, r.statistic));
                out.push_str(&format!(
                    "{:<20} {:<7} {:>18} {:>20} {:>5}\n",
                    "method", "verdict", "mean ± std", "95% bound", "n"
                ));
            }
        }
        if r.check == "theorem" {
            out.push_str(&theorem_line(r));
            out.push('\n');
            continue;
        }
        let as_pct = r.check == "wall";
        let (mean, std, lo, hi) = if as_pct {
            (pct(r.mean), pct(r.std), pct(r.ci_low), pct(r.ci_high))
        } else {
            (
                format!("{:.3}", r.mean),
                format!("{:.3}", r.std),
                format!("{:.3}", r.ci_low),
                format!("{:.3}", r.ci_high),
            )
        };
        let interval = if r.interval.contains("one-sided upper") {
            format!("<= {hi}")
        } else if r.interval.contains("one-sided lower") {
            format!(">= {lo}")
        } else {
            format!("[{lo}, {hi}]")
        };
        let numbers = if r.verdict == crate::check::Verdict::Error {
            r.reason.clone()
        } else {
            format!(
                "{:>18} {:>20} {:>5}",
                format!("{mean} ± {std}"),
                interval,
                r.n
            )
        };
        out.push_str(&format!(
            "{:<20} {:<7} {}\n",
            r.method,
            r.verdict.to_string().to_uppercase(),
            numbers
        ));
    }
    let passed = report
        .results
        .iter()
        .filter(|r| r.verdict == crate::check::Verdict::Pass)
        .count();
    out.push_str(&format!(
        "\n{} passed, {} failed or errored\n",
        passed,
        report.results.len() - passed
    ));
    out
}
