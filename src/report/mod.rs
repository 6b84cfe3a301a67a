//! Reports: the JSON document every check writes (schema in docs/report-schema.md) and the
//! terminal table for humans.
pub mod table;

use crate::check::CheckResult;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of report.json; bumped when a field changes meaning.
pub const SCHEMA: &str = "blindspot-report/1";

/// One check as it was run: its name and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub check: String,
    pub params: serde_json::Value,
}

/// A run's report: every result of every check, with what produced it. Contains no timing, so
/// the same suite and seed give byte-identical JSON on the same machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub blindspot: String,
    /// `wall`, `theorem`, `randomization`, … for one check; `suite:NAME` for a suite.
    pub check: String,
    pub seed: u64,
    pub device: String,
    pub checks: Vec<CheckRun>,
    pub results: Vec<CheckResult>,
}

impl Report {
    pub fn new(check: String, seed: u64, device: tch::Device) -> Self {
        Report {
            schema: SCHEMA.into(),
            blindspot: env!("CARGO_PKG_VERSION").into(),
            check,
            seed,
            device: crate::device::device_name(device),
            checks: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Pretty JSON with a final newline. Non-finite numbers never occur: checks store undefined
    /// values as null.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("reports serialise");
        text.push('\n');
        text
    }

    /// Writes the JSON atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }

    /// Whether any result failed or errored.
    pub fn any_failure(&self) -> bool {
        self.results.iter().any(|r| r.verdict != crate::check::Verdict::Pass)
    }
}
