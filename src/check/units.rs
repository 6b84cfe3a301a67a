//! Work units: the independent pieces of a check (the cases of a property) that a sharded run
//! hands to different machines. A shard runs its units and writes their evidence; the merge
//! pools the evidence of every unit and lets the check decide its verdicts once, under the whole
//! run's family-wise error. An unsharded run takes the same path — every unit, then the same
//! decision — so a merged report equals the unsharded one byte for byte (docs/sharding.md).
//!
//! A check splits in one of two ways ([`Split`]): into units of its own (the cases of a
//! property), or, for the image checks whose methods' results do not depend on one another, by
//! method (each method, with both its signs and its looks, is a unit).
//!
//! Which shard runs what: the run's work items are listed in suite order, every unit of a split
//! check one item and every other check one item, and item j goes to shard (j mod N) + 1. Each
//! unit draws from streams of (run seed, check, unit) alone, so its evidence never depends on
//! the shard that ran it.
use super::Verdict;
use crate::cam::recorded::MethodRecord;
use serde::{Deserialize, Serialize};

/// What one shard found for one split check: its units' evidence, with what the merge needs to
/// rebuild the check and label its verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The check's position in the suite.
    pub index: usize,
    pub check: String,
    /// The check's parameters, as the unsharded report lists them.
    pub params: serde_json::Value,
    /// What a unit is: one of the check's own units, or one method.
    pub split: Split,
    /// How many units the whole check has (every shard must agree).
    pub units: usize,
    /// The methods the check was run on, in order (before their negations).
    pub methods: Vec<MethodRecord>,
    /// The suite's expectations for this check: (method or `*`, verdict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<(String, Verdict)>,
    /// This shard's units, ascending, each with the check's own encoding of what it found.
    pub records: Vec<UnitRecord>,
}

/// How a check splits into units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The check's own units ([`super::Check::units`]): its evidence is the check's encoding,
    /// and the check decides from every unit's ([`super::Check::decide`]).
    Units,
    /// One unit per method ([`super::Check::split_by_method`]): its evidence is the method's
    /// results, decided on the shard at the run's per-verdict error; the merge audits them
    /// ([`super::audit`]) and puts them in method order.
    Methods,
}

/// One unit's evidence, in the check's own encoding ([`super::Check::run_units`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRecord {
    pub unit: usize,
    pub evidence: serde_json::Value,
}

/// Which work items shard `k` of `n` runs: item j iff j mod n = k − 1 (no shard: all).
pub fn mine(item: usize, shard: Option<(usize, usize)>) -> bool {
    shard.is_none_or(|(k, n)| item % n == k - 1)
}

/// The expected verdict of `method` among a check's expectations (its own name, else `*`).
pub fn expectation(expect: &[(String, Verdict)], method: &str) -> Option<Verdict> {
    let find = |who: &str| expect.iter().find(|(m, _)| m == who).map(|e| e.1);
    find(method).or_else(|| find("*"))
}
