//! The grid checks of Rao, Böhle & Schiele ("Towards Better Understanding Attribution Methods",
//! CVPR 2022): DiFull, DiPart and GridPG ([`crate::model::grid`]) around the check's model, on
//! 2 × 2 grids of its images.
//!
//! Grids: the images in order, each grid the first four still unused whose predicted classes
//! (the model's, on the image alone) differ; images left over are counted in the report
//! (`unused`). Each grid is explained four times, once per cell j, for that cell's predicted
//! class (DiFull and DiPart: head j's output for it; GridPG: the one output for it). Score of a
//! (grid, cell): the share of the final map's sum inside the cell (Rao et al.'s share of the
//! positive attribution; an all-zero map scores 0, counted in `undefined`); a grid's value is
//! the mean over its four cells, so the grids are the independent samples (n = grids).
//!
//! * `difull` has an exact answer: no pixel outside cell j can change head j's output, so a
//!   faithful map puts nothing there. Statistic: the share outside (1 − score). Verdict as the
//!   wall's ([`super::stats::judge_below`] against `threshold`, 1%): pass iff the upper bound is
//!   at most the threshold, fail iff the lower bound is above it.
//! * `dipart` and `gridpg`: head j sees beyond cell j through the receptive field (DiPart), or
//!   every cell (GridPG), so there is no exact answer; verdict on the mean score against 1/2
//!   ([`super::stats::judge_above`]): pass iff the lower bound is above it (most of the map on
//!   the cell whose class is explained, more than on the three others together), fail iff the
//!   upper bound is at or below it. Chance is 1/4.
//!
//! The blurred random map ([`crate::cam::random_map::RandomMap`]) runs beside the methods under
//! the same rule as the negative control (its share is 1/4 in expectation, so it must fail);
//! until it fails every verdict is inconclusive ([`super::controls::apply`]).
use super::stats::{judge_above, judge_below, percent, Threshold};
use super::{controls, Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::random_map::RandomMap;
use crate::cam::CamMethod;
use crate::error::{Error, Result};
use crate::io::number::{fixed, pct};
use crate::model::grid::{quadrants, stitch, Grid, Layout, CELLS};
use crate::model::SplitModel;
use crate::seed::streams;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Default pass threshold of `difull` on the upper bound of the mean share outside the cell.
pub const THRESHOLD: f64 = 0.01;
/// What the mean share must rise above in `dipart` and `gridpg`: a majority.
const MAJORITY: Threshold = Threshold {
    value: 0.5,
    inclusive: false,
};

/// DiFull: each cell through its own copy of the network to its own head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DiFullCheck {
    /// The model (each cell's network) and its images (the cells).
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Pass threshold on the upper bound of the mean share outside the cell (0.01 = 1%).
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
}

impl Default for DiFullCheck {
    fn default() -> Self {
        DiFullCheck {
            subject: Subject::default(),
            threshold: THRESHOLD,
        }
    }
}

/// DiPart: shared features on the whole grid, each head reading its own quadrant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DiPartCheck {
    /// The model and its images (the cells).
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
}

/// GridPG: one classifier on the whole grid.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct GridPgCheck {
    /// The model and its images (the cells).
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
}

/// A grid check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridFindings {
    pub detail: GridDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridDetail {
    /// The mean share of the map inside the explained cell (chance: 1/4).
    pub share: f64,
    /// The threshold of the verdict: on the share outside (DiFull) or on the share (else).
    pub threshold: f64,
    /// Whether the verdict is on the share outside the cell (DiFull's exact answer).
    pub outside: bool,
    /// Grids made (the samples).
    pub grids: i64,
    /// Images left out of every grid (no three others of distinct classes left).
    pub unused: i64,
    /// (grid, cell) maps that were all zero (scored 0).
    pub undefined: i64,
    pub model: String,
    pub data: String,
}

impl super::CheckFindings for GridFindings {
    /// The merge's audit: the verdict the one-sided bounds give against the threshold, below it
    /// passing for DiFull's share outside, above it for the others' share.
    fn audit(
        &self,
        result: &CheckResult,
        control: &super::ErrorControl,
    ) -> std::result::Result<(), String> {
        match self.detail.outside {
            true => {
                let bar = Threshold {
                    value: self.detail.threshold,
                    inclusive: true,
                };
                super::audit::below_threshold(result, bar, control)
            }
            false => super::audit::above_threshold(result, MAJORITY, control),
        }
    }

    fn badge_label(&self, check: &str) -> Option<String> {
        super::result::badge_check_model(check, &self.detail.model)
    }
}

/// The grids of `classes` (one per image, in order): image indices, four per grid, of distinct
/// classes each, greedily in order (module doc).
pub fn grids(classes: &[i64]) -> Vec<[usize; 4]> {
    let mut pool: Vec<usize> = (0..classes.len()).collect();
    let mut out = Vec::new();
    loop {
        let mut cells: Vec<usize> = Vec::with_capacity(4);
        for &i in &pool {
            if cells.len() < 4 && cells.iter().all(|&j| classes[j] != classes[i]) {
                cells.push(i);
            }
        }
        let Ok(cells) = <[usize; 4]>::try_from(cells) else {
            return out;
        };
        pool.retain(|i| !cells.contains(i));
        out.push(cells);
    }
}

