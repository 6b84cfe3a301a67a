//! Similarity of saliency maps, as Adebayo et al. measure it ("Sanity Checks for Saliency Maps",
//! NeurIPS 2018): Spearman rank correlation of absolute and of signed maps, SSIM with a Gaussian
//! window, and Spearman of HOG descriptors. SSIM and HOG are batched tensor computations;
//! Spearman ranks each map once (average ranks for ties, as scipy).
use super::stats::spearman;
use tch::{Device, Kind, Tensor};

/// A separable Gaussian kernel of standard deviation `sigma`, truncated at 3.5 σ (scipy's
/// `gaussian_filter` as skimage uses it: σ = 1.5 gives an 11-tap window).
fn gaussian_kernel(sigma: f64, device: Device) -> (Tensor, i64) {
    let radius = (3.5 * sigma + 0.5) as i64;
    let taps: Vec<f32> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp() as f32)
        .collect();
    let sum: f32 = taps.iter().sum();
    let taps: Vec<f32> = taps.iter().map(|t| t / sum).collect();
    (Tensor::from_slice(&taps).to_device(device), 2 * radius + 1)
}

/// Mean SSIM of each pair of maps [N, H, W] with data range 1, Gaussian-weighted window
/// (σ = 1.5, 11 taps), population covariances, C1 = 0.01², C2 = 0.03², averaged over the
/// positions whose window lies inside the image: skimage's
/// `structural_similarity(gaussian_weights=True, data_range=1)`. Maps smaller than the window
/// use the whole map as one window.
pub fn ssim(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let (kernel, size) = gaussian_kernel(1.5, a.device());
    let (h, w) = (a.size()[1], a.size()[2]);
    let filter = |t: &Tensor| -> Tensor {
        let t = t.unsqueeze(1).to_kind(Kind::Float);
        if h < size || w < size {
            return t.mean_dim([2, 3].as_slice(), true, Kind::Float);
        }
        let t = t.conv2d(
            &kernel.view([1, 1, size, 1]),
            None::<Tensor>,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        );
        t.conv2d(
            &kernel.view([1, 1, 1, size]),
            None::<Tensor>,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )
    };
    let (ua, ub) = (filter(a), filter(b));
    let (uaa, ubb, uab) = (filter(&(a * a)), filter(&(b * b)), filter(&(a * b)));
    let (va, vb, vab) = (&uaa - &ua * &ua, &ubb - &ub * &ub, &uab - &ua * &ub);
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let s = ((&ua * &ub * 2.0 + c1) * (vab * 2.0 + c2))
        / ((&ua * &ua + &ub * &ub + c1) * (va + vb + c2));
    Vec::<f64>::try_from(
        s.mean_dim([1, 2, 3].as_slice(), false, Kind::Double)
            .to_device(Device::Cpu),
    )
    .expect("ssim values")
}

/// HOG descriptors of maps [N, H, W] as skimage's `hog(orientations=9, pixels_per_cell=(16, 16),
/// cells_per_block=(3, 3), block_norm='L2-Hys')`: central-difference gradients (zero on the
/// border), unsigned orientation in 9 bins of 20°, per-cell mean magnitude per bin, 3×3-cell
/// blocks normalised L2-Hys (clip 0.2). Returns [N, D]; maps too small for one block give D = 0.
pub fn hog(maps: &Tensor) -> Tensor {
    let (n, h, w) = maps.size3().expect("[N, H, W]");
    let (cell, block, bins) = (16i64, 3i64, 9i64);
    let (cells_r, cells_c) = (h / cell, w / cell);
    if cells_r < block || cells_c < block {
        return Tensor::zeros([n, 0], (Kind::Float, maps.device()));
    }
    let m = maps.to_kind(Kind::Double);
    let gr = Tensor::zeros_like(&m);
    let gc = Tensor::zeros_like(&m);
    gr.narrow(1, 1, h - 2)
        .copy_(&(m.narrow(1, 2, h - 2) - m.narrow(1, 0, h - 2)));
    gc.narrow(2, 1, w - 2)
        .copy_(&(m.narrow(2, 2, w - 2) - m.narrow(2, 0, w - 2)));
    let magnitude = (&gr * &gr + &gc * &gc).sqrt();
    let orientation = gr.atan2(&gc).rad2deg().remainder(180.0);
    let bin = (orientation / (180.0 / bins as f64))
        .floor()
        .clamp(0.0, (bins - 1) as f64)
        .to_kind(Kind::Int64);
    let votes = bin.one_hot(bins).to_kind(Kind::Double) * magnitude.unsqueeze(-1);
    let votes = votes
        .narrow(1, 0, cells_r * cell)
        .narrow(2, 0, cells_c * cell)
        .permute([0, 3, 1, 2]);
    let cells = votes.avg_pool2d([cell, cell], [cell, cell], [0, 0], false, true, None::<i64>);
    // Blocks: every 3×3 window of cells, flattened as (cell row, cell column, orientation).
    let blocks = cells
        .permute([0, 2, 3, 1])
        .unfold(1, block, 1)
        .unfold(2, block, 1); // [N, br, bc, bins, 3, 3]
    let blocks = blocks.permute([0, 1, 2, 4, 5, 3]).reshape([
        n,
        (cells_r - block + 1) * (cells_c - block + 1),
        block * block * bins,
    ]);
    let eps = 1e-5f64;
    let norm =
        |t: &Tensor| t / (t.square().sum_dim_intlist(-1, true, Kind::Double) + eps * eps).sqrt();
    norm(&norm(&blocks).clamp_max(0.2)).reshape([n, -1])
}

