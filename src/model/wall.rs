//! Walls: regions of the input that a model provably cannot see.
//!
//! Two ways to build a wall, both at the explained layer:
//! * built-in flatten + dense heads zero the first dense layer's weights that read dead feature
//!   rows (the paper's way; `RcnnConfig::masked`, `VggConfig::dead_rows`);
//! * any other head — a user's TorchScript model, a global-average-pool head — is wrapped in
//!   [`Walled`], which multiplies `A` by a 0/1 spatial mask before the head. No retraining needed.
//!
//! A wall is only trusted once [`certify`] has proved which input pixels cannot influence any
//! logit: candidates come from the support of the input gradient over several random inputs, and
//! the proof replaces the candidates with random noise many times and demands bit-identical logits.
use super::SplitModel;
use crate::error::{Error, Result};
use crate::model::init::Init;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Feature-map rows, inclusive on both ends as the paper writes them (`5..13`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRange {
    pub first: i64,
    pub last: i64,
}

impl RowRange {
    /// Parses `A..B` (inclusive) or `A..` (to the last row).
    pub fn parse(text: &str) -> Result<RowRange> {
        let bad = || {
            Error::input(
                format!("`{text}` is not a row range"),
                "--mask-rows",
                "write FIRST..LAST (inclusive), e.g. 5..13, or FIRST.. for every row from FIRST on",
            )
        };
        let (a, b) = text.trim().split_once("..").ok_or_else(bad)?;
        let first = a.trim().parse::<i64>().map_err(|_| bad())?;
        let last = if b.trim().is_empty() {
            i64::MAX
        } else {
            b.trim()
                .trim_start_matches('=')
                .parse::<i64>()
                .map_err(|_| bad())?
        };
        if first < 0 || last < first {
            return Err(bad());
        }
        Ok(RowRange { first, last })
    }

    /// The rows clipped to a map of `height` rows, as an exclusive range.
    pub fn clipped(&self, height: i64) -> std::ops::Range<i64> {
        self.first.min(height)..(self.last.saturating_add(1)).min(height)
    }
}

impl std::fmt::Display for RowRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.last == i64::MAX {
            write!(f, "{}..", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// A model whose head cannot read the masked feature rows: `head(A) = inner.head(A ⊙ M)`.
pub struct Walled {
    inner: Box<dyn SplitModel>,
    rows: RowRange,
}

impl Walled {
    pub fn new(inner: Box<dyn SplitModel>, rows: RowRange) -> Self {
        Walled { inner, rows }
    }

    /// The model inside the wall.
    #[cfg(feature = "internals")]
    pub fn inner(&self) -> &dyn SplitModel {
        self.inner.as_ref()
    }

    fn mask(&self, a: &Tensor) -> Tensor {
        let h = a.size()[2];
        let dead = self.rows.clipped(h);
        let rows: Vec<f32> = (0..h)
            .map(|r| if dead.contains(&r) { 0.0 } else { 1.0 })
            .collect();
        Tensor::from_slice(&rows)
            .to_device(a.device())
            .view([1, 1, h, 1])
    }
}

impl SplitModel for Walled {
    fn name(&self) -> String {
        format!(
            "{} with feature rows {} masked",
            self.inner.name(),
            self.rows
        )
    }
    fn device(&self) -> Device {
        self.inner.device()
    }
    fn input_channels(&self) -> Option<i64> {
        self.inner.input_channels()
    }
    fn input_size(&self) -> Option<(i64, i64)> {
        self.inner.input_size()
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.inner.features(x)
    }
    fn peak_bytes(&self, n: i64, height: i64, width: i64) -> Option<u128> {
        self.inner.peak_bytes(n, height, width)
    }
    fn parameter_groups(&self) -> Result<Vec<super::ParameterGroup>> {
        self.inner.parameter_groups()
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let rows = self.rows;
        Ok(self
            .inner
            .to_double()?
            .map(|inner| Box::new(Walled::new(inner, rows)) as Box<dyn SplitModel>))
    }
    fn inner_torchscript(&self) -> Option<&tch::CModule> {
        self.inner.as_torchscript()
    }
    fn steps(&self) -> Option<super::Steps<'_>> {
        let mut steps = self.inner.steps()?;
        steps.head.insert(0, super::Step::map(move |a| a * self.mask(a)));
        Some(steps)
    }
    fn sha256(&self) -> Option<String> {
        self.inner.sha256()
    }
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        let (inner, state) = match self.inner.as_torchscript() {
            Some(_) => (serde_json::json!({"kind": "torchscript"}), Vec::new()),
            None => self.inner.architecture()?,
        };
        Some((
            serde_json::json!({"kind": "walled", "first": self.rows.first,
            "last": self.rows.last.min(1 << 20), "inner": inner}),
            state,
        ))
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        if self.inner.tokens() {
            return Err(Error::input(
                format!("--mask-rows {} masks rows of a CNN layer [N, V, h, w]", self.rows),
                self.inner.name(),
                "a token model's wall is its attention mask (builtin:stack-vit-masked shows \
                 one); drop --mask-rows",
            ));
        }
        let h = a.size()[2];
        if self.rows.first >= h {
            return Err(Error::input(
                format!(
                    "--mask-rows {} starts below the last feature row ({} rows)",
                    self.rows, h
                ),
                self.inner.name(),
                format!("mask rows between 0 and {}", h - 1),
            ));
        }
        self.inner.head(&(a * self.mask(a)))
    }
}

/// How hard to try when certifying.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertifyOptions {
    /// Random inputs whose gradient support marks the pixels the model can see.
    pub gradient_inputs: i64,
    /// Random images whose candidate region is replaced by noise; every one must keep its logits
    /// bit-identical.
    pub noise_trials: i64,
    pub seed: u64,
}

