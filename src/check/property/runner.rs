//! The one runner of the properties, split the way proptest splits a property test: each
//! property says how to draw and test one case and how to shrink a failure ([`Property`]); the
//! runner lists the cases (the regressions file's first, then the fresh ones), tests them as
//! work units, shrinks each method's first failure, decides the verdict from every case's
//! [`CaseRecord`], persists the counterexamples and builds the result.
//!
//! Cases are work units ([`crate::check::units`]): a sharded run tests some cases and shrinks
//! its own first failure of each method; the merge pools the records in case order, so the
//! counterexample it reports is the one of the first failing case overall — the one an unsharded
//! run shrinks. Shards never write the regressions file (its length fixes the units, which every
//! shard must agree on); `blindspot merge` names the counterexamples to append.
use super::{Boundary, CaseId, Counterexample, PropertyDetail, PropertyFindings, Regressions};
use crate::cam::CamMethod;
use crate::check::stats::Summary;
use crate::check::{Check, CheckContext, CheckResult, Findings, Outcome, Verdict};
use crate::error::{Error, Result};
use crate::progress::Progress;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The [`crate::check::Check`] methods every property takes from the generic runner:
/// `units`, `run_units`, `decide` and `run` (a property itself is [`Property`]).
macro_rules! property_runner_methods {
    () => {
        fn units(&self, ctx: &CheckContext) -> Result<Option<usize>> {
            $crate::check::property::runner::units(self, ctx)
        }

        fn run_units(
            &self,
            methods: &[Box<dyn CamMethod>],
            ctx: &CheckContext,
            units: &[usize],
        ) -> Result<Vec<serde_json::Value>> {
            $crate::check::property::runner::run_units(self, methods, ctx, units)
        }

        fn decide(
            &self,
            methods: &[Box<dyn CamMethod>],
            evidence: Vec<serde_json::Value>,
            ctx: &CheckContext,
        ) -> Result<Outcome> {
            $crate::check::property::runner::decide(self, methods, evidence, ctx)
        }

        fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
            $crate::check::property::runner::run(self, methods, ctx)
        }
    };
}
pub(crate) use property_runner_methods;

/// The [`crate::check::Check`] methods of a property with a regressions file (its field
/// `regressions: Option<PathBuf>`): the path the suite resolves, and the file the run writes.
macro_rules! regressions_file_methods {
    () => {
        fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
            self.regressions.iter_mut().collect()
        }

        fn written_paths(&self) -> Vec<&std::path::Path> {
            self.regressions.iter().map(|p| p.as_path()).collect()
        }
    };
}
pub(crate) use regressions_file_methods;

/// What one case found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// The draws redrawn before the case had an instance to test.
    pub redrawn: usize,
    /// The architecture or geometry tested; `None` when no valid instance was drawn (the case
    /// is not counted).
    pub tested: Option<String>,
    /// Per judged method: what the case says.
    pub methods: Vec<CaseVerdict>,
    /// `prop-theorem`: the readings of the bound this case showed violated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundaries: Vec<Boundary>,
}

impl CaseRecord {
    /// A case that drew no valid instance after `redrawn` draws: not counted.
    pub fn untested(redrawn: usize) -> Self {
        CaseRecord {
            redrawn,
            tested: None,
            methods: Vec::new(),
            boundaries: Vec::new(),
        }
    }
}

/// What one case says about one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseVerdict {
    /// Pass: the property held; fail: the case breaks it; inconclusive: undecided.
    pub verdict: Verdict,
    /// The property's value on the case (µ behind the wall, E\[GC\]'s lower bound, …).
    pub value: f64,
    /// `prop-wall`: a failure whose map is clean at feature resolution.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upsampling: bool,
    /// The shrunk counterexample, on the first failing case of the method in its shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// `prop-theorem`: what the case's verdict was decided from beside `value` (the Monte
    /// Carlo's mean), so that merge re-derives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<Reading>,
}

/// A Monte Carlo case's interval, the closed form it was compared with, and the precision
/// reached (`prop-theorem`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The interval's ends.
    pub ci_low: f64,
    pub ci_high: f64,
    /// The generalised closed form.
    pub closed_form: f64,
    /// The relative half-width the draws reached.
    pub relative_half_width: f64,
}

impl CaseVerdict {
    /// A verdict with its value and nothing else.
    pub fn new(verdict: Verdict, value: f64) -> Self {
        CaseVerdict {
            verdict,
            value,
            upsampling: false,
            counterexample: None,
            reading: None,
        }
    }
}

/// A property: how one case is tested and how a failure shrinks. The check's [`Check`] methods
/// `units`, `run_units`, `decide` and `run` are the runner's functions of this module.
pub trait Property: Check {
    /// Its name in replay strings (`prop:wall:…`) and in the regressions file.
    const PROPERTY: &'static str;
    /// What holds on a case, for the rule.
    const STATEMENT: &'static str;
    /// Whether the detail counts upsampling failures (`prop-wall`).
    const COUNTS_UPSAMPLING: bool = false;

