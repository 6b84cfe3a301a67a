//! The shared CAM pipeline: activations, logits, targets and gradients once per batch, the
//! method's raw map, then pytorch-grad-cam's exact post-processing:
//!
//! 1. ReLU;  2. per image: L ← L − min L, L ← L / (max L + 1e-7);
//! 3. bilinear resize to the input size with half-pixel centres (OpenCV's INTER_LINEAR, which is
//!    libtorch's `upsample_bilinear2d(align_corners = false)`);
//! 4. the layer aggregation of a single layer: ReLU again and the same min–max again (no resize).
use super::{CamContext, CamMethod, Reading};
use crate::error::{Error, Result};
use crate::model::SplitModel;
use tch::{Device, Kind, Tensor};

/// The result of explaining one batch.
#[non_exhaustive]
pub struct Explanation {
    /// The method's raw map before any ReLU, [N, h, w] (feature resolution).
    pub raw: Tensor,
    /// The final maps in [0, 1], [N, H, W], pytorch-grad-cam's semantics.
    pub maps: Tensor,
    /// The explained class of each image, int64 `[N]`.
    pub targets: Tensor,
    /// The model's logits on the input, [N, K].
    pub logits: Tensor,
    /// How the final maps read the raw map (the method's [`CamMethod::reading`]).
    pub reading: Reading,
}

impl Explanation {
    /// The map at the raw map's resolution, read (ReLU or magnitude) and min–max normalised (no
    /// upsampling): what leakage measurements "before upsampling" use.
    pub fn feature_maps(&self) -> Tensor {
        min_max(&read(&self.raw, self.reading))
    }
}

/// The raw map as the final map reads it: max(raw, 0) or |raw| ([`Reading`]).
pub fn read(raw: &Tensor, reading: Reading) -> Tensor {
    match reading {
        Reading::Positive => raw.relu(),
        Reading::Magnitude => raw.abs(),
    }
}

/// Per-image min–max normalisation of [N, h, w] maps: (L − min) / (max(L − min) + 1e-7).
/// A constant map becomes all zeros.
pub fn min_max(maps: &Tensor) -> Tensor {
    let shifted = maps - maps.amin([1, 2].as_slice(), true);
    let top = shifted.amax([1, 2].as_slice(), true);
    shifted / (top + 1e-7)
}

/// Bilinear resize of [N, h, w] maps with half-pixel centres.
pub fn resize(maps: &Tensor, height: i64, width: i64) -> Tensor {
    let size = maps.size();
    if size[1] == height && size[2] == width {
        return maps.shallow_clone();
    }
    maps.unsqueeze(1)
        .upsample_bilinear2d([height, width], false, None, None)
        .squeeze_dim(1)
}

/// pytorch-grad-cam's post-processing of raw maps [N, h, w] into final maps [N, H, W]; a
/// signed input-level map is read by its magnitude first ([`Reading::Magnitude`]), the rest is
/// the same (its second ReLU a no-op on values ≥ 0).
pub fn postprocess(raw: &Tensor, reading: Reading, height: i64, width: i64) -> Tensor {
    let per_layer = resize(&min_max(&read(raw, reading)), height, width);
    min_max(&per_layer.relu())
}

/// Checks an input batch: rank 4, floating point, finite, the channel count the model expects.
pub fn validate_input(x: &Tensor, model: &dyn SplitModel, place: &str) -> Result<()> {
    let size = x.size();
    if size.len() != 4 {
        return Err(Error::input(
            format!("the input has shape {size:?}; expected 4 dimensions [N, C, H, W]"),
            place,
            "stack the images into one float32 array of shape [N, C, H, W]",
        ));
    }
    if size[0] == 0 {
        return Err(Error::input(
            "the input holds no image (N = 0)",
            place,
            "pass at least one image",
        ));
    }
    if let Some(c) = model.input_channels() {
        if size[1] != c {
            return Err(Error::input(
                format!(
                    "the input has {} channel(s); {} expects {c}",
                    size[1],
                    model.name()
                ),
                place,
                format!("pass images of shape [N, {c}, H, W] (channels first)"),
            ));
        }
    }
    if let Some((h, w)) = model.input_size() {
        if (size[2], size[3]) != (h, w) {
            return Err(Error::input(
                format!(
                    "the input images are {}x{}; {} expects {h}x{w}",
                    size[2],
                    size[3],
                    model.name()
                ),
                place,
                format!("resize the images to {h}x{w} (height x width)"),
            ));
        }
    }
    if !x.is_floating_point() {
        return Err(Error::input(
            format!("the input is {:?}, not floating point", x.kind()),
            place,
            "save it as float32",
        ));
    }
    if !all_finite(x) {
        let bad = x.isfinite().logical_not();
        let first = bad
            .flatten(1, -1)
            .any_dim(1, false)
            .nonzero()
            .int64_value(&[0, 0]);
        return Err(Error::input(
            format!("the input contains NaN or Inf values (first in image {first})"),
            place,
            "clean or re-normalise the images; every value must be finite",
        ));
    }
    Ok(())
}