/// Per (grid, cell), the share of `maps` \[4G, 2h, 2w\] (grid-major) inside the cell, \[G, 4\],
/// and how many maps were all zero.
pub fn shares(maps: &Tensor) -> (Tensor, i64) {
    let (n4, h2, w2) = (maps.size()[0], maps.size()[1], maps.size()[2]);
    let maps = maps.to_device(Device::Cpu).to_kind(Kind::Double);
    let total = maps.sum_dim_intlist([1, 2].as_slice(), false, Kind::Double);
    // Cell sums: each map's quadrants, [4G, 4]; map m explains cell m mod 4 of its grid.
    let cells = quadrants(&maps.view([n4, 1, h2, w2]))
        .sum_dim_intlist([1, 2, 3].as_slice(), false, Kind::Double)
        .view([n4, CELLS]);
    let cell = Tensor::arange(n4, (Kind::Int64, Device::Cpu)).remainder(CELLS);
    let inside = cells.gather(1, &cell.unsqueeze(1), false).squeeze_dim(1);
    let zero = total.eq(0.0);
    let undefined = zero.sum(Kind::Int64).int64_value(&[]);
    let share = (inside / total.clamp_min(f64::MIN_POSITIVE)).masked_fill(&zero, 0.0);
    (share.view([n4 / CELLS, CELLS]), undefined)
}

/// The grids of a check's images: each grid four times (one per explained cell, grid-major) and
/// the class each copy explains.
struct Prepared {
    /// \[4G, C, 2H, 2W\].
    images: Tensor,
    /// \[4G\]: the output index of the explained cell's predicted class.
    targets: Tensor,
    grids: i64,
    unused: i64,
}

/// The predicted class of every image, its grids and their copies (module doc); an error when
/// fewer than two grids can be made.
fn prepare(
    check: &str,
    subject: &Subject,
    model: &dyn SplitModel,
    x: &Tensor,
    layout: Layout,
    ctx: &CheckContext,
) -> Result<Prepared> {
    let batch = subject.batch_size;
    let mut logits = Vec::new();
    for start in (0..x.size()[0]).step_by(batch as usize) {
        let chunk = x.narrow(0, start, batch.min(x.size()[0] - start));
        logits.push(tch::no_grad(|| model.forward(&chunk))?.to_device(Device::Cpu));
    }
    let logits = Tensor::cat(&logits, 0);
    let classes = Vec::<i64>::try_from(logits.argmax(1, false)).expect("classes");
    let made = grids(&classes);
    let g = made.len() as i64;
    if g < 2 {
        return Err(Error::input(
            format!(
                "{check} needs at least 2 grids of four images of four different predicted \
                 classes, and the {} images give {g}",
                classes.len()
            ),
            format!("the data {} on {}", subject.data.describe(&ctx.seeds), model.name()),
            "give more images (at least 8), of at least four classes the model predicts",
        ));
    }
    let order: Vec<i64> = made.iter().flatten().map(|&i| i as i64).collect();
    let cells = x.index_select(0, &Tensor::from_slice(&order).to_device(x.device()));
    let grid_images = stitch(&cells);
    let (c, h2, w2) = (cells.size()[1], grid_images.size()[2], grid_images.size()[3]);
    let images = grid_images
        .unsqueeze(1)
        .expand([g, CELLS, c, h2, w2], false)
        .reshape([g * CELLS, c, h2, w2]);
    let cell_classes: Vec<i64> = order.iter().map(|&i| classes[i as usize]).collect();
    let cell_classes = Tensor::from_slice(&cell_classes);
    let cell = Tensor::arange(g * CELLS, (Kind::Int64, Device::Cpu)).remainder(CELLS);
    let targets = match layout {
        Layout::DiFull | Layout::DiPart => cell_classes + cell * logits.size()[1],
        Layout::GridPg => cell_classes,
    };
    Ok(Prepared {
        images,
        targets,
        grids: g,
        unused: classes.len() as i64 - g * CELLS,
    })
}