    /// Fresh cases to draw.
    fn fresh_cases(&self) -> usize;

    /// The file of counterexamples to replay first and append to, if any.
    fn regressions(&self) -> Option<&Path> {
        None
    }

    /// Tests one case on the judged methods (one record entry each); advances `progress` by one.
    fn test(
        &self,
        case: &CaseId,
        methods: &[&dyn CamMethod],
        ctx: &CheckContext,
        progress: &mut Progress,
    ) -> Result<CaseRecord>;

    /// Whether a case's verdict is the one its recorded numbers give (merge re-derives every
    /// case it counts); the reason in words when not.
    fn case_agrees(&self, case: &CaseVerdict) -> std::result::Result<(), String>;

    /// The counterexamples of failures: for each (judged method's position, its first failing
    /// case, that case's record), the shrunk case.
    fn shrink(
        &self,
        failures: &[(usize, &CaseId, &CaseRecord)],
        methods: &[&dyn CamMethod],
        ctx: &CheckContext,
    ) -> Result<Vec<Counterexample>>;
}

/// Every case of the run, in unit order: the regressions file's cases first, then the fresh.
pub fn cases<P: Property>(property: &P, seed: u64) -> Result<Vec<CaseId>> {
    let replayed = match property.regressions() {
        Some(path) => Regressions::at(path).load(P::PROPERTY)?,
        None => Vec::new(),
    };
    let fresh = (0..property.fresh_cases() as u64).map(|case| CaseId {
        property: P::PROPERTY.into(),
        seed,
        case,
        arch: None,
    });
    Ok(replayed.into_iter().chain(fresh).collect())
}

/// The check's fixed built-in method, when its verdicts are about one method.
fn fixed<P: Property>(property: &P) -> Result<Option<Box<dyn CamMethod>>> {
    property
        .fixed_method()
        .map(|n| crate::cam::method_named(n, &crate::seed::Seeds::new(0)))
        .transpose()
}

/// The methods whose maps decide: the fixed one, else the given ones.
fn judged<'a>(
    fixed: &'a Option<Box<dyn CamMethod>>,
    methods: &'a [Box<dyn CamMethod>],
) -> Vec<&'a dyn CamMethod> {
    match fixed {
        Some(method) => vec![method.as_ref()],
        None => methods.iter().map(|m| m.as_ref()).collect(),
    }
}

/// [`Check::units`]: one unit per case.
pub fn units<P: Property>(property: &P, ctx: &CheckContext) -> Result<Option<usize>> {
    Ok(Some(cases(property, ctx.seed())?.len()))
}

/// [`Check::run_units`]: tests the cases `units`, and shrinks each method's first failure
/// among them.
pub fn run_units<P: Property>(
    property: &P,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
    units: &[usize],
) -> Result<Vec<serde_json::Value>> {
    let all = cases(property, ctx.seed())?;
    let fixed = fixed(property)?;
    let judged = judged(&fixed, methods);
    let label = match units.len() == all.len() {
        true => format!("{} on {} cases", P::NAME, all.len()),
        false => format!("{} on {} of its {} cases", P::NAME, units.len(), all.len()),
    };
    let mut progress = ctx.progress(label, units.len() as u64);
    let mut records = Vec::new();
    for &unit in units {
        let case = all.get(unit).ok_or_else(|| {
            Error::input(
                format!("{} has {} cases, not a case {unit}", P::NAME, all.len()),
                "a shard's work units",
                "run every shard with the same suite and regressions file",
            )
        })?;
        records.push(property.test(case, &judged, ctx, &mut progress)?);
    }
    let tested = records.iter().filter(|r| r.tested.is_some()).count();
    progress.finish(&format!("{tested} tested"));
    let mut failures = Vec::new();
    for method in 0..judged.len() {
        let first = records
            .iter()
            .position(|r| r.methods.get(method).map(|m| m.verdict) == Some(Verdict::Fail));
        failures.extend(first.map(|at| (method, at)));
    }
    let shrunk = {
        let args: Vec<(usize, &CaseId, &CaseRecord)> = failures
            .iter()
            .map(|&(method, at)| (method, &all[units[at]], &records[at]))
            .collect();
        property.shrink(&args, &judged, ctx)?
    };
    for (&(method, at), counterexample) in failures.iter().zip(shrunk) {
        records[at].methods[method].counterexample = Some(counterexample);
    }
    records
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| evidence_error(P::NAME, e.to_string())))
        .collect()
}

fn evidence_error(name: &str, why: String) -> Error {
    Error::input(
        format!("the {name} evidence of a shard is not a case record: {why}"),
        "blindspot merge",
        "merge reports as `blindspot run --shard K/N` wrote them",
    )
}

