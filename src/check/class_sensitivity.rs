//! Class sensitivity, the random-logit test (Sixt, Granz & Landgraf, "When Explanations Lie: Why
//! Many Modified BP Attributions Fail", ICML 2020; Quantus' RandomLogit): a map for the predicted
//! class should differ from a map for another class.
//!
//! Per image: SSIM between the map of the predicted class and the map of a uniformly drawn other
//! class (seeded). A method whose maps do not depend on the class at all (EigenCAM, the Sobel
//! map) is flagged `class_agnostic` and fails. Verdict: pass iff the method is not class-agnostic
//! and the one-sided upper bound of mean SSIM is below `threshold`.
use super::randomization::open;
use super::similarity::ssim;
use super::stats::{t_interval, Side};
use super::{default_batch, default_level, Check, CheckContext, CheckResult};
use crate::cam::{explain_batched, CamMethod};
use crate::data::DataSpec;
use crate::error::Result;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSensitivityCheck {
    pub model: String,
    pub data: DataSpec,
    /// Seed of built-in models (their initialisation, or their training for builtin:stack-*);
    /// independent of the suite's seed, which drives the data and the random draws.
    #[serde(default)]
    pub model_seed: u64,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_level")]
    pub level: f64,
    #[serde(default = "default_batch")]
    pub batch_size: i64,
}

fn default_threshold() -> f64 {
    0.9
}

impl Check for ClassSensitivityCheck {
    fn name(&self) -> &str {
        "class-sensitivity"
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("params serialise")
    }
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Vec<CheckResult>> {
        let model = open(&self.model, &None, &None, self.model_seed, ctx)?;
        let x = self.data.load(ctx.seed)?;
        crate::cam::pipeline::validate_input(&x, model.as_ref(), &self.data.describe(ctx.seed))?;
        let logits = tch::no_grad(|| model.forward(&x.to_device(ctx.device)))?;
        let classes = logits.size()[1];
        let predicted = Vec::<i64>::try_from(logits.argmax(1, false).to_device(tch::Device::Cpu))
            .expect("classes");
        let mut rng = StdRng::seed_from_u64(ctx.seed ^ 0xC1A55);
        let other: Vec<i64> = predicted
            .iter()
            .map(|&c| (c + rng.random_range(1..classes)) % classes)
            .collect();
        let (predicted, other) = (Tensor::from_slice(&predicted), Tensor::from_slice(&other));
        let rule = format!(
            "pass iff the maps depend on the class and the one-sided upper {:.0}% Student-t bound of mean SSIM(predicted-class map, random-other-class map) is < {}",
            self.level * 100.0,
            self.threshold
        );
        let mut results = Vec::new();
        for method in methods {
            let a = explain_batched(
                method.as_ref(),
                model.as_ref(),
                &x,
                Some(&predicted),
                self.batch_size,
            )?;
            let b = explain_batched(
                method.as_ref(),
                model.as_ref(),
                &x,
                Some(&other),
                self.batch_size,
            )?;
            let largest_change = (&a.maps - &b.maps)
                .abs()
                .max()
                .to_kind(Kind::Double)
                .double_value(&[]);
            let class_agnostic = largest_change == 0.0;
            let values = ssim(&a.maps, &b.maps);
            let s = t_interval(&values, self.level, Side::Upper);
            let pass = !class_agnostic && s.ci_high < self.threshold;
            results.push(CheckResult {
                reason: if class_agnostic {
                    "class-agnostic: the maps are identical for every pair of classes".into()
                } else {
                    format!("mean SSIM = {:.3} (upper bound {:.3}) {} {}", s.mean, s.ci_high, if pass { "<" } else { ">=" }, self.threshold)
                },
                statistic: "mean SSIM between the predicted-class and a random-other-class map".into(),
                rule: rule.clone(),
                per_sample: values.into_iter().map(Some).collect(),
                detail: json!({"class_agnostic": class_agnostic, "largest_map_change": largest_change, "model": model.name(), "data": self.data.describe(ctx.seed)}),
                ..CheckResult::judged("class-sensitivity", method.title(), pass, s)
            });
        }
        Ok(results)
    }
}
