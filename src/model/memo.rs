//! Remembered features: re-run only what changed.
//!
//! When a check replaces only layers that `head` reads ([`super::ParameterGroup::head_only`]:
//! model randomization of the output layer, the first step of a cascade), `features` computes
//! exactly what it computed for the trained model, call for call: the pipeline's forward of the
//! images, and every masked input a perturbation method scores (ScoreCAM's masks are built from
//! the explained layer's activations, which did not change). [`FeatureMemo`] records the trained
//! model's calls and answers the same calls again from memory, so a draw runs the head only.
//!
//! Exact by construction: a call is answered from memory only when its input equals, element for
//! element ([`Tensor::equal`]: same shape, kind, device and values), the input recorded at the
//! same position of the call sequence; any other call is computed. A call whose input requires a
//! gradient (Opti-CAM's optimisation) is always computed, and never recorded. What is recorded
//! and answered are copies, so a method that writes into its activations cannot change what a
//! later draw receives. Recording stops at its memory budget; the calls past it are computed.
//! Written here rather than taken from a crate: the cache is keyed by tensors of libtorch.
use super::{ParameterGroup, SplitModel};
use crate::error::Result;
use std::cell::RefCell;
use tch::{Device, Tensor};

/// What [`FeatureMemo::features`] does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Computes it (the model's `features` changed, or nothing was recorded).
    Off,
    /// Computes it and remembers the input and the activations.
    Record,
    /// Answers the k-th call with the k-th recorded activations when its input equals the k-th
    /// recorded input; computes it otherwise.
    Replay,
}

struct State {
    mode: Mode,
    /// (input, activations), in call order.
    calls: Vec<(Tensor, Tensor)>,
    /// The next recorded call a replayed call is compared with.
    cursor: usize,
    bytes: u128,
    budget: u128,
    /// The budget was reached: nothing more is recorded (a later call would be recorded at the
    /// wrong position of the sequence).
    full: bool,
    /// Replayed calls answered from memory, and computed.
    hits: usize,
    misses: usize,
}

/// `inner` with its `features` calls recorded and replayed (see the module doc); `head` and
/// everything else are `inner`'s.
pub struct FeatureMemo<'a> {
    inner: &'a dyn SplitModel,
    state: RefCell<State>,
}

impl<'a> FeatureMemo<'a> {
    /// A memo of `inner`'s features holding at most `budget` bytes of inputs and activations;
    /// it starts [`Mode::Off`].
    pub fn new(inner: &'a dyn SplitModel, budget: u128) -> Self {
        FeatureMemo {
            inner,
            state: RefCell::new(State {
                mode: Mode::Off,
                calls: Vec::new(),
                cursor: 0,
                bytes: 0,
                budget,
                full: false,
                hits: 0,
                misses: 0,
            }),
        }
    }

    /// Forgets what was recorded and records the calls from now on.
    pub fn record(&self) {
        let mut state = self.state.borrow_mut();
        state.calls.clear();
        state.bytes = 0;
        state.full = false;
        state.mode = Mode::Record;
    }

    /// Answers the calls from now on from the recording, from its first call.
    pub fn replay(&self) {
        let mut state = self.state.borrow_mut();
        state.cursor = 0;
        state.mode = Mode::Replay;
    }

    /// Computes every call from now on (the recording is kept for a later [`Self::replay`]).
    pub fn off(&self) {
        self.state.borrow_mut().mode = Mode::Off;
    }

    /// Replayed calls answered from memory and computed, so far.
    #[cfg(feature = "internals")]
    pub fn hits_and_misses(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.hits, state.misses)
    }

    /// The mode for a step whose replaced layers are `changed`: replay when only `head` reads
    /// every one of them, off otherwise.
    pub fn follow(&self, changed: &[&ParameterGroup]) {
        match changed.iter().all(|g| g.head_only) {
            true => self.replay(),
            false => self.off(),
        }
    }
}

/// The activations of a replayed call, when its input is the recorded one.
fn recorded(state: &mut State, x: &Tensor) -> Option<Tensor> {
    let (input, activations) = state.calls.get(state.cursor)?;
    let same = input.size() == x.size()
        && input.kind() == x.kind()
        && input.device() == x.device()
        && input.equal(x);
    same.then(|| activations.copy())
}

impl SplitModel for FeatureMemo<'_> {
    fn name(&self) -> String {
        self.inner.name()
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
    fn peak_bytes(&self, n: i64, height: i64, width: i64) -> Option<u128> {
        self.inner.peak_bytes(n, height, width)
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mode = self.state.borrow().mode;
        if mode == Mode::Off || x.requires_grad() {
            return self.inner.features(x);
        }
        if mode == Mode::Replay {
            let mut state = self.state.borrow_mut();
            let answer = recorded(&mut state, x);
            state.cursor += 1;
            match answer {
                Some(a) => {
                    state.hits += 1;
                    return Ok(a);
                }
                None => state.misses += 1,
            }
            drop(state);
            return self.inner.features(x);
        }
        let a = self.inner.features(x)?;
        let mut state = self.state.borrow_mut();
        let bytes = (x.numel() * x.kind().elt_size_in_bytes()
            + a.numel() * a.kind().elt_size_in_bytes()) as u128;
        if !state.full && state.bytes + bytes <= state.budget {
            state.bytes += bytes;
            state.calls.push((x.detach().copy(), a.detach().copy()));
        } else {
            state.full = true;
        }
        Ok(a)
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        self.inner.head(a)
    }
    fn to_grid(&self, layer: &Tensor) -> Result<Tensor> {
        self.inner.to_grid(layer)
    }
    fn tokens(&self) -> bool {
        self.inner.tokens()
    }
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        self.inner.parameter_groups()
    }
    fn as_torchscript(&self) -> Option<&tch::CModule> {
        self.inner.as_torchscript()
    }
    fn inner_torchscript(&self) -> Option<&tch::CModule> {
        self.inner.inner_torchscript()
    }
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        self.inner.architecture()
    }
    fn sha256(&self) -> Option<String> {
        self.inner.sha256()
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        self.inner.to_double()
    }
    fn steps(&self) -> Option<super::Steps<'_>> {
        self.inner.steps()
    }
}
