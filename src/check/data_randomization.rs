//! Data randomization (Adebayo et al., NeurIPS 2018): compare a method's maps on a model trained
//! on the true labels with its maps on the same architecture trained on permuted labels (which
//! can only memorise). Maps that stay alike do not depend on what the model learned.
//! Same similarities and rule as model randomization: pass iff the one-sided upper bound of mean
//! Spearman(abs) is below `threshold`.
use super::randomization::{default_threshold, open, step_summary, verdict};
use super::similarity::compare;
use super::{default_batch, default_level, Check, CheckContext, CheckResult};
use crate::cam::{explain_batched, CamMethod};
use crate::data::DataSpec;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRandomizationCheck {
    /// The model trained on true labels.
    pub model: String,
    /// The same architecture trained on permuted labels.
    pub random_labels_model: String,
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

impl Check for DataRandomizationCheck {
    fn name(&self) -> &str {
        "data-randomization"
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("params serialise")
    }
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Vec<CheckResult>> {
        let trained = open(&self.model, &None, &None, self.model_seed, ctx)?;
        let random = open(
            &self.random_labels_model,
            &None,
            &None,
            self.model_seed,
            ctx,
        )?;
        let x = self.data.load(ctx.seed)?;
        crate::cam::pipeline::validate_input(&x, trained.as_ref(), &self.data.describe(ctx.seed))?;
        // Both models explain the class the true-label model predicts.
        let targets = tch::no_grad(|| trained.forward(&x.to_device(ctx.device)))?.argmax(1, false);
        let mut results = Vec::new();
        for method in methods {
            let a = explain_batched(
                method.as_ref(),
                trained.as_ref(),
                &x,
                Some(&targets),
                self.batch_size,
            )?;
            let b = explain_batched(
                method.as_ref(),
                random.as_ref(),
                &x,
                Some(&targets),
                self.batch_size,
            )?;
            let s = compare(&a.maps, &b.maps, &a.raw, &b.raw);
            let detail = json!({
                "model": trained.name(), "random_labels_model": random.name(),
                "similarities": step_summary("true vs permuted labels", &s),
                "data": self.data.describe(ctx.seed),
            });
            results.push(verdict(
                "data-randomization",
                method.title(),
                s.spearman_abs.clone(),
                self.threshold,
                self.level,
                "between the true-label and the random-label model",
                detail,
            ));
        }
        Ok(results)
    }
}