impl Default for CertifyOptions {
    fn default() -> Self {
        CertifyOptions {
            gradient_inputs: 8,
            noise_trials: 16,
            seed: 0,
        }
    }
}

/// The proven blind region of a model at one input size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub height: i64,
    pub width: i64,
    /// The blind region as input rows (inclusive), when it is exactly the full rows `first..=last`.
    pub rows: Option<RowRange>,
    /// Number of blind input pixels.
    pub blind_pixels: i64,
    /// How it was proved, in words.
    pub method: String,
    /// Blind pixels, one string per input row ('#' blind, '.' visible) when `rows` is None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_rows: Option<Vec<String>>,
    /// Row-major [H × W] flags of the blind pixels.
    #[serde(skip)]
    blind: Vec<bool>,
}

impl Certificate {
    /// The blind pixels as a boolean [H, W] tensor (on the CPU).
    pub fn mask(&self) -> Tensor {
        Tensor::from_slice(&self.blind).view([self.height, self.width])
    }

    /// A certificate for exactly the given rows (for reports built from a known, certified wall).
    #[cfg(feature = "internals")]
    pub fn from_rows(height: i64, width: i64, rows: RowRange, method: String) -> Self {
        let dead = rows.clipped(height);
        let blind = (0..height * width)
            .map(|p| dead.contains(&(p / width)))
            .collect::<Vec<_>>();
        let blind_pixels = blind.iter().filter(|&&b| b).count() as i64;
        Certificate {
            height,
            width,
            rows: Some(rows),
            blind_pixels,
            method,
            pixel_rows: None,
            blind,
        }
    }

    /// "input rows 170..223 (54 of 224)" or "1234 pixels".
    pub fn describe(&self) -> String {
        match self.rows {
            Some(r) => format!(
                "input rows {}..{} ({} of {} rows)",
                r.first,
                r.last,
                r.last - r.first + 1,
                self.height
            ),
            None => format!(
                "{} of {} input pixels",
                self.blind_pixels,
                self.height * self.width
            ),
        }
    }
}

