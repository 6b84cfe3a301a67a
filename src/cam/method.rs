//! What a CAM method is ([`CamMethod`]): the raw map from the explained layer's activations
//! and gradients ([`CamContext`]), with the helpers every method shares.
use crate::error::{Error, Result};
use crate::model::SplitModel;
use tch::Tensor;

/// Everything a method may read for one batch. Tensors live on the model's device.
pub struct CamContext<'a> {
    /// The model being explained.
    pub model: &'a dyn SplitModel,
    /// The input batch [N, C, H, W].
    pub input: &'a Tensor,
    /// The explained layer's output, detached: a CNN's activations (the same tensor as
    /// `activations`), a token model's tokens ([`SplitModel::to_grid`]). Methods that re-run
    /// or differentiate the head do so on this.
    pub layer: &'a Tensor,
    /// The explained layer's activations as a grid [N, V, h, w], detached.
    pub activations: &'a Tensor,
    /// ∂(Σ_n y_{n, c_n}) / ∂A as a grid [N, V, h, w], present when the method uses gradients.
    pub gradients: Option<&'a Tensor>,
    /// The model's logits for the unmodified input [N, K].
    pub logits: &'a Tensor,
    /// The explained class of each image, int64 `[N]`.
    pub targets: &'a Tensor,
}

impl CamContext<'_> {
    /// The gradients; an error if the method did not declare that it uses them.
    pub fn grads(&self) -> Result<&Tensor> {
        self.gradients.ok_or_else(|| Error::Torch {
            context: "computing a CAM".into(),
            message: "this method reads gradients but declared `uses_gradients() == false`".into(),
        })
    }

    /// Which channel of the explained layer's output each grid channel reads, int64 \[V\]: every
    /// channel in order for a CNN; for a token model (channels last) the grid of a probe whose
    /// every token holds its channels' indices, so that a layer carrying channels the grid does
    /// not read (a ViT explained at a block's norm1 carries the block's input beside it) is
    /// told apart. A `to_grid` that mixes channels (a grid channel reading different layer
    /// channels at different cells) is refused with a message.
    pub fn grid_channels(&self) -> Result<Tensor> {
        let device = self.layer.device();
        if !self.model.tokens() {
            return Ok(Tensor::arange(self.layer.size()[1], (tch::Kind::Int64, device)));
        }
        let one = self.layer.narrow(0, 0, 1);
        let size = one.size();
        let channels = size[size.len() - 1];
        let probe = Tensor::arange(channels, (tch::Kind::Float, device))
            .expand(size.as_slice(), false)
            .contiguous();
        let grid = self.model.to_grid(&probe)?.flatten(2, -1);
        let (low, high) = (
            grid.amin([2].as_slice(), false),
            grid.amax([2].as_slice(), false),
        );
        if low.ne_tensor(&high).any().int64_value(&[]) == 1 {
            return Err(Error::model(
                "the model's `to_grid` mixes the layer's channels: a grid channel reads different \
                 channels of the layer at different cells",
                self.model.name(),
                "make `to_grid` select and reshape the layer's channels (pytorch-grad-cam's \
                 reshape_transform), not combine them",
            ));
        }
        Ok(low.get(0).to_kind(tch::Kind::Int64))
    }

    /// The explained layer's output with every channel that no grid channel reads set to 0
    /// ([`CamContext::grid_channels`]): the layer itself for a CNN.
    pub fn grid_read_layer(&self) -> Result<Tensor> {
        if !self.model.tokens() {
            return Ok(self.layer.shallow_clone());
        }
        let last = self.layer.size().len() - 1;
        let channels = self.layer.size()[last];
        let keep = Tensor::zeros([channels], (tch::Kind::Float, self.layer.device()))
            .index_fill(0, &self.grid_channels()?, 1.0);
        Ok(self.layer * keep.to_kind(self.layer.kind()))
    }

    /// The target-class score of each row of `logits`, for rows that belong to images `owners`.
    pub fn target_scores(&self, logits: &Tensor, owners: &Tensor) -> Tensor {
        target_scores(logits, &self.targets.index_select(0, owners))
    }
}

/// The score of each row's target class: `logits` \[N, K\], `targets` int64 \[N\] -> \[N\].
pub fn target_scores(logits: &Tensor, targets: &Tensor) -> Tensor {
    logits
        .gather(1, &targets.unsqueeze(1), false)
        .squeeze_dim(1)
}

