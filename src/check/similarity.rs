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
    Windowed::of(a).ssim(b)
}

/// The Gaussian-window means of [N, H, W] maps stacked [k·N, H, W], in one pair of separable
/// convolutions: [k·N, 1, h', w'].
fn window_means(maps: &Tensor) -> Tensor {
    let (kernel, size) = gaussian_kernel(1.5, maps.device());
    let (h, w) = (maps.size()[1], maps.size()[2]);
    let t = maps.unsqueeze(1).to_kind(Kind::Float);
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
}

/// One side of an SSIM comparison, filtered once: the maps and the window means of them and of
/// their squares (a map compared with every randomization's is filtered once).
struct Windowed {
    maps: Tensor,
    mean: Tensor,
    square: Tensor,
}

impl Windowed {
    fn of(a: &Tensor) -> Windowed {
        let a = a.to_kind(Kind::Float);
        let both = window_means(&Tensor::cat(&[&a, &(&a * &a)], 0)).chunk(2, 0);
        Windowed {
            mean: both[0].shallow_clone(),
            square: both[1].shallow_clone(),
            maps: a,
        }
    }

    /// Mean SSIM of each of these maps with the same image's map in `b` ([`ssim`]).
    fn ssim(&self, b: &Tensor) -> Vec<f64> {
        let (a, b) = (&self.maps, b.to_kind(Kind::Float));
        let three = window_means(&Tensor::cat(&[&b, &(&b * &b), &(a * &b)], 0)).chunk(3, 0);
        let (ua, uaa) = (&self.mean, &self.square);
        let (ub, ubb, uab) = (&three[0], &three[1], &three[2]);
        let (va, vb, vab) = (uaa - ua * ua, ubb - ub * ub, uab - ua * ub);
        let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
        let s = ((ua * ub * 2.0 + c1) * (vab * 2.0 + c2))
            / ((ua * ua + ub * ub + c1) * (va + vb + c2));
        Vec::<f64>::try_from(
            s.mean_dim([1, 2, 3].as_slice(), false, Kind::Double)
                .to_device(Device::Cpu),
        )
        .expect("ssim values")
    }
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
    // Each pixel of the cell grid votes its magnitude into (its cell, its bin): one scatter-add
    // in pixel order, the order in which a 16×16 average pool sums a cell, so the same bits
    // without a one-hot tensor nine times the map's size.
    let (rows, cols) = (cells_r * cell, cells_c * cell);
    let device = maps.device();
    let cell_of =
        |length: i64| Tensor::arange(length, (Kind::Int64, device)).floor_divide_scalar(cell);
    let grid = cell_of(rows).unsqueeze(1) * cells_c + cell_of(cols).unsqueeze(0);
    let bin = bin.narrow(1, 0, rows).narrow(2, 0, cols);
    let slots = (grid.unsqueeze(0) * bins + bin).reshape([n, -1]);
    let votes = magnitude.narrow(1, 0, rows).narrow(2, 0, cols).reshape([n, -1]);
    let cells = Tensor::zeros([n, cells_r * cells_c * bins], (Kind::Double, device))
        .scatter_add(1, &slots, &votes)
        / (cell * cell) as f64;
    // Blocks: every 3×3 window of cells, flattened as (cell row, cell column, orientation).
    let blocks = cells
        .view([n, cells_r, cells_c, bins])
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

/// Each row's average ranks (1-based; tied values share the mean of their positions, as scipy's
/// `rankdata`), doubled so that they are integers: [N, L] values -> int64 [N, L] in 2..=2L.
/// Batched on the device: a stable sort, and each value's tie group from two binary searches
/// in its sorted row.
fn doubled_ranks(t: &Tensor) -> Tensor {
    let (sorted, order) = t.sort_stable(true, 1, false);
    let first = sorted.searchsorted(&sorted, false, false, "left", None::<Tensor>);
    let past = sorted.searchsorted(&sorted, false, true, "right", None::<Tensor>);
    // Positions first..past-1 (0-based) share the rank (first + 1 + past) / 2.
    let doubled = first + past + 1;
    Tensor::zeros_like(&doubled).scatter(1, &order, &doubled)
}

/// One side of a Spearman correlation, ranked once: each row's doubled average ranks, centred
/// (2r − (L + 1): integers that sum to 0), and their sums of squares. A map compared with many
/// others (the trained model's, with every randomization's) is ranked once.
pub struct Ranked {
    /// int64 [N, L]; undefined when the rows are too long for exact sums or empty.
    centred: Option<Tensor>,
    squares: Vec<i64>,
    /// The values, [N, L] (what [`literal_spearman_rows`] reads when `centred` is undefined).
    values: Tensor,
}

/// Rows of up to 2^20 values: centred doubled ranks are below 2^21 in size, their products
/// below 2^42, and a row's sum of them below 2^62 (int64, exact).
const EXACT_ROW: i64 = 1 << 20;

impl Ranked {
    /// The rows of `t` ([N, ...], flattened per row).
    pub fn of(t: &Tensor) -> Ranked {
        let n = t.size()[0];
        let values = t.reshape([n, -1]);
        let length = values.size()[1];
        if length == 0 || length > EXACT_ROW {
            return Ranked {
                centred: None,
                squares: Vec::new(),
                values,
            };
        }
        let centred = doubled_ranks(&values) - (length + 1);
        let squares = (&centred * &centred).sum_dim_intlist(1, false, Kind::Int64);
        let squares = Vec::<i64>::try_from(squares.to_device(Device::Cpu)).expect("sums");
        Ranked {
            centred: Some(centred),
            squares,
            values,
        }
    }

