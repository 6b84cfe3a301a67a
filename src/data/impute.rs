//! Noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and
//! Efficient Evaluation Strategy for Attribution Methods", ICML 2022; ROAD): every removed pixel
//! becomes the weighted mean of its eight neighbours (weight 1/6 for the four beside it, 1/12 for
//! the four diagonal ones; neighbours outside the image are left out and the weights of the
//! others not renormalised, as in ROAD's and pytorch-grad-cam's code), removed neighbours
//! included, so that the removed region is filled by the discrete harmonic interpolation of its
//! border; then N(0, noise²) is added to each filled value. Each channel is its own system.
//!
//! For removed pixel p with valid neighbours q (weights w_q, s_p = Σ w_q):
//! `s_p·u_p − Σ_{q removed} w_q·u_q = Σ_{q kept} w_q·x_q`. The matrix is symmetric (the offsets
//! come in ± pairs of equal weight) and positive definite whenever a pixel is kept, so it is
//! solved by conjugate gradients in float64 on whole batches at once, every operator a shifted
//! sum of tensors: ROAD's own code builds a sparse matrix per image and channel and solves it
//! with scipy's direct solver, which no crate here provides and which would loop per image. The
//! iteration starts from a push–pull fill and stops when every system's residual is below 1e-7
//! of its right-hand side: the values are then within 1e-6 of a literal solve and of
//! pytorch-grad-cam's direct one (tests), far below ROAD's noise of 0.01.
use tch::{Kind, Tensor};

/// The neighbours of a pixel, (row offset, column offset, weight): ROAD's weights.
pub const NEIGHBOURS: [(i64, i64, f64); 8] = [
    (1, 1, 1.0 / 12.0),
    (0, 1, 1.0 / 6.0),
    (-1, 1, 1.0 / 12.0),
    (1, -1, 1.0 / 12.0),
    (0, -1, 1.0 / 6.0),
    (-1, -1, 1.0 / 12.0),
    (1, 0, 1.0 / 6.0),
    (-1, 0, 1.0 / 6.0),
];

/// Relative residual at which the conjugate gradients stop.
const TOLERANCE: f64 = 1e-7;

/// Σ_q w_q·v(p + q) over the neighbours inside the image, for `v` \[B, C, H, W\].
fn neighbour_sum(v: &Tensor) -> Tensor {
    let (h, w) = (v.size()[2], v.size()[3]);
    let padded = v.constant_pad_nd([1, 1, 1, 1]);
    let mut sum = v.zeros_like();
    for (dy, dx, weight) in NEIGHBOURS {
        let shifted = padded.narrow(2, 1 + dy, h).narrow(3, 1 + dx, w);
        sum += shifted * weight;
    }
    sum
}

/// A first guess at the removed pixels by push–pull (Gortler, Grzeszczuk, Szeliski & Cohen,
/// "The Lumigraph", SIGGRAPH 1996): kept pixels averaged down a pyramid of 2 × 2 blocks, then
/// every removed pixel given its block's average from the finest level that has one. It holds the
/// smooth part of the solution, which conjugate gradients are slowest to find.
fn push_pull(values: &Tensor, kept: &Tensor) -> Tensor {
    let (h, w) = (values.size()[2], values.size()[3]);
    if h < 2 || w < 2 {
        let total = kept.sum_dim_intlist([2, 3].as_slice(), true, Kind::Double);
        let mean = values.sum_dim_intlist([2, 3].as_slice(), true, Kind::Double)
            / total.clamp_min(f64::MIN_POSITIVE);
        return values + (kept.ones_like() - kept) * mean;
    }
    let pool = |t: &Tensor| t.avg_pool2d([2, 2], [2, 2], [0, 0], true, true, None::<i64>);
    let (sum, weight) = (pool(values), pool(kept));
    let coarse_kept = weight.gt(0.0).to_kind(Kind::Double);
    let mean = sum / weight.clamp_min(f64::MIN_POSITIVE) * &coarse_kept;
    let coarse = push_pull(&mean, &coarse_kept);
    let up = coarse.upsample_nearest2d([h + h % 2, w + w % 2], None, None);
    let up = up.narrow(2, 0, h).narrow(3, 0, w);
    values + (kept.ones_like() - kept) * up
}

