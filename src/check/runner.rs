//! The one runner: every way of running checks — a suite (`blindspot run`), a single check
//! (`blindspot check NAME`), a harness trial (`cargo test`) — ends here, so they share one seed
//! policy, one error control, one report format and one order of results.
//!
//! What the runner adds to a check's own work:
//! * **Both signs** of a sign-ambiguous method ([`CamMethod::sign_ambiguous`]): the method is
//!   evaluated as computed and negated ([`Negated`]); its result is the worse verdict, with both
//!   signs' numbers in `signs`. Each sign is a verdict of the family.
//! * **Looks**: an image check whose subject allows k looks (STACK-SYNTH data) decides every
//!   verdict at α/k; a method still inconclusive is decided again on twice the images, up to k
//!   times. By the union bound over looks, a verdict's chance of being wrong stays at most α
//!   whatever the stopping (a Bonferroni alpha-spending: α/k at each of k fixed looks).
use super::timing::{Meter, Metered, Stopwatch};
use super::units::{mine, Evidence, Split, UnitRecord};
use super::{
    CheckContext, CheckResult, CheckRun, DynCheck, Gallery, Outcome, Report, Signs, Verdict,
};
use crate::cam::recorded::{MethodRecord, Recorded};
use crate::cam::{CamMethod, Negated};
use crate::error::Result;
use crate::io::number::fixed;
use std::rc::Rc;

/// A finished run: the report and the pictures the checks offered.
#[derive(Debug)]
#[non_exhaustive]
pub struct Run {
    /// Every verdict with its statistics.
    pub report: Report,
    /// The pictures the checks offered (the wall check's Figure 1 material).
    pub galleries: Vec<Gallery>,
}

impl Run {
    /// A run from its parts (a front end restoring one it saved: a pickled Python `Report`).
    pub fn new(report: Report, galleries: Vec<Gallery>) -> Self {
        Run { report, galleries }
    }
}

/// The methods as checks see them: each method, followed by its negation when it is
/// sign-ambiguous.
struct Evaluations {
    methods: Vec<Rc<dyn CamMethod>>,
    /// (as computed, negated) positions of the sign-ambiguous methods.
    pairs: Vec<(usize, usize)>,
    /// The position of each given method (as computed).
    originals: Vec<usize>,
    /// Each given method's time ([`Metered`]; a negation counts into its method's meter).
    meters: Vec<Rc<Meter>>,
}

impl Evaluations {
    fn new(methods: Vec<Box<dyn CamMethod>>) -> Self {
        let meters: Vec<Rc<Meter>> = methods.iter().map(|_| Rc::default()).collect();
        let metered = methods
            .into_iter()
            .zip(&meters)
            .map(|(m, meter)| {
                Rc::new(Metered::new(Rc::from(m), Rc::clone(meter))) as Rc<dyn CamMethod>
            })
            .collect();
        Evaluations {
            meters,
            ..Evaluations::of(metered)
        }
    }

    /// A stopwatch over the given methods' meters.
    fn stopwatch(&self) -> Stopwatch {
        let names = self
            .originals
            .iter()
            .map(|&i| self.methods[i].name().to_string())
            .collect();
        Stopwatch::new(names, self.meters.clone())
    }

    fn of(methods: Vec<Rc<dyn CamMethod>>) -> Self {
        let mut evaluations = Evaluations {
            methods: Vec::new(),
            pairs: Vec::new(),
            originals: Vec::new(),
            meters: Vec::new(),
        };
        for method in methods {
            evaluations.originals.push(evaluations.methods.len());
            evaluations.methods.push(Rc::clone(&method));
            if method.sign_ambiguous() {
                let at = evaluations.methods.len();
                evaluations.pairs.push((at - 1, at));
                evaluations.methods.push(Rc::new(Negated::new(method)));
            }
        }
        evaluations
    }

