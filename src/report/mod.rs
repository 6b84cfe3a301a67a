//! Reports: the JSON document every check writes (schema in docs/report-schema.md) and the
//! terminal table for humans.
pub mod badge;
pub mod figures;
mod font;
pub mod junit;
pub mod markdown;
pub mod table;

use crate::check::CheckResult;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of report.json; bumped when a field changes meaning.
pub const SCHEMA: &str = "blindspot-report/1";

/// One check as it was run: its name and parameters, its position in the suite and how many
/// results it produced (so shard reports can be merged back in suite order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub check: String,
    pub params: serde_json::Value,
    pub index: usize,
    pub results: usize,
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
    /// `K/N` for a shard report (absent once merged or when unsharded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Report {
    /// Merges shard reports of one suite back into the report the whole suite would give.
    pub fn merge(shards: Vec<Report>) -> Result<Report> {
        let Some(first) = shards.first() else {
            return Err(crate::error::Error::input(
                "no report to merge",
                "blindspot merge",
                "pass the shards' report.json files",
            ));
        };
        let mut merged = Report {
            shard: None,
            checks: Vec::new(),
            results: Vec::new(),
            ..first.clone()
        };
        let mut parts: Vec<(CheckRun, Vec<CheckResult>)> = Vec::new();
        for shard in &shards {
            if (shard.check.as_str(), shard.seed, shard.schema.as_str())
                != (first.check.as_str(), first.seed, first.schema.as_str())
            {
                return Err(crate::error::Error::input(
                    format!(
                        "cannot merge `{}` (seed {}) with `{}` (seed {})",
                        shard.check, shard.seed, first.check, first.seed
                    ),
                    "blindspot merge",
                    "merge the shards of one suite run with one seed",
                ));
            }
            let mut rest = shard.results.as_slice();
            for run in &shard.checks {
                if rest.len() < run.results {
                    return Err(crate::error::Error::input(
                        "a shard report lists more results than it holds",
                        "blindspot merge",
                        "regenerate the shard",
                    ));
                }
                let (mine, tail) = rest.split_at(run.results);
                if parts.iter().any(|(r, _)| r.index == run.index) {
                    return Err(crate::error::Error::input(
                        format!("check {} appears in two shards", run.index),
                        "blindspot merge",
                        "merge each shard once",
                    ));
                }
                parts.push((run.clone(), mine.to_vec()));
                rest = tail;
            }
        }
        parts.sort_by_key(|(run, _)| run.index);
        for (run, results) in parts {
            merged.checks.push(run);
            merged.results.extend(results);
        }
        Ok(merged)
    }

    pub fn new(check: String, seed: u64, device: tch::Device) -> Self {
        Report {
            schema: SCHEMA.into(),
            blindspot: env!("CARGO_PKG_VERSION").into(),
            check,
            seed,
            device: crate::device::device_name(device),
            checks: Vec::new(),
            results: Vec::new(),
            shard: None,
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

    /// Writes report.json, report.md, junit.xml and badges/ into `dir` (figures are separate:
    /// they need the models).
    pub fn write_dir(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        let mut written = Vec::new();
        let mut put = |name: String, text: String| -> Result<()> {
            let path = dir.join(name);
            crate::io::write_atomic(&path, text.as_bytes())?;
            written.push(path);
            Ok(())
        };
        put("report.json".into(), self.to_json())?;
        put("report.md".into(), markdown::render(self))?;
        put("junit.xml".into(), junit::render(self))?;
        for r in &self.results {
            let config = r
                .extra
                .get("filters")
                .map(|v| format!("-V{v}-tau{}", r.extra["tau"]))
                .unwrap_or_default();
            let stem = format!("{}-{}{}", slug(&r.method), r.check, config);
            put(format!("badges/{stem}.json"), badge::endpoint_json(r))?;
            put(format!("badges/{stem}.svg"), badge::svg(r))?;
        }
        Ok(written)
    }

    /// Whether any result failed or errored.
    pub fn any_failure(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.verdict != crate::check::Verdict::Pass)
    }
}

/// A file-name-safe version of a method name: `GradCAM++` → `gradcam-pp`.
pub fn slug(name: &str) -> String {
    name.to_lowercase()
        .replace("++", "-pp")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