/// Per-image similarities between two sets of maps.
#[derive(Debug, Clone, Default)]
pub struct Similarities {
    /// Spearman of the absolute maps; None where a side is constant.
    pub spearman_abs: Vec<Option<f64>>,
    /// Whether the two absolute maps are identical (the undefined rule needs it).
    pub identical: Vec<bool>,
    pub spearman_signed: Vec<Option<f64>>,
    pub ssim: Vec<Option<f64>>,
    pub hog: Vec<Option<f64>>,
}

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let t = t.to_kind(Kind::Double).to_device(Device::Cpu);
    (0..t.size()[0])
        .map(|i| Vec::<f64>::try_from(t.get(i).flatten(0, -1)).expect("values"))
        .collect()
}

/// Row by row; rows of different lengths (maps of two sizes) have no correlation (None), never
/// a panic inside statrs.
fn spearman_rows(a: &Tensor, b: &Tensor) -> Vec<Option<f64>> {
    rows(a)
        .iter()
        .zip(rows(b).iter())
        .map(|(x, y)| (x.len() == y.len()).then(|| spearman(x, y)).flatten())
        .collect()
}

/// Compares final maps (`maps_*`, [N, H, W] in [0, 1]) and raw signed maps (`raw_*`, [N, h, w]).
/// A correlation with a constant side is undefined (None).
pub fn compare(maps_a: &Tensor, maps_b: &Tensor, raw_a: &Tensor, raw_b: &Tensor) -> Similarities {
    let (ha, hb) = (hog(maps_a), hog(maps_b));
    let hog_values = if ha.size()[1] == 0 {
        vec![None; maps_a.size()[0] as usize]
    } else {
        spearman_rows(&ha, &hb)
    };
    let identical = (maps_a.abs() - maps_b.abs())
        .abs()
        .flatten(1, -1)
        .amax(1, false)
        .eq(0.0);
    let identical = Vec::<bool>::try_from(identical.to_device(Device::Cpu)).expect("flags");
    Similarities {
        spearman_abs: spearman_rows(&maps_a.abs(), &maps_b.abs()),
        identical,
        spearman_signed: spearman_rows(raw_a, raw_b),
        ssim: ssim(maps_a, maps_b)
            .into_iter()
            .map(|v| v.is_finite().then_some(v))
            .collect(),
        hog: hog_values,
    }
}

impl Similarities {
    /// The similarities of several comparisons of the same images (independent
    /// randomizations), one after the other.
    pub fn concat(parts: &[Similarities]) -> Similarities {
        let join = |f: fn(&Similarities) -> &Vec<Option<f64>>| {
            parts.iter().flat_map(|p| f(p).iter().copied()).collect()
        };
        Similarities {
            spearman_abs: join(|p| &p.spearman_abs),
            identical: parts
                .iter()
                .flat_map(|p| p.identical.iter().copied())
                .collect(),
            spearman_signed: join(|p| &p.spearman_signed),
            ssim: join(|p| &p.ssim),
            hog: join(|p| &p.hog),
        }
    }

    /// Spearman(abs) per image with the rule for undefined values: a constant map (no ordering)
    /// correlates 0 with a different map, and identical maps count 1 (they did not change).
    /// Also returns how many values the rule supplied.
    pub fn spearman_abs_ruled(&self) -> (Vec<f64>, usize) {
        let undefined = self.spearman_abs.iter().filter(|v| v.is_none()).count();
        let values = self
            .spearman_abs
            .iter()
            .zip(&self.identical)
            .map(|(v, &same)| v.unwrap_or(if same { 1.0 } else { 0.0 }))
            .collect();
        (values, undefined)
    }
}