    /// The evaluations of the given methods at `originals` only.
    fn subset(&self, originals: &[usize]) -> Evaluations {
        Evaluations::of(
            originals
                .iter()
                .map(|&i| Rc::clone(&self.methods[self.originals[i]]))
                .collect(),
        )
    }

    /// The evaluations at `positions`, as a check takes them.
    fn boxed(&self, positions: impl Iterator<Item = usize>) -> Vec<Box<dyn CamMethod>> {
        positions
            .map(|i| Box::new(Rc::clone(&self.methods[i])) as Box<dyn CamMethod>)
            .collect()
    }

    fn is_negation(&self, position: usize) -> bool {
        self.pairs.iter().any(|&(_, n)| n == position)
    }

    /// One result per method from one result per evaluation: each sign-ambiguous method keeps
    /// the worse of its two signs, with both recorded.
    fn merge(&self, outcome: &mut Outcome) {
        if outcome.results.len() != self.methods.len() || self.pairs.is_empty() {
            return;
        }
        let mut chosen_negated = Vec::new();
        for &(computed, negated) in &self.pairs {
            let (a, b) = (&outcome.results[computed], &outcome.results[negated]);
            chosen_negated.push(b.verdict > a.verdict);
            let signs = Signs {
                as_computed: a.sign_outcome(),
                negated: b.sign_outcome(),
            };
            let worse = if b.verdict > a.verdict {
                b.clone()
            } else {
                a.clone()
            };
            let note = format!(
                "; judged on both signs: as computed {} (mean {}), negated {} (mean {})",
                a.verdict,
                fixed(a.summary.mean, 4),
                b.verdict,
                fixed(b.summary.mean, 4)
            );
            let (method, title) = (a.method.clone(), a.title.clone());
            let merged = &mut outcome.results[computed];
            *merged = worse;
            merged.method = method;
            merged.title = title;
            merged.reason.push_str(&note);
            merged.signs = Some(signs);
        }
        let mut position = 0;
        outcome.results.retain(|_| {
            let keep = !self.is_negation(position);
            position += 1;
            keep
        });
        if let Some(gallery) = &mut outcome.gallery {
            // The figures show the sign the verdict and the caption describe.
            for (&(computed, negated), &chosen) in self.pairs.iter().zip(&chosen_negated) {
                if !chosen {
                    continue;
                }
                gallery.maps.swap(computed, negated);
                if negated < gallery.worst.len() {
                    gallery.worst.swap(computed, negated);
                    let title = format!("{} (negated map)", gallery.titles[computed]);
                    gallery.worst[computed].title = title;
                }
            }
            let (mut titles, mut maps) = (Vec::new(), Vec::new());
            for (i, (t, m)) in gallery
                .titles
                .drain(..)
                .zip(gallery.maps.drain(..))
                .enumerate()
            {
                if !self.is_negation(i) {
                    titles.push(t);
                    maps.push(m);
                }
            }
            (gallery.titles, gallery.maps) = (titles, maps);
            let mut position = 0;
            gallery.worst.retain(|_| {
                let keep = !self.is_negation(position);
                position += 1;
                keep
            });
        }
    }
}

/// What a shard does with a check: all of it, some of its `count` units, or its results for
/// some of the methods.
enum Work {
    Whole,
    Units(usize, Vec<usize>),
    Methods(Vec<usize>),
}

/// Runs a check that splits by method on the given methods only, with its looks and both signs:
/// one unit record (the method's results) per method.
fn run_methods(
    check: &dyn DynCheck,
    evaluations: &Evaluations,
    here: &[usize],
    ctx: &CheckContext,
) -> Result<Vec<UnitRecord>> {
    let outcome = judge(check, evaluations, here, ctx)?;
    if outcome.results.len() != here.len() {
        return Err(crate::error::Error::input(
            format!(
                "the {} check splits by method but gave {} results for {} methods",
                check.name(),
                outcome.results.len(),
                here.len()
            ),
            format!("the {} check", check.name()),
            "give one result per method, or do not split by method (Check::split_by_method)",
        ));
    }
    here.iter()
        .zip(outcome.results)
        .map(|(&unit, result)| {
            let evidence = serde_json::to_value(vec![result]).map_err(|e| {
                crate::error::Error::input(
                    format!("a {} result does not serialise: {e}", check.name()),
                    format!("the {} check", check.name()),
                    "give results of finite numbers",
                )
            })?;
            Ok(UnitRecord { unit, evidence })
        })
        .collect()
}