/// Images the dead-layer check ([`ensure_live_layer`]) differentiates.
const LIVE_LAYER_IMAGES: i64 = 8;

/// Refuses a model whose explained layer does not reach its output: the gradient of the
/// predicted class's logit with respect to the layer is 0 at every position of every channel, for
/// each of the first 8 images of `x` (pytorch-grad-cam #513: a vision transformer's last block
/// output, when the head reads only the class token). Every gradient-based map would be 0 and
/// every other one would explain a layer the prediction ignores, so this is an error that names
/// the layer to explain instead, not a map of zeros. A model whose head cannot be differentiated
/// is left to the explain pipeline's own message.
pub fn ensure_live_layer(x: &Tensor, model: &dyn SplitModel, place: &str) -> Result<()> {
    let n = x.size()[0].min(LIVE_LAYER_IMAGES);
    // A copy: a model that writes into its input must not change the caller's images.
    let x = x.narrow(0, 0, n).to_device(model.device()).to_kind(Kind::Float).copy();
    let activations = tch::no_grad(|| model.features(&x))?.detach();
    if !activations.is_floating_point() {
        return Ok(());
    }
    let leaf = activations.detach().set_requires_grad(true);
    let logits = model.head(&leaf)?;
    // Logits the pipeline refuses with its own message (not [N, K ≥ 1] floating point).
    let shaped = matches!(logits.size2(), Ok((rows, classes)) if rows == n && classes > 0);
    if !shaped || !logits.is_floating_point() {
        return Ok(());
    }
    let Ok(targets) = logits.detach().f_argmax(1, false) else {
        return Ok(());
    };
    let score = super::target_scores(&logits, &targets).sum(Kind::Float);
    let Ok(grads) = crate::model::gradient(&score, &leaf) else {
        return Ok(());
    };
    let Ok(grads) = model.to_grid(&grads) else {
        return Ok(());
    };
    let live = grads.ne(0.0).flatten(1, -1).any_dim(1, false);
    if live.any().int64_value(&[]) == 1 {
        return Ok(());
    }
    Err(Error::model(
        format!(
            "the explained layer (shape {:?}) does not reach the output: the gradient of the \
             predicted class's logit with respect to it is 0 at every position, for each of the \
             first {n} images of {place}, so every gradient-based map would be 0 (a classifier \
             whose weights are all 0, as torchvision initialises a ViT's, does the same)",
            &activations.size()[1..]
        ),
        model.name(),
        "split the model at a layer the output depends on: for a CNN the last convolutional \
         block before the pooling head; for a vision transformer whose head reads the class \
         token, before its last block (python/export_torchvision.py's default), so that the \
         head's attention reads the patch tokens, not after it (pytorch-grad-cam #513)",
    ))
}

/// The grid of a layer output or gradient ([`SplitModel::to_grid`]), refused with one message
/// unless it is [N, V, h, w] with the batch's N.
fn grid(model: &dyn SplitModel, layer: &Tensor, n: i64) -> Result<Tensor> {
    let grid = model.to_grid(layer)?;
    let size = grid.size();
    if size.len() != 4 || size[0] != n || size.contains(&0) {
        return Err(Error::model(
            format!(
                "the explained layer's output of shape {:?} reads as a grid of shape {size:?}, \
                 not [N = {n}, V, h, w]",
                layer.size()
            ),
            model.name(),
            "a token model's `to_grid` must drop the prefix tokens and return the patch tokens \
             channels first, [N, D, h, w] (docs/models.md)",
        ));
    }
    Ok(grid)
}

