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
    let failures = count(Verdict::Fail) + count(Verdict::Inconclusive);
    let (errors, tests) = (count(Verdict::Error), report.results.len());
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
            escape(&r.title),
            escape(&config)
        ));
        let s = &r.summary;
        let body = format!(
            "{}\nstatistic: {}\nn = {}, mean = {}, std = {}, interval [{}, {}] ({})\nrule: {}",
            r.reason, r.statistic, s.n, s.mean, s.std, s.ci_low, s.ci_high, s.interval, r.rule
        );
        let (message, body) = (escape(&r.reason), escape(&body));
        // An inconclusive verdict fails a gate that expects a pass, so it is a failure too,
        // typed so that a CI can tell it apart.
        let element = match r.verdict {
            Verdict::Pass => None,
            Verdict::Fail => Some(("failure", " type=\"fail\"")),
            Verdict::Inconclusive => Some(("failure", " type=\"inconclusive\"")),
            Verdict::Error => Some(("error", "")),
        };
        match element {
            None => out.push_str(" />\n"),
            Some((tag, kind)) => out.push_str(&format!(
                ">\n      <{tag}{kind} message=\"{message}\">{body}</{tag}>\n    </testcase>\n"
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
