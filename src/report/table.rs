//! The terminal table: the run's error control, then one line per result with the verdict and
//! the numbers behind it (a second line with both signs for a sign-ambiguous method).
use super::Report;
use crate::check::theorem::{BoundReading, TheoremFindings};
use crate::check::{CheckResult, Findings, Signs, Verdict};

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn reading(b: &BoundReading) -> String {
    match b.value {
        None => "vacuous".into(),
        Some(v) => format!("{v:.4} {}", if b.holds { "holds" } else { "VIOLATED" }),
    }
}

/// The verdict as the table prints it: upper case where it needs attention.
pub fn shout(v: Verdict) -> String {
    match v {
        Verdict::Pass => "pass".into(),
        other => other.to_string().to_uppercase(),
    }
}

fn theorem_line(r: &CheckResult, t: &TheoremFindings) -> String {
    format!(
        "{:>5} {:>5.2} {:>5.2} {:>9.5} ± {:<8.5} {:>6} {:>9.5} {:<13} {:<16} {:<16} {:<16}",
        t.filters,
        t.tau,
        t.input_scale,
        t.estimate,
        (r.summary.ci_high - r.summary.ci_low) / 2.0,
        r.summary.n,
        t.closed_form,
        shout(r.verdict),
        reading(&t.bounds.linear),
        reading(&t.bounds.over_sqrt),
        reading(&t.bounds.sqrt),
    )
}

const THEOREM_TITLE: &str = "theorem: E[GC_ij]/|m_ij| behind the wall of the masked rCNN \
                             (GradCAM), Monte Carlo vs closed form vs the talk's bound";

fn property_lines(r: &CheckResult, p: &crate::check::property::PropertyDetail) -> String {
    let upsampling = match p.upsampling_failures {
        Some(u) if p.failed > 0 => format!(" ({u} from the upsampling)"),
        _ => String::new(),
    };
    let mut text = format!(
        "{:<20} {:<12} held {}/{}, failed {}{upsampling}, undecided {}",
        r.title,
        shout(r.verdict),
        p.held,
        p.cases,
        p.failed,
        p.inconclusive,
    );
    if let Some(c) = &p.counterexample {
        text.push_str(&format!(
            "\n{:<20} counterexample {} (value {:.3e}, {} shrink steps)\n{:<20} replay: {}",
            "",
            c.architecture,
            c.value,
            c.shrink_steps.len(),
            "",
            c.replay
        ));
    }
    for b in &p.boundaries {
        text.push_str(&format!(
            "\n{:<20} {} reading violated from V = {} ({}; Monte Carlo at V = {})",
            "", b.reading, b.from_filters, b.geometry, b.violated_at
        ));
    }
    text
}

fn header(r: &CheckResult) -> String {
    if matches!(r.findings, Findings::Property(_)) {
        return format!("{}: property — {}\n", r.check, r.rule);
    }
    if matches!(r.findings, Findings::Theorem(_)) {
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
        return format!("{THEOREM_TITLE}\n{columns}\n");
    }
    let columns = format!(
        "{:<20} {:<12} {:>18} {:>22} {:>5} {:>5}",
        "method", "verdict", "mean ± std", "interval", "n", "undef"
    );
    format!("{}: {}\n{columns}\n", r.check, r.statistic)
}

fn signs_line(signs: &Signs, number: &dyn Fn(f64) -> String) -> String {
    let side = |name: &str, s: &crate::check::outcome::SignOutcome| {
        format!("{name} {} {}", shout(s.verdict), number(s.mean))
    };
    format!(
        "{:<20} both signs: {}, {}",
        "",
        side("as computed", &signs.as_computed),
        side("negated", &signs.negated)
    )
}

fn line(r: &CheckResult) -> String {
    match &r.findings {
        Findings::Theorem(t) => return theorem_line(r, t),
        Findings::Property(p) => return property_lines(r, &p.detail),
        _ => {}
    }
    let s = &r.summary;
    let as_pct = matches!(r.findings, Findings::Wall(_));
    let number = |v: f64| if as_pct { pct(v) } else { format!("{v:.3}") };
    let numbers = if r.verdict == Verdict::Error {
        r.reason.clone()
    } else {
        let spread = format!("{} ± {}", number(s.mean), number(s.std));
        let interval = format!("[{}, {}]", number(s.ci_low), number(s.ci_high));
        format!("{spread:>18} {interval:>22} {:>5} {:>5}", s.n, r.undefined)
    };
    let mut text = format!("{:<20} {:<12} {numbers}", r.title, shout(r.verdict));
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