/// The verdicts of a split check from the evidence of all its units (in unit order), on the
/// recorded methods: what a merge calls. The same decision as an unsharded run's, both signs of a
/// sign-ambiguous method included.
pub fn decide_recorded(
    check: &dyn DynCheck,
    methods: &[MethodRecord],
    evidence: Vec<serde_json::Value>,
    ctx: &CheckContext,
) -> Result<Outcome> {
    let recorded = methods
        .iter()
        .map(|m| Box::new(Recorded(m.clone())) as Box<dyn CamMethod>)
        .collect();
    let evaluations = Evaluations::new(recorded);
    let all = evaluations.boxed(0..evaluations.methods.len());
    let mut outcome = check.decide(&all, evidence, &ctx.for_looks(1))?;
    evaluations.merge(&mut outcome);
    Ok(outcome)
}

/// A check as a run schedules it: its position in the suite and, when the suite gives it a
/// method list of its own, the positions of those methods in the run's list (else it judges
/// every method).
#[derive(Clone, Copy)]
pub struct Scheduled<'a> {
    pub index: usize,
    pub check: &'a dyn DynCheck,
    pub methods: Option<&'a [usize]>,
}

impl<'a> Scheduled<'a> {
    /// `check` at `index`, on every method.
    pub fn all(index: usize, check: &'a dyn DynCheck) -> Self {
        Scheduled {
            index,
            check,
            methods: None,
        }
    }
}

/// The verdicts a run of `checks` on `methods` makes: the family its error rate is shared over.
pub fn family_size(checks: &[Scheduled], methods: &[Box<dyn CamMethod>]) -> usize {
    checks
        .iter()
        .map(|c| {
            let judged: Vec<&Box<dyn CamMethod>> = match c.methods {
                Some(positions) => positions.iter().map(|&i| &methods[i]).collect(),
                None => methods.iter().collect(),
            };
            let evaluations = judged.len() + judged.iter().filter(|m| m.sign_ambiguous()).count();
            c.check.verdicts(evaluations)
        })
        .sum()
}

