//! Where a run's time went (report.json's `timing`): each check's wall time and, inside it, each
//! method's own time, calls and images.
//!
//! A method's time is the time spent inside its [`CamMethod::raw_map`] (both signs of a
//! sign-ambiguous method together), measured by the [`Metered`] wrapper the runner puts around
//! every method it hands a check. What the pipeline shares between methods (the features, the
//! backward through the head), the negative controls and the statistics are the check's time
//! outside its methods ([`CheckTime::shared_seconds`]).
//!
//! Measured, so it differs between runs and machines: `timing` is the one part of a report
//! outside the reproducibility promise (docs/precision.md), and every comparison of reports
//! leaves it out ([`super::Report::without_timing`]).
use crate::cam::{CamContext, CamMethod, Origin};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;
use tch::Tensor;

/// Where a run's time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall seconds of the checks (for a merge: the sum over the shards).
    pub seconds: f64,
    /// One entry per check run (per shard's part of a split check before a merge), in run order.
    pub checks: Vec<CheckTime>,
}

/// One check's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckTime {
    /// The check's position in the suite (as in `checks[].index`).
    pub index: usize,
    /// The check's name (`wall`).
    pub check: String,
    /// Wall seconds of the check, its looks included.
    pub seconds: f64,
    /// The methods the check called, in the run's method order (those it never called are left
    /// out).
    pub methods: Vec<MethodTime>,
}

/// One method's time inside one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodTime {
    /// The method's name (`gradcam`).
    pub method: String,
    /// Seconds inside the method's raw map, both signs.
    pub seconds: f64,
    /// Raw-map calls (batches), both signs.
    pub calls: u64,
    /// Images explained, both signs.
    pub images: u64,
}

impl CheckTime {
    /// The check's seconds outside its methods: the shared forwards and backwards, the controls,
    /// the statistics.
    pub fn shared_seconds(&self) -> f64 {
        let methods: f64 = self.methods.iter().map(|m| m.seconds).sum();
        (self.seconds - methods).max(0.0)
    }
}

impl Timing {
    /// Adds the time of another run of the same suite (a shard) to this one: a check's entries
    /// stay one per shard, in the order the shards are given.
    pub fn absorb(&mut self, other: &Timing) {
        self.seconds += other.seconds;
        self.checks.extend(other.checks.iter().cloned());
        self.checks.sort_by_key(|c| c.index);
    }

    /// The `count` (check, method) pairs that took longest, slowest first, with their seconds:
    /// the method's own time; a check's time outside its methods is one more pair, with the
    /// method `None`.
    pub fn slowest(&self, count: usize) -> Vec<(&str, Option<&str>, f64)> {
        let mut pairs: Vec<(&str, Option<&str>, f64)> = Vec::new();
        for check in &self.checks {
            for method in &check.methods {
                pairs.push((&check.check, Some(&method.method), method.seconds));
            }
            pairs.push((&check.check, None, check.shared_seconds()));
        }
        pairs.sort_by(|a, b| b.2.total_cmp(&a.2));
        pairs.truncate(count);
        pairs
    }
}

/// One method's running totals.
#[derive(Debug, Default)]
pub struct Meter {
    seconds: Cell<f64>,
    calls: Cell<u64>,
    images: Cell<u64>,
}

impl Meter {
    /// The totals so far: (seconds, calls, images).
    pub fn read(&self) -> (f64, u64, u64) {
        (self.seconds.get(), self.calls.get(), self.images.get())
    }
}

/// A method that adds the time of every raw map it computes to its [`Meter`]; otherwise the
/// method itself.
pub struct Metered {
    inner: Rc<dyn CamMethod>,
    meter: Rc<Meter>,
}

impl Metered {
    /// `inner`, metered by `meter`.
    pub fn new(inner: Rc<dyn CamMethod>, meter: Rc<Meter>) -> Self {
        Metered { inner, meter }
    }
}

impl CamMethod for Metered {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn title(&self) -> &str {
        self.inner.title()
    }
    fn summary(&self) -> &str {
        self.inner.summary()
    }
    fn uses_gradients(&self) -> bool {
        self.inner.uses_gradients()
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let start = Instant::now();
        let raw = self.inner.raw_map(ctx);
        let meter = &self.meter;
        meter
            .seconds
            .set(meter.seconds.get() + start.elapsed().as_secs_f64());
        meter.calls.set(meter.calls.get() + 1);
        let images = ctx.input.size().first().copied().unwrap_or(0).max(0) as u64;
        meter.images.set(meter.images.get() + images);
        raw
    }
    fn sign_ambiguous(&self) -> bool {
        self.inner.sign_ambiguous()
    }
    fn origin(&self) -> Origin {
        self.inner.origin()
    }
    fn reference(&self) -> Option<&str> {
        self.inner.reference()
    }
    fn captum_reference(&self) -> Option<&str> {
        self.inner.captum_reference()
    }
    fn reading(&self) -> crate::cam::Reading {
        self.inner.reading()
    }
    fn family(&self) -> crate::cam::Family {
        self.inner.family()
    }
    fn requires_steps(&self) -> bool {
        self.inner.requires_steps()
    }
}

/// Times the checks of a run: a check's wall time, and each method's share as the change of its
/// meter over the check.
pub struct Stopwatch {
    names: Vec<String>,
    meters: Vec<Rc<Meter>>,
    start: Instant,
    timing: Timing,
}

impl Stopwatch {
    /// A stopwatch over the methods' meters (one per method, in the run's method order).
    pub fn new(names: Vec<String>, meters: Vec<Rc<Meter>>) -> Self {
        Stopwatch {
            names,
            meters,
            start: Instant::now(),
            timing: Timing::default(),
        }
    }

    /// Runs `work`, the check `check` at suite position `index`, and records its time.
    pub fn time<T>(&mut self, index: usize, check: &str, work: impl FnOnce() -> T) -> T {
        let before: Vec<_> = self.meters.iter().map(|m| m.read()).collect();
        let start = Instant::now();
        let out = work();
        let seconds = start.elapsed().as_secs_f64();
        let methods = self
            .names
            .iter()
            .zip(&self.meters)
            .zip(before)
            .filter_map(|((name, meter), (s0, c0, i0))| {
                let (s1, c1, i1) = meter.read();
                (c1 > c0).then(|| MethodTime {
                    method: name.clone(),
                    seconds: rounded(s1 - s0),
                    calls: c1 - c0,
                    images: i1 - i0,
                })
            })
            .collect();
        self.timing.checks.push(CheckTime {
            index,
            check: check.to_string(),
            seconds: rounded(seconds),
            methods,
        });
        out
    }

    /// The timing of every check timed, with the wall time since the stopwatch was made.
    pub fn finish(mut self) -> Timing {
        self.timing.seconds = rounded(self.start.elapsed().as_secs_f64());
        self.timing
    }
}

/// Seconds to the tenth of a millisecond (what a wall clock resolves across runs).
fn rounded(seconds: f64) -> f64 {
    (seconds * 1e4).round() / 1e4
}