/// [`Check::decide`]: tallies every case in order; a method's counterexample is its first
/// failing case's.
pub fn decide<P: Property>(
    property: &P,
    methods: &[Box<dyn CamMethod>],
    evidence: Vec<serde_json::Value>,
    _ctx: &CheckContext,
) -> Result<Outcome> {
    let records: Vec<CaseRecord> = evidence
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| evidence_error(P::NAME, e.to_string())))
        .collect::<Result<_>>()?;
    let fixed = fixed(property)?;
    let judged = judged(&fixed, methods);
    let replayed = records.len().saturating_sub(property.fresh_cases());
    let redrawn = records.iter().map(|r| r.redrawn).sum();
    let tested: Vec<&CaseRecord> = records.iter().filter(|r| r.tested.is_some()).collect();
    let mut results = Vec::new();
    for (position, method) in judged.iter().enumerate() {
        let mut verdicts = Vec::new();
        for record in &tested {
            let verdict = record.methods.get(position).ok_or_else(|| {
                evidence_error(P::NAME, format!("no verdict for method {}", method.name()))
            })?;
            property.case_agrees(verdict).map_err(|why| {
                let case = record.tested.as_deref().unwrap_or("?");
                evidence_error(P::NAME, format!("{} on {case}: {why}", method.name()))
            })?;
            verdicts.push(verdict);
        }
        let count = |v: Verdict| verdicts.iter().filter(|c| c.verdict == v).count();
        let first = verdicts.iter().find(|c| c.verdict == Verdict::Fail);
        let counterexample = match first {
            None => None,
            Some(c) => Some(c.counterexample.clone().ok_or_else(|| {
                let why = "its first failing case carries no counterexample".to_string();
                evidence_error(P::NAME, why)
            })?),
        };
        let upsampling = verdicts.iter().filter(|c| c.upsampling).count();
        let detail = PropertyDetail {
            property: P::PROPERTY.into(),
            cases: tested.len(),
            held: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            inconclusive: count(Verdict::Inconclusive),
            redrawn,
            regressions_replayed: replayed,
            upsampling_failures: P::COUNTS_UPSAMPLING.then_some(upsampling),
            counterexample,
            boundaries: tested.iter().flat_map(|r| r.boundaries.clone()).collect(),
        };
        results.push(property_result(P::NAME, *method, detail, P::STATEMENT));
    }
    Ok(Outcome::new(results))
}

/// [`Check::run`]: every case, the decision, then the counterexamples appended to the
/// regressions file.
pub fn run<P: Property>(
    property: &P,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let outcome = crate::check::run_split(property, methods, ctx)?;
    if let Some(path) = property.regressions() {
        let regressions = Regressions::at(path);
        for result in &outcome.results {
            if let Some(f) = result.findings.get::<PropertyFindings>() {
                if let Some(c) = &f.detail.counterexample {
                    regressions.add(&CaseId::parse(&c.case)?)?;
                }
            }
        }
    }
    Ok(outcome)
}

/// A property result: pass iff the property held on every case, fail iff it failed on one,
/// inconclusive iff undecided cases remain; the summary is the share of failing cases.
pub fn property_result(
    check: &str,
    method: &dyn CamMethod,
    detail: PropertyDetail,
    property: &str,
) -> CheckResult {
    let mut detail = detail;
    if let Some(c) = &mut detail.counterexample {
        c.replay = super::replay_command(&c.case, method);
    }
    let d = &detail;
    let verdict = match (d.failed, d.inconclusive, d.cases) {
        (0, 0, n) if n > 0 => Verdict::Pass,
        (f, _, _) if f > 0 => Verdict::Fail,
        _ => Verdict::Inconclusive,
    };
    let share = if d.cases == 0 {
        0.0
    } else {
        d.failed as f64 / d.cases as f64
    };
    let replay = d
        .counterexample
        .as_ref()
        .map(|c| {
            format!(
                "; smallest counterexample {} (value {:.3e}, {} shrink steps); replay: {}",
                c.architecture,
                c.value,
                c.shrink_steps.len(),
                c.replay
            )
        })
        .unwrap_or_default();
    let summary = Summary {
        n: d.cases,
        mean: share,
        std: 0.0,
        ci_low: share,
        ci_high: share,
        ci_level: 1.0,
        interval: "exact count".into(),
        range: None,
    };
    let reason = format!(
        "held on {} of {} cases, failed on {}, undecided {}{replay}",
        d.held, d.cases, d.failed, d.inconclusive
    );
    let rule = format!(
        "pass iff {property}, on every case; fail iff a case breaks it; inconclusive otherwise"
    );
    CheckResult {
        reason,
        statistic: "share of cases on which the property fails".into(),
        rule,
        ..CheckResult::new(
            check,
            method,
            verdict,
            summary,
            Findings::new(PropertyFindings { detail }),
        )
    }
}