/// Runs one check with its looks: every verdict decided at α/looks, the inconclusive ones again
/// on twice the images while looks remain (not those a passing negative control made so).
fn run_with_looks(
    check: &dyn DynCheck,
    evaluations: &Evaluations,
    ctx: &CheckContext,
) -> Result<Outcome> {
    let looks = check.subject().map(|s| s.effective_looks()).unwrap_or(1);
    let ctx = ctx.for_looks(looks);
    let count = evaluations.methods.len();
    let mut outcome = check.run(&evaluations.boxed(0..count), &ctx)?;
    if outcome.results.len() != count {
        return Ok(outcome); // not one result per method: nothing to look at again
    }
    for look in 2..=looks {
        let pending: Vec<usize> = (0..count)
            .filter(|&i| {
                let result = &outcome.results[i];
                // More images cannot make a check that its controls pass separate.
                result.verdict == Verdict::Inconclusive && !result.inseparable()
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        let mut bigger = check.clone_box();
        if let Some(subject) = bigger.subject_mut() {
            *subject = subject.grown(1 << (look - 1));
        }
        let more = bigger.run(&evaluations.boxed(pending.iter().copied()), &ctx)?;
        for (&i, mut result) in pending.iter().zip(more.results) {
            result.looks = look;
            outcome.results[i] = result;
        }
    }
    Ok(outcome)
}

/// Everything cheap that could fail a run late, checked before any model runs or trains: every
/// model file, weights file and data path exists, every built-in name is known, and the model
/// cache is usable when a trained preset is needed.
pub fn preflight(checks: &[&dyn DynCheck]) -> Result<()> {
    let missing = |what: &str, path: &std::path::Path, fix: &str| {
        Err(crate::error::Error::input(
            format!("{what} {} {}", path.display(), crate::io::not_a_file(path)),
            path.display().to_string(),
            fix.to_string(),
        ))
    };
    let mut cache_checked = false;
    for check in checks {
        for (spec, weights) in check.models() {
            if let Some(w) = weights.filter(|w| !w.is_file()) {
                return missing(
                    "the weights file",
                    &w,
                    "pass the path of a .safetensors file",
                );
            }
            match spec.strip_prefix("builtin:") {
                Some(name) => {
                    let preset = crate::train::presets::config(name, 0).is_some();
                    let zoo = crate::model::zoo::BUILTINS.iter().any(|(n, _)| *n == name);
                    if !preset && !zoo {
                        let mut known: Vec<String> = crate::train::presets::PRESETS
                            .iter()
                            .chain(crate::model::zoo::BUILTINS)
                            .map(|(n, _)| format!("builtin:{n}"))
                            .collect();
                        known.dedup();
                        return Err(crate::error::Error::Unknown {
                            kind: "built-in model",
                            name: spec.clone(),
                            known: known.join(", "),
                        });
                    }
                    if preset && !cache_checked {
                        crate::train::cache::ensure_usable()?;
                        cache_checked = true;
                    }
                }
                None => {
                    let path = std::path::Path::new(&spec);
                    if !path.is_file() {
                        return missing(
                            "the model file",
                            path,
                            "pass a TorchScript .pt file, or builtin:NAME (see `blindspot models`)",
                        );
                    }
                }
            }
        }
        let Some(subject) = check.subject() else {
            continue;
        };
        let untrained = subject.needs_weights && subject.weights.is_none();
        let no_folder = match &subject.data {
            crate::data::DataSpec::Folder { folder, .. } if !folder.is_dir() => Some(folder),
            _ => None,
        };
        if untrained || no_folder.is_some() {
            // One message for both inputs such a suite needs (the paper's: docs/models.md).
            let mut what = Vec::new();
            if untrained {
                what.push(format!(
                    "the {} check's model {} has no trained weights (its table would come from \
                     random ones)",
                    check.name(),
                    subject.model
                ));
            }
            if let Some(folder) = no_folder {
                what.push(format!(
                    "the image folder {} does not exist",
                    folder.display()
                ));
            }
            return Err(crate::error::Error::input(
                what.join("; "),
                "--data / --weights",
                "pass --data DIR (a folder of the images) and --weights FILE (trained weights, \
                 .safetensors); docs/models.md says where the paper's images and weights come \
                 from and how to convert the checkpoint",
            ));
        }
        if let crate::data::DataSpec::Npy { input } = &subject.data {
            if !input.is_file() {
                return missing("the image array", input, "pass an existing .npy file");
            }
        }
    }
    Ok(())
}

/// Runs one check alone on `methods` (`blindspot check NAME`, the Python module's `check`): its
/// verdicts are the whole family, `family_wise_error` shared over them by Bonferroni.
pub fn run_one(
    name: &str,
    check: &dyn DynCheck,
    methods: Vec<Box<dyn CamMethod>>,
    family_wise_error: f64,
    device: tch::Device,
    seed: u64,
) -> Result<Run> {
    let scheduled = [Scheduled::all(0, check)];
    let control =
        super::ErrorControl::bonferroni(family_wise_error, family_size(&scheduled, &methods));
    let ctx = CheckContext::controlled(device, seed, control);
    run_checks(name, &scheduled, methods, &ctx, None)
}

/// The methods at `positions` (of the run's list) that cannot explain one of `check`'s models,
/// each with the reason: a method that needs the model's layers one by one
/// ([`CamMethod::requires_steps`]) on a model that is not built in (a TorchScript file keeps
/// them inside its graph).
fn refusals(
    check: &dyn DynCheck,
    evaluations: &Evaluations,
    positions: &[usize],
) -> Vec<(usize, String)> {
    let Some(why) = model_without_steps(check) else {
        return Vec::new();
    };
    positions
        .iter()
        .filter(|&&p| evaluations.methods[evaluations.originals[p]].requires_steps())
        .map(|&p| {
            let name = evaluations.methods[evaluations.originals[p]].title().to_string();
            let reason = format!(
                "{name} needs the model's layers one by one (guided backpropagation's ReLUs, \
                 FullGrad's biases), and {why}: no map; run it on a built-in CNN, or the \
                 reference library's class on the Python model"
            );
            (p, reason)
        })
        .collect()
}

/// Which of `methods` explain `check`'s models when a run asks for `all`: on a model that is not
/// built in (a TorchScript file keeps its layers inside its graph), not the methods that need its
/// layers one by one ([`CamMethod::requires_steps`]). Also the note that names those left out,
/// if any, for stderr.
pub(crate) fn under_all<'a>(
    check: &dyn DynCheck,
    methods: impl IntoIterator<Item = &'a dyn CamMethod>,
) -> (Vec<bool>, Option<String>) {
    let methods: Vec<&dyn CamMethod> = methods.into_iter().collect();
    let Some(why) = model_without_steps(check) else {
        return (vec![true; methods.len()], None);
    };
    let kept: Vec<bool> = methods.iter().map(|m| !m.requires_steps()).collect();
    let left: Vec<&str> = methods
        .iter()
        .zip(&kept)
        .filter(|(_, &k)| !k)
        .map(|(m, _)| m.name())
        .collect();
    let note = (!left.is_empty()).then(|| {
        format!(
            "note: {} left out of `all` for the {} check: they need the model's layers one by \
             one (guided backpropagation's ReLUs, FullGrad's biases), and {why}",
            left.join(", "),
            check.name(),
        )
    });
    (kept, note)
}

/// Why the first of `check`'s models that cannot be walked layer by layer cannot
/// ([`crate::open::without_steps`]: a TorchScript file, a built-in vision transformer), if any.
pub(crate) fn model_without_steps(check: &dyn DynCheck) -> Option<String> {
    check
        .models()
        .into_iter()
        .find_map(|(spec, _)| crate::open::without_steps(&spec))
}

/// `check` with its looks and both signs on the methods at `positions` (of the run's list), one
/// result per method in their order: a method that cannot explain the check's models
/// ([`refusals`]) an `error` result saying why, in its place, the others their verdicts.
fn judge(
    check: &dyn DynCheck,
    evaluations: &Evaluations,
    positions: &[usize],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let refused = refusals(check, evaluations, positions);
    let able: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|p| !refused.iter().any(|(r, _)| r == p))
        .collect();
    let judged = evaluations.subset(&able);
    let mut outcome = match able.is_empty() {
        true => Outcome::new(Vec::new()),
        false => run_with_looks(check, &judged, ctx)?,
    };
    judged.merge(&mut outcome);
    if refused.is_empty() {
        return Ok(outcome);
    }
    let mut run = outcome.results.into_iter();
    let results = positions
        .iter()
        .filter_map(|p| match refused.iter().find(|(r, _)| r == p) {
            Some((_, reason)) => {
                let method = evaluations.methods[evaluations.originals[*p]].as_ref();
                Some(CheckResult::error(check.name(), method, reason.clone(), ""))
            }
            None => run.next(),
        })
        .collect();
    Ok(Outcome {
        results,
        gallery: outcome.gallery,
    })
}