/// Per system (image and channel), Σ a·b over the pixels, \[B, C, 1, 1\].
fn dot(a: &Tensor, b: &Tensor) -> Tensor {
    (a * b).sum_dim_intlist([2, 3].as_slice(), true, Kind::Double)
}

/// `x` \[B, C, H, W\] with the pixels where `removed` \[B, H, W\] is true filled by linear
/// imputation (module doc), plus `noise` (\[B, C, H, W\], drawn by the caller from a named
/// stream) there. Each image must keep at least one pixel (the system is singular otherwise: the
/// caller never removes all).
pub fn impute(x: &Tensor, removed: &Tensor, noise: Option<&Tensor>) -> Tensor {
    let kind = x.kind();
    let x = x.to_kind(Kind::Double);
    let r = removed.to_kind(Kind::Double).unsqueeze(1);
    let kept = r.ones_like() - &r;
    // s_p, the weights of the neighbours inside the image.
    let s = neighbour_sum(&r.ones_like());
    // A·v = R ⊙ (s ⊙ v − W(v)) on fields that vanish on the kept pixels.
    let apply = |v: &Tensor| &r * (&s * v - neighbour_sum(v));
    let b = &r * neighbour_sum(&(&x * &kept));
    let b_norm = dot(&b, &b).sqrt();
    let mut u = &r * push_pull(&(&x * &kept), &kept.expand_as(&x));
    let mut residual = &b - apply(&u);
    let mut p = residual.shallow_clone();
    let mut rs = dot(&residual, &residual);
    // Conjugate gradients take at most as many steps as the largest system has unknowns.
    let most = r.sum_dim_intlist([1, 2, 3].as_slice(), false, Kind::Double);
    let most = most.max().double_value(&[]) as i64;
    for _ in 0..most.max(1) {
        let done = rs.sqrt().le_tensor(&(&b_norm * TOLERANCE)).all();
        if done.int64_value(&[]) == 1 {
            break;
        }
        let ap = apply(&p);
        let curvature = dot(&p, &ap);
        // A converged system (p = 0) takes no step.
        let alpha = (&rs / curvature.clamp_min(f64::MIN_POSITIVE)).where_self(
            &curvature.gt(0.0),
            &rs.zeros_like(),
        );
        u += &alpha * &p;
        residual -= &alpha * &ap;
        let next = dot(&residual, &residual);
        let beta = (&next / rs.clamp_min(f64::MIN_POSITIVE))
            .where_self(&rs.gt(0.0), &rs.zeros_like());
        p = &residual + &beta * &p;
        rs = next;
    }
    let filled = match noise {
        Some(draws) => u + draws.to_kind(Kind::Double),
        None => u,
    };
    (&x * &kept + filled * &r).to_kind(kind)
}

/// The slow literal reference: every removed pixel's equation written out, one image and channel
/// at a time, solved by Gauss–Seidel sweeps until no value moves by more than 1e-13 (tests).
#[cfg(feature = "internals")]
pub fn impute_literal(x: &[f64], removed: &[bool], h: usize, w: usize) -> Vec<f64> {
    let mut v: Vec<f64> = x
        .iter()
        .zip(removed)
        .map(|(&x, &r)| if r { 0.0 } else { x })
        .collect();
    loop {
        let mut moved: f64 = 0.0;
        for y in 0..h {
            for xx in 0..w {
                let i = y * w + xx;
                if !removed[i] {
                    continue;
                }
                let (mut sum, mut weights) = (0.0, 0.0);
                for (dy, dx, weight) in NEIGHBOURS {
                    let (ny, nx) = (y as i64 + dy, xx as i64 + dx);
                    if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                        continue;
                    }
                    sum += weight * v[ny as usize * w + nx as usize];
                    weights += weight;
                }
                let next = sum / weights;
                moved = moved.max((next - v[i]).abs());
                v[i] = next;
            }
        }
        if moved < 1e-13 {
            return v;
        }
    }
}