/// A saliency method of the CAM family. Implement `raw_map`; the pipeline does the rest.
pub trait CamMethod {
    /// The command-line name (`gradcam`, `gradcam++`, …).
    fn name(&self) -> &str;
    /// The display name (`GradCAM`, `GradCAM++`, …).
    fn title(&self) -> &str;
    /// One line for `blindspot methods`.
    fn summary(&self) -> &str;
    /// Whether the pipeline must compute `∂y_c/∂A` before calling `raw_map`.
    fn uses_gradients(&self) -> bool {
        true
    }
    /// The raw map [N, h, w] (or [N, H, W] for input-resolution methods), before any ReLU.
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor>;
    /// Whether the raw map is defined only up to its sign (EigenCAM's singular vector): checks
    /// then judge both signs and keep the worse verdict.
    fn sign_ambiguous(&self) -> bool {
        false
    }
    /// Where the method comes from, so that a replay names something that can rebuild it: the
    /// built-in methods say [`Origin::BuiltIn`], external ones their `--external` spec; the
    /// default, [`Origin::Code`], is a method that lives in your Rust code.
    fn origin(&self) -> Origin {
        Origin::Code
    }
    /// The class of pytorch-grad-cam 1.5.7 that this method reproduces map for map (`GradCAM`),
    /// if there is one: `fixtures/generate.py` writes, and the parity tests compare, exactly
    /// these methods' maps (docs/methods.md).
    fn reference(&self) -> Option<&str> {
        None
    }
    /// The captum 0.9 attribution class this input-level method reproduces attribution for
    /// attribution (`Saliency`), if there is one: `fixtures/generate.py` writes, and the parity
    /// tests compare, exactly these methods' attributions.
    fn captum_reference(&self) -> Option<&str> {
        None
    }
    /// How the final map reads the raw map: its positive part (the CAM family, default) or its
    /// magnitude (signed input-level attributions).
    fn reading(&self) -> Reading {
        Reading::Positive
    }
    /// What kind of method it is, for `blindspot methods` (CAM by default).
    fn family(&self) -> Family {
        Family::Cam
    }
    /// Whether it needs the model's layers one by one ([`crate::SplitModel::steps`]: guided
    /// backpropagation's ReLUs, FullGrad's biases): on a model that keeps them inside its graph (a
    /// TorchScript file) it gets an error verdict saying so, and the other methods their
    /// verdicts.
    fn requires_steps(&self) -> bool {
        false
    }
    /// Whether the raw map is a sum of per-channel maps that [`CamMethod::channel_maps`] gives,
    /// so that pytorch-grad-cam's `eigen_smooth` applies (the method `NAME-eigen-smooth`,
    /// docs/methods.md).
    fn has_channel_maps(&self) -> bool {
        false
    }
    /// The per-channel maps [N, V, h, w] whose sum over the channels is the raw map: w_k A_k for
    /// a channel-weighted method, g ⊙ A for HiResCAM, and so on. `eigen_smooth` projects them on
    /// their first principal component instead of summing them. None for a method without
    /// [`CamMethod::has_channel_maps`].
    fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
        let _ = ctx;
        Ok(None)
    }
}

/// How the pipeline reads a raw map into the final map ([`CamMethod::reading`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reading {
    /// max(raw, 0), pytorch-grad-cam's ReLU: a CAM's evidence for the class is its positive part.
    Positive,
    /// |raw|, captum's `absolute_value` visualisation: a signed attribution (Input×Gradient,
    /// Integrated Gradients) counts evidence for and against the class alike, so the wall's share
    /// of the ℓ2 norm, the rank correlations of absolute maps and every other reading of the final
    /// map see both signs.
    Magnitude,
}

/// The kinds `blindspot methods` groups methods by ([`CamMethod::family`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A map built from one layer's activations (and gradients, or the model's scores).
    Cam,
    /// An attribution to the input pixels through the whole model.
    InputLevel,
    /// A negative control: a map that must fail the checks.
    Control,
}

/// Where a method comes from (see [`CamMethod::origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// One of [`super::builtin_methods`], with its default parameters: `--method NAME` rebuilds it.
    BuiltIn,
    /// An external method: `--external 'SPEC'` (`NAME=COMMAND`) rebuilds it.
    External(String),
    /// A method defined in Rust outside blindspot: only its own crate can rebuild it.
    Code,
}