/// Checks explicit targets against the batch size and the number of classes.
fn validate_targets(targets: &Tensor, n: i64, classes: i64) -> Result<()> {
    let place = "targets";
    if targets.size() != [n] {
        return Err(Error::input(
            format!(
                "targets have shape {:?}; expected [{n}], one class per image",
                targets.size()
            ),
            place,
            "pass an int64 array with one class index per image",
        ));
    }
    let bad = targets.lt(0).logical_or(&targets.ge(classes));
    if bad.any().int64_value(&[]) != 0 {
        let i = bad.nonzero().int64_value(&[0, 0]);
        return Err(Error::input(
            format!(
                "target {} of image {i} is out of range: the model has {classes} classes (0..{})",
                targets.int64_value(&[i]),
                classes - 1
            ),
            place,
            format!("use class indices between 0 and {}", classes - 1),
        ));
    }
    Ok(())
}

/// Refuses what a model returns that no method can explain, with one message naming the model:
/// activations or logits that are not floating point (an int64 head made libtorch crash), an
/// empty dimension (`[N, 0]` logits, a layer with no channel), or a batch size that is not the
/// input's.
fn ensure_shapes(
    model: &dyn SplitModel,
    x: &Tensor,
    activations: &Tensor,
    logits: &Tensor,
) -> Result<()> {
    let floating = |t: &Tensor| {
        matches!(
            t.kind(),
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
        )
    };
    let n = x.size()[0];
    let problem = if !floating(activations) {
        Some(format!(
            "`features` returned {:?} values",
            activations.kind()
        ))
    } else if !floating(logits) {
        Some(format!("`head` returned {:?} logits", logits.kind()))
    } else if activations.size().contains(&0) || activations.size()[0] != n {
        Some(format!(
            "`features` returned shape {:?} for {n} images",
            activations.size()
        ))
    } else if logits.size().contains(&0) || logits.size()[0] != n {
        Some(format!(
            "`head` returned shape {:?} for {n} images",
            logits.size()
        ))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(what) => Err(Error::model(
            what,
            model.name(),
            "features must return floating-point activations [N, V, h, w] and head \
             floating-point logits [N, K], K >= 1, for a batch of N images",
        )),
    }
}
/// Explains one batch `x` [N, C, H, W] with `method` on `model`. Targets default to the argmax
/// class of each image. Activations and gradients are computed once: the features run under
/// no-grad, and the gradient with respect to A comes from the head alone.
pub fn explain(
    method: &dyn CamMethod,
    model: &dyn SplitModel,
    x: &Tensor,
    targets: Option<&Tensor>,
) -> Result<Explanation> {
    let shared = Shared::of(model, x, targets, method.uses_gradients())?;
    shared.explain(method, false)
}

/// What every method explaining one batch reads, computed once for all of them: the images, the
/// explained layer's activations, the logits, the targets and (when a method needs it) the
/// gradient of the target logits with respect to the activations.
struct Shared<'a> {
    model: &'a dyn SplitModel,
    x: Tensor,
    /// The explained layer's output (a token model's tokens; a CNN's activations).
    layer: Tensor,
    /// Its grid ([`SplitModel::to_grid`]).
    activations: Tensor,
    logits: Tensor,
    targets: Tensor,
    gradients: Option<Tensor>,
}

impl<'a> Shared<'a> {
    /// The shared part of explaining `x` on `model`; the gradient only if `gradients`.
    fn of(
        model: &'a dyn SplitModel,
        x: &Tensor,
        targets: Option<&Tensor>,
        gradients: bool,
    ) -> Result<Self> {
        crate::precision::pin_thread();
        validate_input(x, model, "input batch")?;
        let size = x.size();
        if let Some(bytes) = model.peak_bytes(size[0], size[2], size[3]) {
            crate::limits::fits(
                &format!(
                    "running {} on a batch of {} images of {}x{}",
                    model.name(),
                    size[0],
                    size[2],
                    size[3]
                ),
                "the explain pipeline",
                bytes,
            )?;
        }
        let device = model.device();
        // A copy of the caller's images: a model that writes into its input in place changes
        // only this copy (the check's images stay those every method sees).
        let x = x.to_device(device).to_kind(Kind::Float).copy();
        let layer = tch::no_grad(|| model.features(&x))?.detach();
        let leaf = layer.detach().set_requires_grad(gradients);
        let logits = if gradients {
            model.head(&leaf)?
        } else {
            tch::no_grad(|| model.head(&leaf))?
        };
        let (n, classes) = logits
            .size2()
            .map_err(|e| Error::torch("reading the logits' shape", e))?;
        ensure_shapes(model, &x, &layer, &logits)?;
        ensure_finite(
            &layer,
            model,
            "its features (the explained layer's activations)",
        )?;
        let activations = grid(model, &layer, n)?;
        ensure_finite(&logits, model, "its logits")?;
        let targets = match targets {
            Some(t) => {
                let t = t.to_device(device).to_kind(Kind::Int64);
                validate_targets(&t, n, classes)?;
                t
            }
            None => logits.detach().argmax(1, false),
        };
        let gradients = if gradients {
            let score = super::target_scores(&logits, &targets).sum(Kind::Float);
            let grads = crate::model::gradient(&score, &leaf).map_err(|e| {
                Error::model(
                    format!(
                        "cannot differentiate the target logit with respect to the CAM layer: {e}"
                    ),
                    model.name(),
                    "`head` must compute the logits from its input A with differentiable \
                     operations",
                )
            })?;
            ensure_finite(&grads, model, "the gradient of the target logit")?;
            Some(grid(model, &grads, n)?)
        } else {
            None
        };
        Ok(Shared {
            model,
            x,
            layer,
            activations,
            logits: logits.detach(),
            targets,
            gradients,
        })
    }

