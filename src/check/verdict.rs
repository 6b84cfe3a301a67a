//! The four verdicts a check gives, ordered from best to worst.
use serde::{Deserialize, Serialize};

/// Pass, fail, inconclusive (the evidence does not decide at the run's error rate), or error (the
/// check could not be evaluated). Only pass is ever a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The method passes the check at the run's error rate.
    Pass,
    /// The evidence decides neither way at the run's error rate (or a negative control passes
    /// too, so the check cannot separate).
    Inconclusive,
    /// The method fails the check at the run's error rate.
    Fail,
    /// The check could not be evaluated (the reason says why).
    Error,
}

impl Verdict {
    /// The worse of two verdicts (error > fail > inconclusive > pass).
    pub fn worse(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The verdict as the terminal table prints it: upper case where it needs attention.
    pub fn shouted(self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            other => other.to_string().to_uppercase(),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        })
    }
}

impl Verdict {
    /// The mark report.md writes for it.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "✅",
            Verdict::Inconclusive => "❔",
            Verdict::Fail => "❌",
            Verdict::Error => "⚠️",
        }
    }

    /// The colour report.html and the figures write it in.
    pub fn colour(self) -> &'static str {
        match self {
            Verdict::Pass => "#1a7f37",
            Verdict::Fail => "#cf222e",
            Verdict::Inconclusive => "#9a6700",
            Verdict::Error => "#6e7781",
        }
    }
}
