//! A method as a shard report records it: its names, where it comes from and whether it is
//! sign-ambiguous — everything a merge needs to decide and label its verdicts, nothing that
//! computes a map. `blindspot merge` cannot rebuild a method (an external command or a user's
//! Rust code may not exist where the merge runs), and needs none: the shards computed the maps.
use super::{CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// The identity of a method: what a shard writes and a merge reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodRecord {
    pub name: String,
    pub title: String,
    pub summary: String,
    /// `builtin`, `code`, or the external method's `--external` spec.
    pub origin: RecordedOrigin,
    pub sign_ambiguous: bool,
}

/// [`Origin`] as it travels in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordedOrigin {
    BuiltIn,
    External(String),
    Code,
}

impl MethodRecord {
    /// The record of `method`.
    pub fn of(method: &dyn CamMethod) -> MethodRecord {
        MethodRecord {
            name: method.name().into(),
            title: method.title().into(),
            summary: method.summary().into(),
            origin: match method.origin() {
                Origin::BuiltIn => RecordedOrigin::BuiltIn,
                Origin::External(spec) => RecordedOrigin::External(spec),
                _ => RecordedOrigin::Code,
            },
            sign_ambiguous: method.sign_ambiguous(),
        }
    }
}

/// A recorded method: labels verdicts like the method it records, refuses to compute.
#[derive(Debug, Clone)]
pub struct Recorded(pub MethodRecord);

impl CamMethod for Recorded {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn title(&self) -> &str {
        &self.0.title
    }
    fn summary(&self) -> &str {
        &self.0.summary
    }
    fn raw_map(&self, _ctx: &CamContext) -> Result<Tensor> {
        Err(Error::input(
            format!(
                "`{}` is a method recorded in a shard report: it has no maps",
                self.0.name
            ),
            "blindspot merge",
            "compute maps in `blindspot run --shard K/N`; a merge only decides verdicts",
        ))
    }
    fn sign_ambiguous(&self) -> bool {
        self.0.sign_ambiguous
    }
    fn origin(&self) -> Origin {
        match &self.0.origin {
            RecordedOrigin::BuiltIn => Origin::BuiltIn,
            RecordedOrigin::External(spec) => Origin::External(spec.clone()),
            RecordedOrigin::Code => Origin::Code,
        }
    }
}
