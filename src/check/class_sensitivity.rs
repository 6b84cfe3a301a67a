//! Class sensitivity, the random-logit test (Sixt, Granz & Landgraf, "When Explanations Lie: Why
//! Many Modified BP Attributions Fail", ICML 2020; Quantus' RandomLogit): a map for the predicted
//! class should differ from a map for another class.
//!
//! Per image: SSIM between the map of the predicted class and the map of a uniformly drawn other
//! class (seeded). A method whose maps do not depend on the class at all (EigenCAM, the Sobel
//! map) is flagged `class_agnostic` and fails. Otherwise mean SSIM is judged against `threshold`
//! with [`super::stats::judge_below`]: pass iff the upper bound is below it, fail iff the lower
//! bound is at or above it, inconclusive otherwise. SSIM is defined for every pair of maps
//! (constant ones included), so no value is undefined.
use super::similarity::ssim;
use super::stats::{judge_below, percent, Threshold};
use super::{Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::{explain_batched, CamMethod};
use crate::error::Result;
use crate::io::number::fixed;
use crate::seed::streams;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Default pass threshold on the upper bound of mean SSIM.
pub const THRESHOLD: f64 = 0.9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct ClassSensitivityCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Pass threshold on the upper bound of mean SSIM.
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
}

impl Default for ClassSensitivityCheck {
    fn default() -> Self {
        ClassSensitivityCheck {
            subject: Subject::default(),
            threshold: THRESHOLD,
        }
    }
}

/// The class-sensitivity check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSensitivityFindings {
    pub detail: ClassSensitivityDetail,
}

/// The generic table line and badge (the mean similarity).
impl super::CheckFindings for ClassSensitivityFindings {
    fn decided_against_threshold(&self) -> bool {
        true
    }

    /// A class-agnostic method (its maps the same for every class) fails whatever its bounds
    /// say: its SSIM is 1 everywhere.
    fn forced_verdict(&self) -> Option<super::Verdict> {
        self.detail.class_agnostic.then_some(super::Verdict::Fail)
    }

    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!(
            "class sensitivity · {}",
            super::result::badge_model(&self.detail.model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSensitivityDetail {
    /// The maps are identical for the two classes of every image.
    pub class_agnostic: bool,
    /// The largest change of any map value between the two classes.
    pub largest_map_change: f64,
    pub model: String,
    pub data: String,
}

impl ClassSensitivityCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        ClassSensitivityCheck {
            subject,
            ..Self::default()
        }
    }
}

impl Check for ClassSensitivityCheck {
    const NAME: &'static str = "class-sensitivity";
    const ABOUT: &'static str = "Random-logit test: the predicted class's map vs another class's";
    type Findings = ClassSensitivityFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, -1.0, 1.0, false)?;
        self.subject.validate()
    }

    /// Long: per method: the maps for two classes, their SSIM, the class-agnostic test, the verdict
    /// and its words.
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let model = self.subject.open(ctx)?;
        let x = self.subject.images(model.as_ref(), ctx)?;
        if x.size()[0] < 2 {
            return Ok(Outcome::too_few_images(Self::NAME, methods, x.size()[0]));
        }
        let logits = tch::no_grad(|| model.forward(&x.to_device(ctx.device)))?;
        let classes = logits.size()[1];
        if classes < 2 {
            return Err(crate::error::Error::model(
                format!(
                    "{} has {classes} class: class sensitivity compares the maps of two classes",
                    model.name()
                ),
                model.name(),
                "run class-sensitivity on a classifier with at least 2 classes",
            ));
        }
        let predicted = logits.argmax(1, false).to_device(tch::Device::Cpu);
        let predicted = Vec::<i64>::try_from(predicted).expect("classes");
        let mut rng = ctx.stream(streams::OTHER_CLASS).rng();
        let other: Vec<i64> = predicted
            .iter()
            .map(|&c| (c + rng.random_range(1..classes)) % classes)
            .collect();
        let (predicted, other) = (Tensor::from_slice(&predicted), Tensor::from_slice(&other));
        let alpha = ctx.alpha();
        let rule = format!(
            "fail if the maps never depend on the class; else pass iff the one-sided upper \
             Student-t bound ({} per side) of mean SSIM(predicted-class map, random-other-class \
             map) is < {t}, fail iff the lower bound is >= {t}, inconclusive otherwise",
            percent(1.0 - alpha),
            t = self.threshold
        );
        let batch = self.subject.batch_size;
        let mut results = Vec::new();
        for method in methods {
            let m = method.as_ref();
            let a = ctx.explain(m, model.as_ref(), &x, Some(&predicted), batch)?;
            let b = explain_batched(m, model.as_ref(), &x, Some(&other), batch)?;
            let largest_change = (&a.maps - &b.maps)
                .abs()
                .max()
                .to_kind(Kind::Double)
                .double_value(&[]);
            let class_agnostic = largest_change == 0.0;
            let values = ssim(&a.maps, &b.maps);
            let bar = Threshold {
                value: self.threshold,
                inclusive: false,
            };
            // SSIM lies in [-1, 1].
            let (verdict, s) = judge_below(&values, alpha, bar);
            let s = s.within(-1.0, 1.0);
            let t = self.threshold;
            let (verdict, reason) = match (class_agnostic, verdict) {
                (true, _) => (
                    Verdict::Fail,
                    "class-agnostic: the maps are identical for every pair of classes".into(),
                ),
                (false, Verdict::Pass) => (
                    verdict,
                    format!(
                        "mean SSIM = {}: upper bound {} < {t}",
                        fixed(s.mean, 3),
                        fixed(s.ci_high, 3)
                    ),
                ),
                (false, Verdict::Fail) => (
                    verdict,
                    format!(
                        "mean SSIM = {}: lower bound {} >= {t}",
                        fixed(s.mean, 3),
                        fixed(s.ci_low, 3)
                    ),
                ),
                (false, _) => (
                    verdict,
                    format!(
                        "mean SSIM = {}: bounds {}..{} straddle {t}",
                        fixed(s.mean, 3),
                        fixed(s.ci_low, 3),
                        fixed(s.ci_high, 3)
                    ),
                ),
            };
            let detail = ClassSensitivityDetail {
                class_agnostic,
                largest_map_change: largest_change,
                model: model.name(),
                data: self.subject.data.describe(&ctx.seeds),
            };
            let findings = Findings::new(ClassSensitivityFindings { detail });
            results.push(CheckResult {
                reason,
                statistic: "mean SSIM between the predicted-class and a random-other-class map"
                    .into(),
                rule: rule.clone(),
                per_sample: values.into_iter().map(Some).collect(),
                threshold: Some(bar),
                ..CheckResult::new(Self::NAME, m, verdict, s, findings)
            });
        }
        Ok(Outcome::new(results))
    }
}
