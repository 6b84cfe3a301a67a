//! The one runner: every way of running checks — a suite (`blindspot run`), a single check
//! (`blindspot check NAME`), a harness trial (`cargo test`) — ends here, so they share one seed
//! policy, one report format and one order of results.
use super::{CheckContext, CheckRun, DynCheck, Gallery, Report};
use crate::cam::CamMethod;
use crate::error::Result;

/// A finished run: the report and the pictures the checks offered.
#[derive(Debug)]
pub struct Run {
    pub report: Report,
    pub galleries: Vec<Gallery>,
}

/// Runs each `(index in the suite, check)` on every method, in order, and gathers one report
/// labelled `label` (`suite:default`, `wall`).
pub fn run_checks(
    label: &str,
    checks: &[(usize, &dyn DynCheck)],
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Run> {
    let mut report = Report::new(label.to_string(), ctx.seed(), ctx.device);
    let mut galleries = Vec::new();
    for &(index, check) in checks {
        let outcome = check.run(methods, ctx)?;
        report.checks.push(CheckRun {
            check: check.name().into(),
            params: check.params(),
            index,
            results: outcome.results.len(),
        });
        report.results.extend(outcome.results);
        galleries.extend(outcome.gallery);
    }
    Ok(Run { report, galleries })
}
