//! What a check is: the [`Check`] trait every check implements, built in or a user's.
use super::context::CheckContext;
use super::Outcome;
use super::result::CheckFindings;
use super::subject::Subject;
use crate::cam::CamMethod;
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A sanity check. The implementing struct's fields are its parameters: derive `Serialize`,
/// `Deserialize` (suites) and `clap::Args` (the command line) on it, register it in a
/// [`super::Registry`], and suites, `blindspot check NAME`, reports and the harness all know it.
pub trait Check: Clone + std::fmt::Debug + Serialize + DeserializeOwned + clap::Args {
    /// The name in suites (`check = "wall"`), on the command line and in reports.
    const NAME: &'static str;
    /// One line for `blindspot check --help`.
    const ABOUT: &'static str;
    /// Its own numbers in each result: how they are encoded, decoded and rendered
    /// ([`CheckFindings`]).
    type Findings: CheckFindings;

    /// The model, data and decision settings of an image check; None for checks that bring
    /// their own models (the theorem's random rCNNs).
    fn subject(&self) -> Option<&Subject> {
        None
    }

    /// Mutable access to [`Check::subject`], so `--data` and suite paths apply to every check.
    fn subject_mut(&mut self) -> Option<&mut Subject> {
        None
    }

    /// Refuses parameters outside their ranges (one message naming the parameter, its value and
    /// the allowed range), before anything runs: suites and the command line call it.
    fn validate(&self) -> std::result::Result<(), String> {
        match self.subject() {
            Some(subject) => subject.validate(),
            None => Ok(()),
        }
    }

    /// The files among [`Check::paths_mut`] that the check writes (a regressions file): a suite
    /// may only name such a file inside its own folder. Default: none.
    fn written_paths(&self) -> Vec<&std::path::Path> {
        Vec::new()
    }

    /// The files the check reads or writes, so that a suite resolves them against its own
    /// folder. Default: the subject's image file or folder.
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf> {
        match self.subject_mut() {
            Some(s) => s.data.path_mut().into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The models the check opens, with their weights files: (spec, weights). Checked before
    /// anything runs (the runner's preflight). Default: the subject's model.
    fn models(&self) -> Vec<(String, Option<std::path::PathBuf>)> {
        match self.subject() {
            Some(s) => vec![(s.model.clone(), s.weights.clone())],
            None => Vec::new(),
        }
    }

    /// The built-in method whose maps decide every verdict, for a check that is about one method
    /// rather than the methods it is given (the theorem's Monte Carlo is about GradCAM); `None`
    /// (the default) when each given method's own maps decide its verdicts. The harness names a
    /// trial after the method that decided it: `…::builtin:gradcam` instead of the user's method.
    fn fixed_method(&self) -> Option<&'static str> {
        None
    }

    /// How many verdicts the check makes for `methods` method evaluations (the family size it
    /// adds to a run). Default: one per method.
    fn verdicts(&self, methods: usize) -> usize {
        methods
    }

    /// The harness's trials: one (label, check) per configuration. Default: one, labelled by the
    /// model (`stack-masked`) or, without a model, by the check's name.
    fn configurations(&self) -> Vec<(String, Self)> {
        let label = match self.subject() {
            Some(s) => s.model_label(),
            None => Self::NAME.to_string(),
        };
        vec![(label, self.clone())]
    }

    /// How many independent work units the check splits into (the cases of a property), so
    /// that a sharded run can hand them to different machines (docs/sharding.md); `None`, the
    /// default: the check runs whole, on one shard. A check that splits implements
    /// [`Check::run_units`] and [`Check::decide`], and its [`Check::run`] is [`run_split`].
    fn units(&self, _ctx: &CheckContext) -> Result<Option<usize>> {
        Ok(None)
    }

    /// Whether a sharded run may hand the methods to different shards: true when each method's
    /// results depend on that method alone (not on the other methods run beside it), as for
    /// the image checks. Default: false.
    fn split_by_method(&self) -> bool {
        false
    }

    /// Runs the units `units` (ascending, each below [`Check::units`]) on every method and
    /// returns what each found, in order, in the check's own encoding. Every random stream of a
    /// unit derives from (run seed, check, unit) alone.
    fn run_units(
        &self,
        _methods: &[Box<dyn CamMethod>],
        _ctx: &CheckContext,
        _units: &[usize],
    ) -> Result<Vec<serde_json::Value>> {
        Err(not_split(Self::NAME))
    }

    /// Decides every verdict from the evidence of all the check's units, in unit order: what
    /// `blindspot merge` calls with the shards' evidence, and [`run_split`] with its own.
    fn decide(
        &self,
        _methods: &[Box<dyn CamMethod>],
        _evidence: Vec<serde_json::Value>,
        _ctx: &CheckContext,
    ) -> Result<Outcome> {
        Err(not_split(Self::NAME))
    }

    /// Runs the check on every method: one or more results per method.
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome>;
}

/// The run of a check that splits into units: every unit, then the decision a merge would
/// make, so that an unsharded run and a merge of shards take the same path.
pub fn run_split<C: Check>(
    check: &C,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let units = check.units(ctx)?.ok_or_else(|| not_split(C::NAME))?;
    let all: Vec<usize> = (0..units).collect();
    let evidence = check.run_units(methods, ctx, &all)?;
    check.decide(methods, evidence, ctx)
}

fn not_split(name: &str) -> crate::error::Error {
    crate::error::Error::input(
        format!("the {name} check does not split into work units"),
        format!("the {name} check"),
        "implement Check::units, run_units and decide together (docs/architecture.md)",
    )
}

/// The [`Check`] methods of a check on a model and its images whose results depend on each
/// method's own maps alone: `subject` and `subject_mut` give the field at `$($field).+` (its
/// [`Subject`]), and `split_by_method` is true, so shards may split the methods.
macro_rules! image_check_methods {
    ($($field:ident).+) => {
        fn subject(&self) -> Option<&$crate::check::Subject> {
            Some(&self.$($field).+)
        }
        fn subject_mut(&mut self) -> Option<&mut $crate::check::Subject> {
            Some(&mut self.$($field).+)
        }
        /// Each method's results depend on its own maps alone: shards may split the methods.
        fn split_by_method(&self) -> bool {
            true
        }
    };
}
pub(crate) use image_check_methods;
