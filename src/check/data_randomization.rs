//! Data randomization (Adebayo et al., NeurIPS 2018): compare a method's maps on a model trained
//! on the true labels with its maps on the same architecture trained on permuted labels (which
//! can only memorise). Maps that stay alike do not depend on what the model learned.
//! Same similarities and rule as model randomization ([`super::correlation`]): pass iff the
//! one-sided upper bound of mean Spearman(abs) is below `threshold`, and the same negative
//! controls ([`super::controls`]). One random-label model is one draw of the label permutation:
//! repeating it means training another model, so this check does not take `draws`.
use super::controls;
use super::correlation::{Rule, StepSimilarity, THRESHOLD};
use super::similarity::compare;
use super::{Check, CheckContext, Findings, Outcome, Subject};
use crate::cam::{explain_batched, CamMethod};
use crate::error::Result;
use crate::model::SplitModel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The random-label model unless told otherwise.
pub const RANDOM_LABELS_MODEL: &str = "builtin:stack-randlabels";


#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DataRandomizationCheck {
    /// The model trained on true labels (`model`) and the images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// The same architecture trained on permuted labels.
    #[arg(long, default_value = RANDOM_LABELS_MODEL)]
    pub random_labels_model: String,
    /// Weights for a built-in random-label architecture.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_labels_weights: Option<PathBuf>,
    /// Pass threshold on the upper bound of mean Spearman(abs).
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
}

impl Default for DataRandomizationCheck {
    fn default() -> Self {
        DataRandomizationCheck {
            subject: Subject::default(),
            random_labels_model: RANDOM_LABELS_MODEL.into(),
            random_labels_weights: None,
            threshold: THRESHOLD,
        }
    }
}

/// The data-randomization check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRandomizationFindings {
    pub detail: DataRandomizationDetail,
}

/// The generic table line and badge (the mean similarity).
impl super::CheckFindings for DataRandomizationFindings {
    fn decided_against_threshold(&self) -> bool {
        true
    }

    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!(
            "data randomization · {} vs {}",
            super::result::badge_model(&self.detail.model),
            super::result::badge_model(&self.detail.random_labels_model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRandomizationDetail {
    pub model: String,
    pub random_labels_model: String,
    pub similarities: StepSimilarity,
    pub data: String,
}

impl DataRandomizationCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        DataRandomizationCheck {
            subject,
            ..Self::default()
        }
    }
}

impl Check for DataRandomizationCheck {
    const NAME: &'static str = "data-randomization";
    const ABOUT: &'static str =
        "True-label model vs random-label model (Adebayo et al., NeurIPS 2018)";
    type Findings = DataRandomizationFindings;

    super::plugin::image_check_methods!(subject);

    fn models(&self) -> Vec<(String, Option<PathBuf>)> {
        vec![
            (self.subject.model.clone(), self.subject.weights.clone()),
            (
                self.random_labels_model.clone(),
                self.random_labels_weights.clone(),
            ),
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, -1.0, 1.0, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let trained = self.subject.open(ctx)?;
        let weights = self.random_labels_weights.clone();
        let random = self
            .subject
            .open_other(&self.random_labels_model, weights, ctx)?;
        let x = self.subject.images(trained.as_ref(), ctx)?;
        same_architecture(trained.as_ref(), random.as_ref(), &x, ctx.device)?;
        // Both models explain the class the true-label model predicts.
        let targets = tch::no_grad(|| trained.forward(&x.to_device(ctx.device)))?.argmax(1, false);
        let rule = Rule {
            check: Self::NAME,
            threshold: self.threshold,
            alpha: ctx.alpha(),
            what: "between the true-label and the random-label model",
        };
        let batch = self.subject.batch_size;
        let controls = controls::methods(ctx);
        let mut results = Vec::new();
        for m in controls::with_controls(methods, &controls) {
            let a = ctx.explain(m, trained.as_ref(), &x, Some(&targets), batch)?;
            let b = explain_batched(m, random.as_ref(), &x, Some(&targets), batch)?;
            let s = compare(&a.maps, &b.maps, &a.raw, &b.raw);
            let detail = DataRandomizationDetail {
                model: trained.name(),
                random_labels_model: random.name(),
                similarities: StepSimilarity::of("true vs permuted labels", &s),
                data: self.subject.data.describe(&ctx.seeds),
            };
            let findings = Findings::new(DataRandomizationFindings { detail });
            let (values, undefined) = s.spearman_abs_ruled();
            results.push(rule.verdict(m, vec![values], undefined, findings));
        }
        Ok(Outcome::new(controls::apply(results, controls.len())))
    }
}

/// Data randomization compares one architecture trained two ways: the random-label model's
/// explained layer must have the model's shape (a map of another size has no pixel-wise
/// correlation with it; before, such a model ended in a crash).
fn same_architecture(
    trained: &dyn SplitModel,
    random: &dyn SplitModel,
    x: &tch::Tensor,
    device: tch::Device,
) -> Result<()> {
    let one = x.narrow(0, 0, 1).to_device(device);
    let shape = |m: &dyn SplitModel| -> Result<Vec<i64>> {
        Ok(tch::no_grad(|| m.features(&one))?.size()[1..].to_vec())
    };
    let (a, b) = (shape(trained)?, shape(random)?);
    if a == b {
        return Ok(());
    }
    Err(crate::error::Error::input(
        format!(
            "the random-label model {} explains a layer of {b:?}, the model {} one of {a:?}",
            random.name(),
            trained.name()
        ),
        "data-randomization: random_labels_model",
        "give the same architecture trained on permuted labels (data randomization compares \
         one architecture trained two ways)",
    ))
}