/// Proves which input pixels of a `channels`×`height`×`width` input cannot influence any logit.
/// Refuses (an error) when no pixel is blind or when the noise proof fails.
///
/// Long: the proof's two halves in order, the structural one and the noise one, which share the
/// shapes they derive.
pub fn certify(
    model: &dyn SplitModel,
    channels: i64,
    height: i64,
    width: i64,
    options: &CertifyOptions,
) -> Result<Certificate> {
    let device = model.device();
    let mut init = Init::new(options.seed, device);
    let place = model.name();
    // 1. Candidates: pixels where ∂(Σ_k c_k y_k)/∂x is exactly zero in every channel for every
    //    random input (random logit weights c avoid cancellation between classes).
    let x = init
        .normal(&[options.gradient_inputs, channels, height, width], 1.0)
        .set_requires_grad(true);
    let logits = model.forward(&x)?;
    let size = logits.size();
    let floating = matches!(
        logits.kind(),
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
    );
    if !floating || size.len() != 2 || size[0] != options.gradient_inputs || size[1] == 0 {
        // No logit to influence would make every pixel "blind".
        return Err(Error::model(
            format!(
                "the model returned {:?} logits of shape {size:?} for {} images",
                logits.kind(),
                options.gradient_inputs
            ),
            &place,
            "head must return floating-point logits [N, K], K >= 1",
        ));
    }
    let weights = init.normal(&logits.size(), 1.0);
    let grad = super::gradient(&(logits * weights).sum(Kind::Float), &x).map_err(|e| {
        Error::model(
            format!("cannot differentiate the logits with respect to the input: {e}"),
            &place,
            "the model must compute its logits from its input with differentiable operations",
        )
    })?;
    let seen = grad.ne(0.0).any_dim(0, false).any_dim(0, false);
    let candidates = seen.logical_not().to_device(Device::Cpu);
    let blind_pixels = candidates.sum(Kind::Int64).int64_value(&[]);
    if blind_pixels == 0 {
        return Err(Error::model(
            format!(
                "no input pixel of a {height}x{width} input is blind: \
                 every pixel influences the logits"
            ),
            &place,
            "mask more feature rows (the live rows' receptive fields cover the whole input), \
             or use a model with a wall",
        ));
    }
    // 2. Proof: the same random images with the candidate region replaced by large noise, at the
    //    same batch positions (same kernels), must give bit-identical logits.
    let base = init.normal(&[options.noise_trials, channels, height, width], 1.0);
    let noise = init.normal(&[options.noise_trials, channels, height, width], 10.0);
    let region = candidates.to_device(device).view([1, 1, height, width]);
    let noisy = noise.where_self(&region, &base);
    let (clean_logits, noisy_logits) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
        Ok((model.forward(&base)?, model.forward(&noisy)?))
    })?;
    if clean_logits.eq_tensor(&noisy_logits).all().int64_value(&[]) == 0 {
        let change = (clean_logits - noisy_logits).abs().max().double_value(&[]);
        return Err(Error::model(
            format!(
                "the wall fails certification: noise in the {blind_pixels} candidate pixels \
                 changed the logits (by up to {change:.3e})"
            ),
            &place,
            "the masked rows do not cut the input off; check the mask (feature rows) \
             and that the head has no path around it",
        ));
    }
    let blind: Vec<bool> = Vec::<i64>::try_from(candidates.to_kind(Kind::Int64).flatten(0, -1))
        .map_err(|e| Error::torch("reading the blind region", e))?
        .into_iter()
        .map(|v| v != 0)
        .collect();
    let row = |r: i64| &blind[(r * width) as usize..((r + 1) * width) as usize];
    let row_blind: Vec<bool> = (0..height).map(|r| row(r).iter().all(|&b| b)).collect();
    let row_any: Vec<bool> = (0..height).map(|r| row(r).iter().any(|&b| b)).collect();
    let first = row_blind.iter().position(|&b| b);
    let rows = first.and_then(|f| {
        let last = row_blind.iter().rposition(|&b| b).unwrap();
        let contiguous = (f..=last).all(|r| row_blind[r]);
        let nothing_else = (0..height as usize).all(|r| (f..=last).contains(&r) || !row_any[r]);
        (contiguous && nothing_else).then_some(RowRange {
            first: f as i64,
            last: last as i64,
        })
    });
    let pixel_rows = rows.is_none().then(|| {
        (0..height)
            .map(|r| row(r).iter().map(|&b| if b { '#' } else { '.' }).collect())
            .collect()
    });
    Ok(Certificate {
        height,
        width,
        rows,
        blind_pixels,
        method: format!(
            "input-gradient support over {} random inputs, then {} random images with the region \
             replaced by N(0, 10^2) noise gave bit-identical logits (seed {})",
            options.gradient_inputs, options.noise_trials, options.seed
        ),
        pixel_rows,
        blind,
    })
}