    /// Spearman's ρ of each row with the same row of `other`: Pearson's r of their average
    /// ranks; None where a side is constant, and for rows of different lengths (maps of two
    /// sizes have no correlation).
    ///
    /// Exact up to the last division: the centred doubled ranks are integers, so their sums of
    /// squares and products are int64 sums (exact in any order, on any device and thread
    /// count), and r = Σ c_a c_b / √(Σ c_a² Σ c_b²) is rounded once in float64.
    /// [`super::stats::spearman`] (statrs, row by row) is its literal reference.
    pub fn spearman(&self, other: &Ranked) -> Vec<Option<f64>> {
        let (Some(a), Some(b)) = (&self.centred, &other.centred) else {
            return literal_spearman_rows(&self.values, &other.values);
        };
        if a.size() != b.size() {
            return literal_spearman_rows(&self.values, &other.values);
        }
        let products = (a * b).sum_dim_intlist(1, false, Kind::Int64);
        let products = Vec::<i64>::try_from(products.to_device(Device::Cpu)).expect("sums");
        products
            .iter()
            .zip(self.squares.iter().zip(&other.squares))
            .map(|(&ab, (&aa, &bb))| {
                let (ab, aa, bb) = (ab as f64, aa as f64, bb as f64);
                (aa > 0.0 && bb > 0.0).then(|| (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0))
            })
            .collect()
    }
}

/// Row by row with [`spearman`] (statrs): rows of different lengths give None, never a panic
/// inside statrs.
fn literal_spearman_rows(a: &Tensor, b: &Tensor) -> Vec<Option<f64>> {
    let rows = |t: &Tensor| -> Vec<Vec<f64>> {
        let t = t.to_kind(Kind::Double).to_device(Device::Cpu);
        (0..t.size()[0])
            .map(|i| Vec::<f64>::try_from(t.get(i).flatten(0, -1)).expect("values"))
            .collect()
    };
    rows(a)
        .iter()
        .zip(rows(b).iter())
        .map(|(x, y)| (x.len() == y.len()).then(|| spearman(x, y)).flatten())
        .collect()
}

/// The maps every randomization is compared with, prepared once: their SSIM window means, the
/// ranks of the absolute and of the raw maps, and the HOG descriptors with their ranks.
pub struct Reference {
    windowed: Windowed,
    abs: Ranked,
    raw: Ranked,
    hog: Option<Ranked>,
}

impl Reference {
    /// Final maps [N, H, W] in [0, 1] and raw signed maps [N, h, w].
    pub fn of(maps: &Tensor, raw: &Tensor) -> Reference {
        let descriptors = hog(maps);
        Reference {
            windowed: Windowed::of(maps),
            abs: Ranked::of(&maps.abs()),
            raw: Ranked::of(raw),
            hog: (descriptors.size()[1] > 0).then(|| Ranked::of(&descriptors)),
        }
    }

    /// The similarities of other maps of the same images to these ([`compare`]).
    pub fn compare(&self, maps: &Tensor, raw: &Tensor) -> Similarities {
        let hog_values = match &self.hog {
            None => vec![None; maps.size()[0] as usize],
            Some(ranked) => ranked.spearman(&Ranked::of(&hog(maps))),
        };
        // |maps| once, for the identity test and the ranks; this side's is kept in its ranks.
        let abs = Ranked::of(&maps.abs());
        let identical = (&self.abs.values - &abs.values)
            .abs()
            .amax(1, false)
            .eq(0.0);
        let identical = Vec::<bool>::try_from(identical.to_device(Device::Cpu)).expect("flags");
        Similarities {
            spearman_abs: self.abs.spearman(&abs),
            identical,
            spearman_signed: self.raw.spearman(&Ranked::of(raw)),
            ssim: self
                .windowed
                .ssim(maps)
                .into_iter()
                .map(|v| v.is_finite().then_some(v))
                .collect(),
            hog: hog_values,
        }
    }
}

/// Compares final maps (`maps_*`, [N, H, W] in [0, 1]) and raw signed maps (`raw_*`, [N, h, w]).
/// A correlation with a constant side is undefined (None).
pub fn compare(maps_a: &Tensor, maps_b: &Tensor, raw_a: &Tensor, raw_b: &Tensor) -> Similarities {
    Reference::of(maps_a, raw_a).compare(maps_b, raw_b)
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
