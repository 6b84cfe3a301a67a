//! junit.xml: one testcase per check × method (× configuration for the theorem), judged as the
//! exit code judges it: a testcase fails only when its verdict is not the expected one. An
//! expected fail or inconclusive (a suite's `expect`) is a passing testcase that carries its
//! verdict as properties and its statistics in `system-out`, so a CI's JUnit reporter is green
//! exactly when `blindspot run` exits 0.
use super::Report;
use crate::check::Verdict;

use super::escape::xml as escape;

pub fn render(report: &Report) -> String {
    let unexpected = report.unexpected();
    let errors = unexpected
        .iter()
        .filter(|r| r.verdict == Verdict::Error)
        .count();
    let (failures, tests) = (unexpected.len() - errors, report.results.len());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"blindspot\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" \
         failures=\"{failures}\" errors=\"{errors}\">\n    <properties>\n      \
         <property name=\"outcome\" value=\"{}\"/>\n    </properties>\n",
        escape(&report.check),
        escape(&report.expectation_summary()),
    ));
    for r in &report.results {
        let config = r
            .configuration()
            .map(|c| format!("[{c}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "    <testcase classname=\"blindspot.{}\" name=\"{}{}\"",
            escape(&r.check),
            escape(&r.title),
            escape(&config)
        ));
        let s = &r.summary;
        let expected = r
            .expected
            .map_or("no expectation".into(), |v| v.to_string());
        let body = format!(
            "verdict {}, expected {expected}: {}\nstatistic: {}\nn = {}, mean = {}, std = {}, \
             interval [{}, {}] ({})\nrule: {}",
            r.verdict,
            r.reason,
            r.statistic,
            s.n,
            s.mean,
            s.std,
            s.ci_low,
            s.ci_high,
            s.interval,
            r.rule
        );
        let body = escape(&body);
        if r.as_expected() {
            if r.verdict == Verdict::Pass {
                out.push_str(" />\n");
            } else {
                let property = |name: &str, value: &str| {
                    format!(
                        "        <property name=\"{name}\" value=\"{}\"/>\n",
                        escape(value)
                    )
                };
                out.push_str(">\n      <properties>\n");
                out.push_str(&property("verdict", &r.verdict.to_string()));
                out.push_str(&property("expected", &expected));
                out.push_str("      </properties>\n");
                out.push_str(&format!(
                    "      <system-out>{body}</system-out>\n    </testcase>\n"
                ));
            }
            continue;
        }
        // Typed so that a CI can tell an unexpected fail, inconclusive and pass apart.
        let (tag, kind) = match r.verdict {
            Verdict::Error => ("error", ""),
            Verdict::Fail => ("failure", " type=\"fail\""),
            Verdict::Inconclusive => ("failure", " type=\"inconclusive\""),
            Verdict::Pass => ("failure", " type=\"unexpected-pass\""),
        };
        let message = escape(&format!("{}, expected {expected}: {}", r.verdict, r.reason));
        out.push_str(&format!(
            ">\n      <{tag}{kind} message=\"{message}\">{body}</{tag}>\n    </testcase>\n"
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