/// Runs each scheduled check on its methods (every method unless it has a list), in order, and
/// gathers one report
/// labelled `label` (`suite:default`, `wall`). `ctx.control` must count the whole family
/// ([`family_size`]). With `shard = Some((k, n))` only the shard's work items run
/// ([`super::units`]): the whole checks among them give results, the units of split checks give
/// evidence for `blindspot merge` to decide. A check with a method list of its own is never
/// split: a shard runs it whole.
///
/// Long: the runner's one loop: plan the shard's items, run each with its looks and signs, gather
/// the report.
pub fn run_checks(
    label: &str,
    checks: &[Scheduled],
    methods: Vec<Box<dyn CamMethod>>,
    ctx: &CheckContext,
    shard: Option<(usize, usize)>,
) -> Result<Run> {
    crate::cam::ensure_usable_methods(&methods)?;
    let records: Vec<MethodRecord> = methods
        .iter()
        .map(|m| MethodRecord::of(m.as_ref()))
        .collect();
    // Which work items are this shard's: a split check's units, else the whole check.
    let mut planned = Vec::new();
    let mut item = 0;
    for scheduled in checks {
        let (index, check) = (scheduled.index, scheduled.check);
        // A check's own units are decided once, by the merge, at one look: a check whose
        // subject takes further looks splits by method (each method's looks on one shard), if
        // it may, or runs whole.
        let one_look = check.subject().is_none_or(|s| s.effective_looks() == 1);
        let units = match (shard, one_look) {
            (Some(_), true) => check.units(ctx)?,
            _ => None,
        };
        let split = match (shard, units) {
            (None, _) => None,
            _ if scheduled.methods.is_some() => None,
            (Some(_), Some(count)) => Some((count, Split::Units)),
            (Some(_), None) => check
                .split_by_method()
                .then_some((records.len(), Split::Methods)),
        };
        let work = match split {
            Some((count, split)) => {
                let here: Vec<usize> = (0..count).filter(|u| mine(item + u, shard)).collect();
                item += count;
                (!here.is_empty()).then_some(match split {
                    Split::Units => Work::Units(count, here),
                    Split::Methods => Work::Methods(here),
                })
            }
            None => {
                item += 1;
                mine(item - 1, shard).then_some(Work::Whole)
            }
        };
        planned.extend(work.map(|w| (index, check, scheduled.methods, w)));
    }
    preflight(&planned.iter().map(|(_, c, _, _)| *c).collect::<Vec<_>>())?;
    let evaluations = Evaluations::new(methods);
    let mut report = Report::new(label.to_string(), ctx.seed(), ctx.device, ctx.control);
    let mut galleries = Vec::new();
    let mut stopwatch = evaluations.stopwatch();
    for (index, check, only, work) in planned {
        let evidence = |split, units, found| Evidence {
            index,
            check: check.name().into(),
            params: check.params(),
            split,
            units,
            methods: records.clone(),
            expect: Vec::new(),
            records: found,
        };
        match work {
            Work::Whole => {}
            Work::Units(units, here) => {
                let all = evaluations.boxed(0..evaluations.methods.len());
                let found = stopwatch.time(index, check.name(), || {
                    check.run_units(&all, &ctx.for_looks(1), &here)
                })?;
                let found = here
                    .into_iter()
                    .zip(found)
                    .map(|(unit, evidence)| UnitRecord { unit, evidence })
                    .collect();
                report.evidence.push(evidence(Split::Units, units, found));
                continue;
            }
            Work::Methods(here) => {
                let found = stopwatch.time(index, check.name(), || {
                    run_methods(check, &evaluations, &here, ctx)
                })?;
                report
                    .evidence
                    .push(evidence(Split::Methods, records.len(), found));
                continue;
            }
        }
        let positions: Vec<usize> = match only {
            Some(positions) => positions.to_vec(),
            None => (0..records.len()).collect(),
        };
        let outcome = stopwatch.time(index, check.name(), || {
            judge(check, &evaluations, &positions, ctx)
        })?;
        report.checks.push(CheckRun {
            check: check.name().into(),
            params: check.params(),
            index,
            results: outcome.results.len(),
        });
        report.results.extend(outcome.results);
        galleries.extend(outcome.gallery.map(|g| Gallery { run: index, ..g }));
    }
    report.models = ctx.models();
    report.timing = stopwatch.finish();
    Ok(Run { report, galleries })
}
