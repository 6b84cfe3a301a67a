//! Theorem 1's exact values: the closed form κ of E\[GC_ij\] / ‖m_ij‖ on the masked rCNN with
//! i.i.d. N(0, τ²) weights (derivation in docs/theory.md) and the talk's bound in its three
//! readings.
use crate::model::rcnn::RcnnConfig;
use statrs::function::gamma::ln_gamma;

/// E[√X] for X ~ χ²_K with K ~ Binomial(V, ½) (K = 0 contributes 0).
pub fn expected_sqrt_chi(v: i64) -> f64 {
    let ln_half_v = v as f64 * 0.5f64.ln();
    (1..=v)
        .map(|k| {
            let ln_p = ln_gamma(v as f64 + 1.0)
                - ln_gamma(k as f64 + 1.0)
                - ln_gamma((v - k) as f64 + 1.0)
                + ln_half_v;
            let ln_mean =
                0.5 * 2f64.ln() + ln_gamma((k as f64 + 1.0) / 2.0) - ln_gamma(k as f64 / 2.0);
            (ln_p + ln_mean).exp()
        })
        .sum()
}

/// The geometry of a configuration.
pub struct Geometry {
    /// Height of the map GradCAM lives on (before the pool).
    pub h: i64,
    /// Its width.
    pub w: i64,
    /// Height after the pool.
    pub hp: i64,
    /// Width after the pool.
    pub wp: i64,
    /// Live pooled positions per channel.
    pub n_vis: i64,
    /// The map's rows behind the wall.
    pub dead_rows: std::ops::Range<i64>,
}

pub fn geometry(config: &RcnnConfig) -> Geometry {
    let (h, w) = config.map_size();
    let (hp, wp) = config.pooled_size();
    let dead = config.dead_pooled_rows();
    let n_vis = (hp - (dead.end - dead.start)) * wp;
    // GC lives on B (before the pool); pooled row p covers B rows 2p, 2p + 1.
    Geometry {
        h,
        w,
        hp,
        wp,
        n_vis,
        dead_rows: 2 * dead.start..h,
    }
}

/// κ = E\[GC_ij\] / ‖m_ij‖ for a fixed class.
pub fn closed_form(config: &RcnnConfig) -> f64 {
    let g = geometry(config);
    config.tau * config.tau * (g.n_vis as f64).sqrt() * expected_sqrt_chi(config.filters)
        / ((g.h * g.w) as f64 * (2.0 * std::f64::consts::PI).sqrt())
}

/// The talk's bound per unit ‖m‖ in its three readings: (name, value or None where √ of a
/// negative).
pub fn bound_readings(config: &RcnnConfig) -> [(&'static str, Option<f64>); 3] {
    let g = geometry(config);
    let v = config.filters as f64;
    let tau2 = config.tau * config.tau;
    let base =
        ((g.hp * g.wp) as f64).sqrt() / (16.0 * std::f64::consts::PI) * tau2 / (g.h * g.w) as f64;
    let lead = v - 20.0 * v.sqrt();
    [
        ("linear", Some(lead * base)),
        ("over_sqrt", Some(lead / v.sqrt() * base)),
        ("sqrt", (lead >= 0.0).then(|| lead.sqrt() * base)),
    ]
}
