//! junit.xml: one testcase per check × method (× configuration for the theorem), failures and
//! errors carrying the statistic and the rule, for CI systems that display JUnit results.
use super::Report;
use crate::check::Verdict;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(report: &Report) -> String {
    let failures = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .count();
    let errors = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Error)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"blindspot\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        report.results.len(),
        escape(&report.check),
        report.results.len()
    ));
    for r in &report.results {
        let config = r
            .extra
            .get("filters")
            .map(|v| format!("[V={v}, tau={}]", r.extra["tau"]))
            .unwrap_or_default();
        out.push_str(&format!(
            "    <testcase classname=\"blindspot.{}\" name=\"{}{}\"",
            escape(&r.check),
            escape(&r.method),
            escape(&config)
        ));
        let body = format!(
            "{}\nstatistic: {}\nn = {}, mean = {}, std = {}, interval [{}, {}] ({})\nrule: {}",
            r.reason, r.statistic, r.n, r.mean, r.std, r.ci_low, r.ci_high, r.interval, r.rule
        );
        match r.verdict {
            Verdict::Pass => out.push_str(" />\n"),
            Verdict::Fail => out.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(&r.reason),
                escape(&body)
            )),
            Verdict::Error => out.push_str(&format!(
                ">\n      <error message=\"{}\">{}</error>\n    </testcase>\n",
                escape(&r.reason),
                escape(&body)
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
