//! Badges per method and check: a shields.io endpoint JSON and a self-contained flat SVG, e.g.
//! "wall leakage | 22.7% fail".
use super::Report;
use crate::check::{CheckResult, Verdict};

/// Each result's badge label, in report order: its check's
/// ([`crate::check::CheckFindings::badge_label`], read from the check's first result that has
/// findings, so that an error result is labelled like its check's other results).
pub fn labels(report: &Report) -> Vec<String> {
    let mut known: Vec<(&str, String)> = Vec::new();
    for r in report.results.iter().filter(|r| !r.findings.is_none()) {
        if !known.iter().any(|(check, _)| *check == r.check) {
            known.push((&r.check, r.findings.badge_label(&r.check)));
        }
    }
    let label = |check: &str| match known.iter().find(|(c, _)| *c == check) {
        Some((_, label)) => label.clone(),
        None => check.replace('-', " "),
    };
    report.results.iter().map(|r| label(&r.check)).collect()
}

/// (message, colour): the message is the check's ([`crate::check::CheckFindings::badge_message`]).
fn content(r: &CheckResult) -> (String, &'static str) {
    (r.findings.badge_message(r), colour(r.verdict).0)
}

/// (SVG colour, shields.io colour name) of a verdict.
fn colour(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("#4c1", "brightgreen"),
        Verdict::Inconclusive => ("#dfb317", "yellow"),
        Verdict::Fail => ("#e05d44", "red"),
        Verdict::Error => ("#9f9f9f", "lightgrey"),
    }
}

/// The shields.io endpoint document.
pub fn endpoint_json(r: &CheckResult, label: &str) -> String {
    let (message, _) = content(r);
    let colour = colour(r.verdict).1;
    let document = serde_json::json!({
        "schemaVersion": 1, "label": label, "message": message, "color": colour
    });
    super::escape::json(&serde_json::to_string_pretty(&document).expect("json")) + "\n"
}

fn text_width(s: &str) -> usize {
    // Verdana 11px averages about 6.5 px per character; shields.io pads 10 px around each side.
    (s.chars().count() as f64 * 6.5).ceil() as usize + 10
}

use super::escape::xml as escape;

/// A flat badge as a self-contained SVG.
pub fn svg(r: &CheckResult, label: &str) -> String {
    let (message, colour) = content(r);
    let (lw, mw) = (text_width(label), text_width(&message));
    let w = lw + mw;
    let (l, m) = (escape(label), escape(&message));
    let (lx, mx) = (lw / 2, lw + mw / 2);
    let gradient = concat!(
        r##"<linearGradient id="s" x2="0" y2="100%">"##,
        r##"<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>"##,
        r##"<stop offset="1" stop-opacity=".1"/></linearGradient>"##,
    );
    let font = "font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\"";
    [
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" "#),
        format!(r#"aria-label="{l}: {m}">"#),
        format!("<title>{l}: {m}</title>{gradient}"),
        format!(
            r##"<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>"##
        ),
        format!(r##"<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>"##),
        format!(r#"<rect x="{lw}" width="{mw}" height="20" fill="{colour}"/>"#),
        format!(r#"<rect width="{w}" height="20" fill="url(#s)"/></g>"#),
        format!(r##"<g fill="#fff" text-anchor="middle" {font}>"##),
        format!(r#"<text x="{lx}" y="14">{l}</text><text x="{mx}" y="14">{m}</text></g></svg>"#),
    ]
    .concat()
        + "\n"
}
