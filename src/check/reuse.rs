//! Explanations computed once per run: several checks explain the same images on the same model
//! with the same targets (input and implementation invariance explain the trained model's
//! predicted class on the same 16 images; class sensitivity and data randomization on the same
//! 32), and the [`CheckContext`](super::CheckContext) answers the second request from memory.
//!
//! Exact by construction: a request is answered only when everything the explanation depends on
//! is byte for byte what was recorded — the method's name (unique in a run) and title (the other
//! sign of a sign-ambiguous method has the name and its own title), the batch size (a
//! batch's composition can move float32 sums by a rounding), the images and targets, and the
//! model's identity by content: its architecture (which names any wrapper's parameters: a wall's
//! rows, a shift, a reparameterisation) and every tensor of its state, parameters and buffers,
//! at their current values (a check that randomizes weights in place gets a new key). A model
//! that cannot state its architecture and is not a TorchScript file itself (a wrapper around
//! one) is never remembered. Answers are copies, so a check that writes into its maps cannot
//! change what another receives. Recording stops at its memory budget (the run's budget / 8).
//! By hand rather than from a crate: the key is the content of libtorch tensors.
use crate::cam::{explain_batched, CamMethod, Explanation};
use crate::error::Result;
use crate::model::SplitModel;
use std::collections::HashMap;
use std::sync::Mutex;
use tch::{Device, Tensor};

/// The explanations of a run, by what they depend on.
#[derive(Default)]
pub struct Explanations {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Stored>,
    bytes: u128,
    hits: u64,
}

/// One remembered explanation, its tensors on the CPU.
struct Stored {
    raw: Tensor,
    maps: Tensor,
    targets: Tensor,
    logits: Tensor,
    reading: crate::cam::Reading,
}

impl std::fmt::Debug for Explanations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        write!(
            f,
            "Explanations({} remembered, {} answered)",
            state.entries.len(),
            state.hits
        )
    }
}

impl Explanations {
    /// `method`'s explanation of `x` on `model` ([`explain_batched`]), answered from memory when
    /// the same request was computed before in this run.
    pub fn explain(
        &self,
        method: &dyn CamMethod,
        model: &dyn SplitModel,
        x: &Tensor,
        targets: Option<&Tensor>,
        batch_size: i64,
    ) -> Result<Explanation> {
        let Some(key) = key(method, model, x, targets, batch_size) else {
            return explain_batched(method, model, x, targets, batch_size);
        };
        {
            let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(stored) = state.entries.get(&key) {
                let device = x.device();
                let answer = Explanation {
                    raw: stored.raw.to_device(device).copy(),
                    maps: stored.maps.to_device(device).copy(),
                    targets: stored.targets.to_device(device).copy(),
                    logits: stored.logits.to_device(device).copy(),
                    reading: stored.reading,
                };
                state.hits += 1;
                return Ok(answer);
            }
        }
        let e = explain_batched(method, model, x, targets, batch_size)?;
        let stored = Stored {
            raw: e.raw.to_device(Device::Cpu).copy(),
            maps: e.maps.to_device(Device::Cpu).copy(),
            targets: e.targets.to_device(Device::Cpu).copy(),
            logits: e.logits.to_device(Device::Cpu).copy(),
            reading: e.reading,
        };
        let bytes = [&stored.raw, &stored.maps, &stored.targets, &stored.logits]
            .iter()
            .map(|t| t.numel() as u128 * t.kind().elt_size_in_bytes() as u128)
            .sum::<u128>();
        let budget = crate::limits::memory_budget()? as u128 / 8;
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if state.bytes + bytes <= budget {
            state.bytes += bytes;
            state.entries.insert(key, stored);
        }
        Ok(e)
    }

    /// How many requests were answered from memory.
    pub fn hits(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).hits
    }
}

/// What an explanation depends on, as one string (module doc); None for a model whose identity
/// cannot be stated.
fn key(
    method: &dyn CamMethod,
    model: &dyn SplitModel,
    x: &Tensor,
    targets: Option<&Tensor>,
    batch_size: i64,
) -> Option<String> {
    let (architecture, state) = match model.architecture() {
        Some((arch, state)) => (arch.to_string(), state),
        None if model.as_torchscript().is_some() => {
            let state = model
                .parameter_groups()
                .ok()?
                .into_iter()
                .flat_map(|g| g.parameters)
                .collect();
            (String::from("torchscript"), state)
        }
        None => return None,
    };
    let mut bytes = Vec::new();
    let mut add = |t: &Tensor| {
        let t = t.to_device(Device::Cpu).contiguous();
        let size = t.size();
        bytes.extend(format!("{:?}{size:?}", t.kind()).into_bytes());
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut data, numel);
        bytes.extend(data);
    };
    for (name, t) in &state {
        add(&Tensor::from_slice(name.as_bytes()));
        add(t);
    }
    add(x);
    if let Some(targets) = targets {
        add(targets);
    }
    let content = crate::io::sha256(&bytes);
    Some(format!(
        "{}\u{0}{}\u{0}{}\u{0}{architecture}\u{0}{batch_size}\u{0}{}\u{0}{content}",
        method.name(),
        method.title(),
        model.name(),
        targets.is_some()
    ))
}