/// The verdict on one method's per-grid shares: on the share outside against `threshold` when
/// `outside` (DiFull), else on the share against the majority; with its reason.
fn judge(
    per_grid: Vec<f64>,
    outside: bool,
    threshold: f64,
    alpha: f64,
) -> (Verdict, super::stats::Summary, Vec<f64>, String) {
    let (verdict, s, values) = match outside {
        true => {
            let values: Vec<f64> = per_grid.iter().map(|v| 1.0 - v).collect();
            let bar = Threshold {
                value: threshold,
                inclusive: true,
            };
            let (verdict, s) = judge_below(&values, alpha, bar);
            (verdict, s.within(0.0, 1.0), values)
        }
        false => {
            let (verdict, s) = judge_above(&per_grid, alpha, MAJORITY);
            (verdict, s.within(0.0, 1.0), per_grid)
        }
    };
    let (lo, hi) = (fixed(s.ci_low, 3), fixed(s.ci_high, 3));
    let what = match outside {
        true => "share outside the cell",
        false => "share in the cell",
    };
    let reason = match (outside, verdict) {
        (true, Verdict::Pass) | (false, Verdict::Fail) => {
            format!("{what}: upper bound {hi} <= {threshold}")
        }
        (true, Verdict::Fail) | (false, Verdict::Pass) => {
            format!("{what}: lower bound {lo} > {threshold}")
        }
        _ => format!("{what}: bounds {lo}..{hi} straddle {threshold}"),
    };
    (verdict, s, values, reason)
}

/// Any grid check's run (module doc); `threshold` is DiFull's, or the majority for the others.
fn run(
    check: &'static str,
    subject: &Subject,
    layout: Layout,
    threshold: f64,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let model = subject.open(ctx)?;
    let x = subject.images(model.as_ref(), ctx)?.to_device(ctx.device);
    let prepared = prepare(check, subject, model.as_ref(), &x, layout, ctx)?;
    let grid = Grid::new(model.as_ref(), layout);
    let control: Vec<Box<dyn CamMethod>> = vec![Box::new(RandomMap {
        seed: ctx.stream(streams::RANDOM_MAP).seed(),
        symmetric: false,
    })];
    let alpha = ctx.alpha();
    let outside = layout == Layout::DiFull;
    let rule = match outside {
        true => format!(
            "pass iff the one-sided upper Student-t bound ({} per side) of the mean share of the \
             map outside the explained cell (over grids; the model cannot see there) is <= {}; \
             fail iff the lower bound is > {}; inconclusive otherwise",
            percent(1.0 - alpha),
            pct(threshold, 2),
            pct(threshold, 2)
        ),
        false => format!(
            "pass iff the one-sided lower Student-t bound ({} per side) of the mean share of the \
             map inside the explained cell (over grids; chance 1/4) is > 1/2; fail iff the upper \
             bound is <= 1/2; inconclusive otherwise",
            percent(1.0 - alpha)
        ),
    };
    let statistic = match outside {
        true => "mean share of the map outside the explained cell",
        false => "mean share of the map inside the explained cell",
    };
    let mut results = Vec::new();
    for method in controls::with_controls(methods, &control) {
        let (images, targets) = (&prepared.images, Some(&prepared.targets));
        let e = ctx.explain(method, &grid, images, targets, subject.batch_size)?;
        let (share, undefined) = shares(&e.feature_maps());
        let per_grid = share.mean_dim(1, false, Kind::Double);
        let per_grid = Vec::<f64>::try_from(per_grid).expect("shares");
        let mean_share = per_grid.iter().sum::<f64>() / prepared.grids as f64;
        let (verdict, s, values, reason) = judge(per_grid, outside, threshold, alpha);
        let detail = GridDetail {
            share: mean_share,
            threshold,
            outside,
            grids: prepared.grids,
            unused: prepared.unused,
            undefined,
            model: grid.name(),
            data: subject.data.describe(&ctx.seeds),
        };
        results.push(CheckResult {
            reason,
            statistic: statistic.into(),
            rule: rule.clone(),
            per_sample: values.into_iter().map(Some).collect(),
            ..CheckResult::new(check, method, verdict, s, Findings::new(GridFindings { detail }))
        });
    }
    Ok(Outcome::new(controls::apply(results, control.len())))
}

impl Check for DiFullCheck {
    const NAME: &'static str = "difull";
    const ABOUT: &'static str = "DiFull (Rao et al. 2022): a 2x2 grid, each cell through its own \
                                 copy of the model; nothing outside the explained cell can matter";
    type Findings = GridFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, 0.0, 1.0, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        run(Self::NAME, &self.subject, Layout::DiFull, self.threshold, methods, ctx)
    }
}

impl Check for DiPartCheck {
    const NAME: &'static str = "dipart";
    const ABOUT: &'static str = "DiPart (Rao et al. 2022): a 2x2 grid through shared features, \
                                 each cell's head reading its own quadrant";
    type Findings = GridFindings;

    super::plugin::image_check_methods!(subject);

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        run(Self::NAME, &self.subject, Layout::DiPart, MAJORITY.value, methods, ctx)
    }
}

impl Check for GridPgCheck {
    const NAME: &'static str = "gridpg";
    const ABOUT: &'static str = "GridPG (Rao et al. 2022): a 2x2 grid of four classes through one \
                                 classifier; is the map on the explained class's cell?";
    type Findings = GridFindings;

    super::plugin::image_check_methods!(subject);

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        run(Self::NAME, &self.subject, Layout::GridPg, MAJORITY.value, methods, ctx)
    }
}
