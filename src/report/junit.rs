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
    let count = |v: Verdict| report.results.iter().filter(|r| r.verdict == v).count();
    let (failures, errors, tests) = (
        count(Verdict::Fail),
        count(Verdict::Error),
        report.results.len(),
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"blindspot\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" \
         failures=\"{failures}\" errors=\"{errors}\">\n",
        escape(&report.check),
    ));
    for r in &report.results {
        let config = r
            .configuration()
            .map(|c| format!("[{c}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "    <testcase classname=\"blindspot.{}\" name=\"{}{}\"",
            escape(&r.check),
            escape(&r.method),
            escape(&config)
        ));
        let s = &r.summary;
        let body = format!(
            "{}\nstatistic: {}\nn = {}, mean = {}, std = {}, interval [{}, {}] ({})\nrule: {}",
            r.reason, r.statistic, s.n, s.mean, s.std, s.ci_low, s.ci_high, s.interval, r.rule
        );
        let (tag, message, body) = (r.verdict.to_string(), escape(&r.reason), escape(&body));
        let tag = if tag == "fail" {
            "failure".to_string()
        } else {
            tag
        };
        match r.verdict {
            Verdict::Pass => out.push_str(" />\n"),
            Verdict::Fail | Verdict::Error => out.push_str(&format!(
                ">\n      <{tag} message=\"{message}\">{body}</{tag}>\n    </testcase>\n"
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
