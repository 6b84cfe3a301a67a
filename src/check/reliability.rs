//! The reliability of the checks themselves (Tomsett, Harborne, Chakraborty, Gurram & Preece,
//! "Sanity Checks for Saliency Metrics", AAAI 2020): a sanity check whose verdict on a method
//! changes with the random seed says more about the seed than about the method. `blindspot
//! reliability` runs a suite under K seeds (every random stream of a run derives from its seed:
//! the images, the randomizations, the Monte Carlo draws, RandomCAM's weights) and reports, per
//! check and method, the verdict under each seed and how many of the K agree with the most
//! common one.
//!
//! Under the run's error control a verdict is wrong with probability at most the per-verdict
//! error, so disagreement between seeds comes from inconclusive verdicts (a method near its
//! threshold, decided under some seeds and not others) or from a wrong decision; the table
//! shows which.
use super::{Report, Verdict};
use serde::{Deserialize, Serialize};

/// One method's verdicts on one check (one configuration) under every seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The check's position in the suite (0-based) and name.
    pub index: usize,
    pub check: String,
    /// The configuration, for checks with several results per method (the theorem's V).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    pub method: String,
    /// The verdict under each seed, in the order of [`Reliability::seeds`].
    pub verdicts: Vec<Verdict>,
    /// The most common verdict (the worse one on a tie).
    pub modal: Verdict,
    /// How many seeds gave the modal verdict.
    pub agreeing: usize,
    /// The verdict the suite expects, when it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Verdict>,
}

impl Agreement {
    /// Every seed gave the same verdict.
    pub fn unanimous(&self) -> bool {
        self.agreeing == self.verdicts.len()
    }

    /// How many seeds gave the verdict the suite expects (None without an expectation).
    pub fn as_expected(&self) -> Option<usize> {
        self.expected
            .map(|e| self.verdicts.iter().filter(|&&v| v == e).count())
    }
}

/// The most common of `verdicts` (the worse one on a tie) and how many gave it.
pub fn tally(verdicts: &[Verdict]) -> (Verdict, usize) {
    let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
    let modal = verdicts
        .iter()
        .copied()
        .max_by_key(|&v| (count(v), v))
        .unwrap_or(Verdict::Error);
    (modal, count(modal))
}

/// A suite's verdicts under K seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    pub suite: String,
    pub seeds: Vec<u64>,
    pub rows: Vec<Agreement>,
}

impl Reliability {
    /// The agreement of `reports`, one per seed, of one suite (the same checks, configurations
    /// and methods in the same order: a suite's run order does not depend on its seed).
    pub fn of(suite: &str, reports: &[Report]) -> Self {
        let seeds = reports.iter().map(|r| r.seed).collect();
        let mut rows: Vec<Agreement> = Vec::new();
        for (k, report) in reports.iter().enumerate() {
            let mut position = 0;
            for (run, results) in report.runs() {
                for result in results {
                    if k == 0 {
                        rows.push(Agreement {
                            index: run.index,
                            check: result.check.clone(),
                            configuration: result.configuration(),
                            method: result.method.clone(),
                            verdicts: Vec::new(),
                            modal: result.verdict,
                            agreeing: 0,
                            expected: result.expected,
                        });
                    }
                    if let Some(row) = rows.get_mut(position) {
                        row.verdicts.push(result.verdict);
                    }
                    position += 1;
                }
            }
        }
        for row in &mut rows {
            (row.modal, row.agreeing) = tally(&row.verdicts);
        }
        Reliability {
            suite: suite.into(),
            seeds,
            rows,
        }
    }

    /// Every row's verdict was the same under every seed.
    pub fn unanimous(&self) -> bool {
        self.rows.iter().all(Agreement::unanimous)
    }
}