    /// `method`'s explanation of the batch. The method reads its own copies of the logits and
    /// targets (the explanation's are the batch's, whatever the method writes) and, with
    /// `others` (more methods read the batch after it), of the images, activations and
    /// gradient: one that writes into its inputs in place changes only its own (every other
    /// method, and the check's images, stay as they were). The last (or only) method reads
    /// those as they are: no copy of activations that can be gigabytes (the theorem's draws).
    fn explain(&self, method: &dyn CamMethod, others: bool) -> Result<Explanation> {
        let model = self.model;
        let own = |t: &Tensor| match others {
            true => t.copy(),
            false => t.shallow_clone(),
        };
        let (x, activations) = (own(&self.x), own(&self.activations));
        // A CNN's layer is its grid: one tensor, one copy.
        let layer = match model.tokens() {
            true => own(&self.layer),
            false => activations.shallow_clone(),
        };
        let (logits, targets) = (self.logits.copy(), self.targets.copy());
        let gradients = match (&self.gradients, method.uses_gradients()) {
            (Some(g), true) => Some(own(g)),
            (None, true) => {
                return Err(Error::Torch {
                    context: "explaining a batch".into(),
                    message: format!("no gradient was computed for {}", method.title()),
                })
            }
            (_, false) => None,
        };
        let ctx = CamContext {
            model,
            input: &x,
            layer: &layer,
            activations: &activations,
            gradients: gradients.as_ref(),
            logits: &logits,
            targets: &targets,
        };
        let n = x.size()[0];
        let raw = usable_raw_map(method, method.raw_map(&ctx)?, n, model.device())?.detach();
        if !all_finite(&raw) {
            return Err(Error::model(
                format!("{} produced NaN or Inf in its raw map", method.title()),
                model.name(),
                "the method's arithmetic overflowed or divided by zero on this input; fix the \
                 method or check the input's scale",
            ));
        }
        let (height, width) = (x.size()[2], x.size()[3]);
        let maps = postprocess(&raw, method.reading(), height, width);
        Ok(Explanation {
            raw,
            maps,
            targets: self.targets.shallow_clone(),
            logits: self.logits.shallow_clone(),
            reading: method.reading(),
        })
    }
}

/// Whether every value of `t` is finite. A finite sum proves it in one pass (a NaN or an
/// infinity anywhere makes any sum of it NaN or infinite, in any order); the element-wise test
/// runs only where the sum is not finite, one of them or finite values whose sum overflowed, so
/// the answer is exact whatever the summation order. The element-wise test alone is three
/// passes and a reduction: a third of the theorem's Monte Carlo went to it on activations of
/// thousands of channels (70.8 ms against the sum's 1.9 ms for 41M floats).
fn all_finite(t: &Tensor) -> bool {
    t.sum(t.kind()).double_value(&[]).is_finite() || t.isfinite().all().int64_value(&[]) != 0
}

/// An error naming the stage where a model's numbers stopped being finite.
fn ensure_finite(t: &Tensor, model: &dyn SplitModel, stage: &str) -> Result<()> {
    if all_finite(t) {
        return Ok(());
    }
    Err(Error::model(
        format!(
            "{} gave NaN or Inf in {stage}: the input overflowed in the model",
            model.name()
        ),
        model.name(),
        "check the input's scale (normalised images are within a few units of 0)",
    ))
}

