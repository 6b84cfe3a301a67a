//! What a model that wraps another shares: the wrapped model, borrowed from the check or owned
//! (a float64 copy of it), and how a wrapper states its architecture for
//! `python/export_builtin.py` (input invariance's [`super::shift::Shifted`], implementation
//! invariance's [`super::reparam::Reparameterised`]).
use super::SplitModel;
use tch::Tensor;

/// The model a wrapper computes through.
pub enum Wrapped<'a> {
    /// The model a check opened.
    Borrowed(&'a dyn SplitModel),
    /// A copy the wrapper made of it ([`SplitModel::to_double`]).
    Owned(Box<dyn SplitModel>),
}

impl Wrapped<'_> {
    /// The wrapped model.
    pub fn get(&self) -> &dyn SplitModel {
        match self {
            Wrapped::Borrowed(model) => *model,
            Wrapped::Owned(model) => model.as_ref(),
        }
    }
}

/// A wrapper's architecture: `fields` (its `kind` and parameters) around the wrapped model's
/// architecture under `inner`, with the wrapped model's state. A built-in architecture (plain or
/// walled) rebuilds this way; a TorchScript model inside cannot be rebuilt (None), so an external
/// method is refused on the wrapper with a message.
pub fn architecture(
    inner: &dyn SplitModel,
    mut fields: serde_json::Value,
) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
    if inner.as_torchscript().is_some() || inner.inner_torchscript().is_some() {
        return None;
    }
    let (arch, state) = inner.architecture()?;
    fields["inner"] = arch;
    Some((fields, state))
}
