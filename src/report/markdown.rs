//! report.md: a Table-1-style table — rows are methods, columns are checks, each cell the
//! statistic ± spread with a pass/fail mark — then the Theorem 1 table.
use super::Report;
use crate::check::{CheckResult, Verdict};

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
    }
}

fn cell(r: &CheckResult) -> String {
    if r.verdict == Verdict::Error {
        return format!("{} error", mark(r.verdict));
    }
    if r.check == "wall" {
        format!(
            "{} {:.1} ± {:.1}%",
            mark(r.verdict),
            100.0 * r.mean,
            100.0 * r.std
        )
    } else {
        format!("{} {:.2} ± {:.2}", mark(r.verdict), r.mean, r.std)
    }
}

/// The Markdown report.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "# blindspot report: {}\n\nseed {}, device {}, blindspot {}\n\n",
        report.check, report.seed, report.device, report.blindspot
    );
    let columns: Vec<String> = {
        let mut c: Vec<String> = Vec::new();
        for r in report.results.iter().filter(|r| r.check != "theorem") {
            if !c.contains(&r.check) {
                c.push(r.check.clone());
            }
        }
        c
    };
    if !columns.is_empty() {
        let mut methods: Vec<String> = Vec::new();
        for r in report.results.iter().filter(|r| r.check != "theorem") {
            if !methods.contains(&r.method) {
                methods.push(r.method.clone());
            }
        }
        out.push_str(&format!(
            "| method | {} |\n|---|{}\n",
            columns.join(" | "),
            "---|".repeat(columns.len())
        ));
        for m in &methods {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    report
                        .results
                        .iter()
                        .find(|r| &r.method == m && &r.check == c)
                        .map(cell)
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            out.push_str(&format!("| {m} | {} |\n", cells.join(" | ")));
        }
        out.push_str("\nCells: mean ± std over images (wall: µ, the share of the map's ℓ2 norm behind the certified wall, in %; randomization checks: Spearman or SSIM). Rules:\n\n");
        for c in &columns {
            if let Some(r) = report.results.iter().find(|r| &r.check == c) {
                out.push_str(&format!("- **{c}**: {}\n", r.rule));
            }
        }
        if let Some(w) = report
            .results
            .iter()
            .find(|r| r.check == "wall")
            .and_then(|r| r.extra.get("wall"))
        {
            if let (Some(first), Some(last)) =
                (w["rows"]["first"].as_i64(), w["rows"]["last"].as_i64())
            {
                out.push_str(&format!(
                    "- wall: input rows {first}..{last}, certified by {}\n",
                    w["method"].as_str().unwrap_or("")
                ));
            }
        }
    }
    let theorem: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.check == "theorem")
        .collect();
    if !theorem.is_empty() {
        out.push_str(
            "\n## Theorem 1: E[GC_ij]/‖m_ij‖ behind the wall (GradCAM on the masked rCNN)\n\n",
        );
        out.push_str("| V | τ | estimate ± half-width | draws | closed form | consistent | linear | over_sqrt | sqrt |\n|---|---|---|---|---|---|---|---|---|\n");
        for r in theorem {
            let reading = |name: &str| {
                let b = &r.extra["bounds"][name];
                match b["value"].as_f64() {
                    None => "vacuous".to_string(),
                    Some(v) => format!(
                        "{v:.4} {}",
                        if b["holds"].as_bool() == Some(true) {
                            "holds"
                        } else {
                            "**violated**"
                        }
                    ),
                }
            };
            out.push_str(&format!(
                "| {} | {} | {:.5} ± {:.5} | {} | {:.5} | {} | {} | {} | {} |\n",
                r.extra["filters"],
                r.extra["tau"],
                r.mean,
                (r.ci_high - r.ci_low) / 2.0,
                r.n,
                r.extra["closed_form"].as_f64().unwrap_or(f64::NAN),
                if r.extra["consistent"].as_bool() == Some(true) {
                    "✅"
                } else {
                    "❌"
                },
                reading("linear"),
                reading("over_sqrt"),
                reading("sqrt")
            ));
        }
    }
    out
}
