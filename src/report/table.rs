//! The terminal table: the run's error control, then one line per result with the verdict and
//! the numbers behind it (a second line with both signs for a sign-ambiguous method).
use super::Report;
use crate::check::{CheckResult, Signs, Verdict};
use crate::io::escape::one_line;
use crate::io::number::fixed;

fn pct(v: f64) -> String {
    crate::io::number::pct(v, 2)
}

/// The verdict as the table prints it: upper case where it needs attention.
pub fn shout(v: Verdict) -> String {
    v.shouted()
}

/// The block's header: the check's own ([`crate::check::CheckFindings::table_header`]) or the
/// generic columns.
fn header(r: &CheckResult) -> String {
    if let Some(header) = r.findings.table_header(r) {
        return header;
    }
    let columns = format!(
        "{:<20} {:<12} {:>18} {:>22} {:>5} {:>5}",
        "method", "verdict", "mean ± std", "interval", "n", "undef"
    );
    format!("{}: {}\n{columns}\n", one_line(&r.check), one_line(&r.statistic))
}

fn signs_line(signs: &Signs, number: &dyn Fn(f64) -> String) -> String {
    let side = |name: &str, s: &crate::check::SignOutcome| {
        format!("{name} {} {}", shout(s.verdict), number(s.mean))
    };
    format!(
        "{:<20} both signs: {}, {}",
        "",
        side("as computed", &signs.as_computed),
        side("negated", &signs.negated)
    )
}

/// A result's line(s): the check's own ([`crate::check::CheckFindings::table_line`]) or the
/// generic one.
fn line(r: &CheckResult) -> String {
    if let Some(line) = r.findings.table_line(r) {
        return line;
    }
    let s = &r.summary;
    let as_pct = r.findings.as_percent();
    let number = |v: f64| if as_pct { pct(v) } else { fixed(v, 3) };
    let numbers = if r.verdict == Verdict::Error {
        one_line(&r.reason)
    } else {
        let spread = format!("{} ± {}", number(s.mean), number(s.std));
        let interval = format!("[{}, {}]", number(s.ci_low), number(s.ci_high));
        format!("{spread:>18} {interval:>22} {:>5} {:>5}", s.n, r.undefined)
    };
    let mut text = format!("{:<20} {:<12} {numbers}", one_line(&r.title), shout(r.verdict));
    if let Some(signs) = &r.signs {
        text.push('\n');
        text.push_str(&signs_line(signs, &number));
    }
    text
}

/// The table as text.
pub fn render(report: &Report) -> String {
    let mut out = format!("error control: {}\n", report.error_control.describe());
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
        if let Some(controls) = super::controls_line(&first.controls) {
            out.push_str(&controls);
            out.push('\n');
        }
    }
    let count = |v: Verdict| report.results.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "\n{} passed, {} failed, {} inconclusive, {} errors\n",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Error)
    ));
    out
}

/// The lines that say where a run's time went: the checks' total and the five slowest (check,
/// method) pairs, a check's work outside its methods counted as one more pair ("shared").
pub fn slowest(timing: &crate::check::timing::Timing) -> String {
    let pairs = timing.slowest(5);
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "time: {} s in the checks; the slowest:\n",
        fixed(timing.seconds, 1)
    );
    for (check, method, seconds) in pairs {
        let method = method.map(one_line).unwrap_or_else(|| "shared".into());
        out.push_str(&format!(
            "  {:>7} s  {} · {}\n",
            fixed(seconds, 1),
            one_line(check),
            method
        ));
    }
    out
}