/// A method's raw map as it returned it, or one message naming the method, what it returned and
/// what a map must be: the same rule for built-in, Rust, Python and external methods (a Rust
/// method that returned [N, h] panicked inside the pipeline before, in libtorch's words).
fn usable_raw_map(method: &dyn CamMethod, raw: Tensor, n: i64, device: Device) -> Result<Tensor> {
    let refuse = |what: String| {
        Error::input(
            format!("method `{}` returned {what}", method.name()),
            format!("the method {}", method.title()),
            format!(
                "return one raw map per image: a dense float32 (or float64) tensor [N, h, w] \
                 (N = {n}; h x w the explained layer's size, or the input's), on the model's \
                 device"
            ),
        )
    };
    if !raw.defined() {
        return Err(refuse("an undefined tensor".into()));
    }
    if raw.is_sparse() {
        return Err(refuse("a sparse tensor".into()));
    }
    let kind = raw
        .f_kind()
        .map_err(|e| refuse(format!("a tensor of an unknown type ({e})")))?;
    if !matches!(kind, Kind::Float | Kind::Double) {
        return Err(refuse(format!("a tensor of {kind:?} values")));
    }
    if raw.dim() != 3 {
        return Err(refuse(format!("a map of shape {:?}", raw.size())));
    }
    let size = raw.size();
    if size[0] != n || size[1] < 1 || size[2] < 1 {
        return Err(refuse(format!("a map of shape {size:?}")));
    }
    if raw.device() != device {
        return Err(refuse(format!("a map on {:?}", raw.device())));
    }
    Ok(raw)
}

/// [`explain`] over a large set in batches of `batch_size` images, concatenated.
pub fn explain_batched(
    method: &dyn CamMethod,
    model: &dyn SplitModel,
    x: &Tensor,
    targets: Option<&Tensor>,
    batch_size: i64,
) -> Result<Explanation> {
    let mut all = explain_all(&[method], model, x, targets, batch_size)?;
    Ok(all.remove(0))
}

/// Every one of `methods`' explanations of `x` (in batches of `batch_size` images), in the
/// methods' order: each batch's features, logits, targets and gradient are computed once and
/// shared by every method (each reads its own copies), so k methods cost one forward and one
/// backward through the head per batch instead of k. The same explanations, bit for bit, as
/// [`explain_batched`] on each method alone.
pub fn explain_all(
    methods: &[&dyn CamMethod],
    model: &dyn SplitModel,
    x: &Tensor,
    targets: Option<&Tensor>,
    batch_size: i64,
) -> Result<Vec<Explanation>> {
    let n = x.size()[0];
    let batch_size = batch_size.max(1);
    let gradients = methods.iter().any(|m| m.uses_gradients());
    let mut parts: Vec<Vec<Explanation>> = methods.iter().map(|_| Vec::new()).collect();
    let mut start = 0;
    loop {
        let len = batch_size.min(n - start);
        let (batch, t) = match n <= batch_size {
            true => (x.shallow_clone(), targets.map(|t| t.shallow_clone())),
            false => (
                x.narrow(0, start, len),
                targets.map(|t| t.narrow(0, start, len)),
            ),
        };
        let shared = Shared::of(model, &batch, t.as_ref(), gradients)?;
        let last = methods.len().saturating_sub(1);
        for (i, (method, part)) in methods.iter().zip(&mut parts).enumerate() {
            crate::progress::poll(|| {
                format!("explaining images {start}..{} with {}", start + len, method.name())
            })?;
            part.push(shared.explain(*method, i < last)?);
        }
        start += len;
        if start >= n {
            break;
        }
    }
    Ok(parts
        .into_iter()
        .map(|mut parts| {
            if parts.len() == 1 {
                return parts.remove(0);
            }
            let cat = |f: fn(&Explanation) -> &Tensor| {
                Tensor::cat(&parts.iter().map(f).collect::<Vec<_>>(), 0)
            };
            Explanation {
                raw: cat(|e| &e.raw),
                maps: cat(|e| &e.maps),
                targets: cat(|e| &e.targets),
                logits: cat(|e| &e.logits),
                reading: parts[0].reading,
            }
        })
        .collect())
}
