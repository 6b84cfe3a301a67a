//! A split model that computes the same function through another representation of its explained
//! layer: channel `j` of the new layer is channel `π(j)` of the old one times `c_j > 0`, and the
//! head undoes both first:
//!
//! `features'(x)_j = c_j · features(x)_π(j)`, `head'(a') = head(a)` with `a_π(j) = a'_j / c_j`.
//!
//! This is the reparameterisation of Sundararajan, Taly & Yan ("Axiomatic Attribution for Deep
//! Networks", ICML 2017)'s implementation-invariance axiom that a CNN allows at any layer: multiply
//! the weights and bias of the convolution that makes channel k by c_k (a ReLU after it is
//! positively homogeneous, so its output is multiplied by c_k too; BatchNorm's γ and β likewise)
//! and divide the head's weights that read channel k by c_k; permuting the channels permutes the
//! convolution's filters and the head's input weights alike. Applied here at the split itself,
//! it needs nothing of the model's layers, so every split model allows it, a user's TorchScript
//! file included; the activations and gradients a method sees are exactly those of the rescaled
//! network. The implementation-invariance check explains both models.
use super::wrapped::Wrapped;
use super::{ParameterGroup, SplitModel, Step};
use crate::error::Result;
use tch::{Device, Tensor};

/// `model` with the channels of its explained layer permuted and rescaled (module doc).
pub struct Reparameterised<'a> {
    inner: Wrapped<'a>,
    /// c, one positive factor per channel of the new layer.
    scales: Vec<f64>,
    /// π: channel j of the new layer is channel `permutation[j]` of the old one.
    permutation: Vec<i64>,
}

impl<'a> Reparameterised<'a> {
    /// `scales[j]` and `permutation[j]` for each channel j of the new layer; `permutation` must
    /// hold every channel index once and `scales` be positive and finite (the check draws them).
    pub fn new(model: &'a dyn SplitModel, scales: Vec<f64>, permutation: Vec<i64>) -> Self {
        debug_assert_eq!(scales.len(), permutation.len());
        debug_assert!(scales.iter().all(|c| c.is_finite() && *c > 0.0));
        Reparameterised {
            inner: Wrapped::Borrowed(model),
            scales,
            permutation,
        }
    }

    fn inner(&self) -> &dyn SplitModel {
        self.inner.get()
    }

    /// π⁻¹: old channel `k` is new channel `inverse[k]`.
    fn inverse(&self) -> Vec<i64> {
        let mut inverse = vec![0; self.permutation.len()];
        for (j, &k) in self.permutation.iter().enumerate() {
            inverse[k as usize] = j as i64;
        }
        inverse
    }

    /// c as a tensor shaped to multiply a layer of rank `rank` along dimension 1.
    fn scale_tensor(&self, like: &Tensor) -> Tensor {
        let mut shape = vec![1i64; like.dim()];
        shape[1] = self.scales.len() as i64;
        Tensor::from_slice(&self.scales)
            .to_kind(like.kind())
            .to_device(like.device())
            .view(shape.as_slice())
    }

    fn forward_map(&self) -> impl Fn(&Tensor) -> Tensor + '_ {
        let permutation = Tensor::from_slice(&self.permutation);
        move |a: &Tensor| {
            let index = permutation.to_device(a.device());
            a.index_select(1, &index) * self.scale_tensor(a)
        }
    }

    fn inverse_map(&self) -> impl Fn(&Tensor) -> Tensor + '_ {
        let inverse = Tensor::from_slice(&self.inverse());
        move |a: &Tensor| {
            let index = inverse.to_device(a.device());
            (a / self.scale_tensor(a)).index_select(1, &index)
        }
    }

    /// Refuses activations whose channel count is not the reparameterisation's.
    fn channels_match(&self, a: &Tensor) -> Result<()> {
        if self.inner().tokens() {
            return Err(crate::error::Error::model(
                "implementation invariance permutes and rescales the channels of a CNN layer \
                 [N, V, h, w]; this model's explained layer is tokens",
                self.inner().name(),
                "run the check on a convolutional model",
            ));
        }
        let channels = a.size().get(1).copied().unwrap_or(0);
        if a.dim() < 2 || channels != self.scales.len() as i64 {
            return Err(crate::error::Error::model(
                format!(
                    "the explained layer has shape {:?}, not the {} channels the \
                     reparameterisation was drawn for",
                    a.size(),
                    self.scales.len()
                ),
                self.inner().name(),
                "the model's features must return the same channels for every batch",
            ));
        }
        Ok(())
    }
}

impl SplitModel for Reparameterised<'_> {
    fn name(&self) -> String {
        format!(
            "{} with its {} explained channels permuted and rescaled",
            self.inner().name(),
            self.scales.len()
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
        let a = self.inner().features(x)?;
        self.channels_match(&a)?;
        Ok(self.forward_map()(&a))
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        self.channels_match(a)?;
        self.inner().head(&self.inverse_map()(a))
    }
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        self.inner().parameter_groups()
    }
    fn steps(&self) -> Option<super::Steps<'_>> {
        let mut steps = self.inner().steps()?;
        steps.features.push(Step::map(self.forward_map()));
        steps.head.insert(0, Step::map(self.inverse_map()));
        Some(steps)
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let (scales, permutation) = (self.scales.clone(), self.permutation.clone());
        Ok(self.inner().to_double()?.map(|inner| {
            Box::new(Reparameterised {
                inner: Wrapped::Owned(inner),
                scales,
                permutation,
            }) as Box<dyn SplitModel>
        }))
    }
    /// `python/export_builtin.py`'s `reparameterised` ([`super::wrapped::architecture`]).
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        let fields = serde_json::json!({
            "kind": "reparameterised",
            "scales": self.scales,
            "permutation": self.permutation,
        });
        super::wrapped::architecture(self.inner(), fields)
    }
}