/// Shared methods are methods: the runner and the harness hand one method to several checks
/// and trials through `Rc`/`Arc`.
macro_rules! forward_cam_method {
    ($($pointer:ty),*) => {$(
        impl<M: CamMethod + ?Sized> CamMethod for $pointer {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn title(&self) -> &str {
                (**self).title()
            }
            fn summary(&self) -> &str {
                (**self).summary()
            }
            fn uses_gradients(&self) -> bool {
                (**self).uses_gradients()
            }
            fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
                (**self).raw_map(ctx)
            }
            fn sign_ambiguous(&self) -> bool {
                (**self).sign_ambiguous()
            }
            fn origin(&self) -> Origin {
                (**self).origin()
            }
            fn reference(&self) -> Option<&str> {
                (**self).reference()
            }
            fn captum_reference(&self) -> Option<&str> {
                (**self).captum_reference()
            }
            fn reading(&self) -> Reading {
                (**self).reading()
            }
            fn family(&self) -> Family {
                (**self).family()
            }
            fn requires_steps(&self) -> bool {
                (**self).requires_steps()
            }
            fn has_channel_maps(&self) -> bool {
                (**self).has_channel_maps()
            }
            fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
                (**self).channel_maps(ctx)
            }
        }
    )*};
}

forward_cam_method!(std::rc::Rc<M>, std::sync::Arc<M>);

/// The other sign of a sign-ambiguous method: its raw map negated, the other equally valid
/// answer (for EigenCAM, the projection on −v₁).
pub struct Negated {
    inner: std::rc::Rc<dyn CamMethod>,
    title: String,
}

impl Negated {
    pub fn new(inner: std::rc::Rc<dyn CamMethod>) -> Self {
        let title = format!("{} (negated)", inner.title());
        Negated { inner, title }
    }
}

impl CamMethod for Negated {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn summary(&self) -> &str {
        self.inner.summary()
    }
    fn uses_gradients(&self) -> bool {
        self.inner.uses_gradients()
    }
    /// The inner map negated; a map that is >= 0 everywhere (and not all zero) has no other sign
    /// to show (it was cut at 0 already, e.g. a library's final map after its ReLU): one message
    /// saying so, instead of an error verdict from an empty map.
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let raw = self.inner.raw_map(ctx)?;
        let (low, high) = (raw.min().double_value(&[]), raw.max().double_value(&[]));
        if low >= 0.0 && high > 0.0 {
            return Err(Error::input(
                format!(
                    "method `{}` is declared sign-ambiguous but returned maps that are >= 0 \
                     everywhere: its other sign is empty (a map after a ReLU has no sign left)",
                    self.inner.name()
                ),
                format!("the method {}", self.inner.title()),
                "return the signed map, before any ReLU (for pytorch-grad-cam's EigenCAM and \
                 EigenGradCAM, adapters/pytorch_grad_cam.py --signed), or declare the method \
                 sign_ambiguous = false",
            ));
        }
        Ok(-raw)
    }
    fn origin(&self) -> Origin {
        self.inner.origin()
    }
    fn reading(&self) -> Reading {
        self.inner.reading()
    }
    fn family(&self) -> Family {
        self.inner.family()
    }
    fn requires_steps(&self) -> bool {
        self.inner.requires_steps()
    }
}

/// The [`CamMethod`] methods of a channel-weighted method, for a type with
/// `fn weights(&self, ctx: &CamContext) -> Result<Tensor>` (its weights w \[N, V\]): `raw_map`
/// = Σ_k w_k A_k ([`weighted_sum`]) and the channel maps w_k A_k ([`weighted_channels`]) that
/// `eigen_smooth` projects.
macro_rules! channel_weighted_methods {
    () => {
        fn raw_map(&self, ctx: &$crate::cam::CamContext) -> $crate::error::Result<tch::Tensor> {
            Ok($crate::cam::weighted_sum(
                &self.weights(ctx)?,
                ctx.activations,
            ))
        }
        fn has_channel_maps(&self) -> bool {
            true
        }
        fn channel_maps(
            &self,
            ctx: &$crate::cam::CamContext,
        ) -> $crate::error::Result<Option<tch::Tensor>> {
            Ok(Some($crate::cam::weighted_channels(
                &self.weights(ctx)?,
                ctx.activations,
            )))
        }
    };
}
pub(crate) use channel_weighted_methods;

/// w_k A_k for per-image channel weights `weights` [N, V] and activations [N, V, h, w]: the
/// channel maps ([`CamMethod::channel_maps`]) whose sum is [`weighted_sum`].
pub fn weighted_channels(weights: &Tensor, activations: &Tensor) -> Tensor {
    let (n, v, _, _) = activations.size4().expect("activations are [N, V, h, w]");
    weights.to_kind(activations.kind()).view([n, v, 1, 1]) * activations
}

/// Σ_k w_k A_k for per-image channel weights `weights` [N, V] and activations [N, V, h, w],
/// as one batched matrix product (a single pass over A).
pub fn weighted_sum(weights: &Tensor, activations: &Tensor) -> Tensor {
    let (n, v, h, w) = activations.size4().expect("activations are [N, V, h, w]");
    weights
        .to_kind(activations.kind())
        .unsqueeze(1)
        .bmm(&activations.reshape([n, v, h * w]))
        .view([n, h, w])
}
