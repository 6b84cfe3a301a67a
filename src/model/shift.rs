//! A split model that undoes a constant shift of its input: `features'(x) = features(x − c)`,
//! `head' = head`. On `x + c` it computes what the model computes on `x` (up to the rounding of
//! `x + c − c` in float32): the compensation Kindermans et al. make with the first layer's bias,
//! for any split model. The input-invariance check explains both.
use super::wrapped::Wrapped;
use super::{ParameterGroup, SplitModel};
use crate::error::Result;
use tch::{Device, Tensor};

/// `model` with its input shifted back by `shift` before `features`.
pub struct Shifted<'a> {
    inner: Wrapped<'a>,
    shift: f64,
}

impl<'a> Shifted<'a> {
    pub fn new(model: &'a dyn SplitModel, shift: f64) -> Self {
        Shifted {
            inner: Wrapped::Borrowed(model),
            shift,
        }
    }

    fn inner(&self) -> &dyn SplitModel {
        self.inner.get()
    }
}

impl SplitModel for Shifted<'_> {
    fn name(&self) -> String {
        format!(
            "{} compensating an input shift of {}",
            self.inner().name(),
            self.shift
        )
    }
    fn device(&self) -> Device {
        self.inner().device()
    }
    fn input_channels(&self) -> Option<i64> {
        self.inner().input_channels()
    }
    fn input_size(&self) -> Option<(i64, i64)> {
        self.inner().input_size()
    }
    fn peak_bytes(&self, n: i64, height: i64, width: i64) -> Option<u128> {
        self.inner().peak_bytes(n, height, width)
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.inner().features(&(x - self.shift))
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        self.inner().head(a)
    }
    fn to_grid(&self, layer: &Tensor) -> Result<Tensor> {
        self.inner().to_grid(layer)
    }
    fn tokens(&self) -> bool {
        self.inner().tokens()
    }
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        self.inner().parameter_groups()
    }
    fn sha256(&self) -> Option<String> {
        self.inner().sha256()
    }
    fn steps(&self) -> Option<super::Steps<'_>> {
        let mut steps = self.inner().steps()?;
        let shift = self.shift;
        steps.features.insert(0, super::Step::map(move |x| x - shift));
        Some(steps)
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let shift = self.shift;
        Ok(self.inner().to_double()?.map(|inner| {
            Box::new(Shifted {
                inner: Wrapped::Owned(inner),
                shift,
            }) as Box<dyn SplitModel>
        }))
    }
    /// `python/export_builtin.py`'s `shifted` ([`super::wrapped::architecture`]).
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        let fields = serde_json::json!({"kind": "shifted", "shift": self.shift});
        super::wrapped::architecture(self.inner(), fields)
    }
}
