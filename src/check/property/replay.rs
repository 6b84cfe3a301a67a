//! `blindspot prop replay`: one case of a property run, recomputed exactly as the run computed
//! it, from its replay string (`prop:PROPERTY:seed=S:case=I[:arch=…]`), with what it shows in
//! lines of text for the front end to print.
use super::{positivity, theorem, vit_wall, wall, CaseId};
use crate::cam::{CamMethod, Negated};
use crate::check::theorem::closed_form;
use crate::check::Verdict;
use crate::error::{Error, Result};
use std::rc::Rc;
use tch::Device;

/// What a replay found: lines to print and whether the property holds on the case.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// What the case shows (the architecture, the values, the verdict), one line each.
    pub lines: Vec<String>,
    /// False iff the property fails on the case.
    pub holds: bool,
}

/// Replays `case` (its string `text`, for messages): a prop-wall case (at weight scale `tau`) or
/// a prop-vit-wall case on the method `method` builds (both signs of a sign-ambiguous one, as
/// the run judged it); a prop-theorem or prop-positivity case on GradCAM, decided at
/// per-verdict error `alpha`.
pub fn replay(
    case: &CaseId,
    text: &str,
    method: &dyn Fn() -> Result<Rc<dyn CamMethod>>,
    tau: f64,
    alpha: f64,
    device: Device,
) -> Result<Replayed> {
    let mut lines = Vec::new();
    macro_rules! say {
        ($($arg:tt)*) => { lines.push(format!($($arg)*)) };
    }
    match case.property.as_str() {
        "wall" => {
            let mut holds = true;
            for m in &both_signs(method()?) {
                let (leak, arch) = wall::replay(case, m.as_ref(), tau, device)?;
                say!("{}: architecture {arch}", m.title());
                say!(
                    "  mu behind the wall (largest over the images): {:e}",
                    leak.input
                );
                say!("  at feature resolution: {:e}", leak.feature);
                let verdict = match (leak.fails(), leak.feature <= wall::TOLERANCE) {
                    (false, _) => "holds",
                    (true, true) => "FAILS (from the upsampling: clean at feature resolution)",
                    (true, false) => "FAILS",
                };
                say!("  {verdict}");
                holds &= !leak.fails();
            }
            Ok(Replayed { lines, holds })
        }
        "vit-wall" => vit_wall_case(case, method()?, device),
        "positivity" => {
            let check = positivity::PropPositivityCheck::default();
            let (arch, _) = positivity::architecture(case, tau)?;
            let arch = arch.ok_or_else(|| {
                Error::input(
                    "no valid architecture in this case's draws",
                    text,
                    "replay a string printed by `blindspot prop positivity`",
                )
            })?;
            let values = positivity::behind_the_wall(&arch, case, check.draws, device)?;
            let (verdict, lower) = positivity::judge(&values, alpha);
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            say!("architecture {}", arch.encode());
            say!(
                "mean GC behind the wall over {} draws: {mean:e}; one-sided lower bound at \
                 alpha {alpha:e}: {lower:e}",
                values.len()
            );
            say!("E[GC] > 0: {verdict}");
            Ok(Replayed {
                lines,
                holds: verdict != Verdict::Fail,
            })
        }
        "theorem" => {
            let (g, r) = theorem::PropTheoremCheck::default().replay(case, alpha, device)?;
            let s = &r.summary;
            say!("geometry V={} {}", g.config.filters, g.describe());
            say!(
                "kappa {:.6} (interval {:.6}..{:.6} at alpha {alpha:e}, {} draws), closed form \
                 {:.6}",
                s.mean,
                s.ci_low,
                s.ci_high,
                s.n,
                closed_form(&g.config)
            );
            say!("consistent with the closed form: {}", r.verdict);
            Ok(Replayed {
                lines,
                holds: r.verdict != Verdict::Fail,
            })
        }
        other => Err(Error::input(
            format!("`{other}` is not a property"),
            text,
            "replay a prop:wall, prop:vit-wall, prop:theorem or prop:positivity case",
        )),
    }
}

/// `method`, and its negation when it is sign-ambiguous: a wall property judges both signs, and
/// its replay too.
fn both_signs(method: Rc<dyn CamMethod>) -> Vec<Rc<dyn CamMethod>> {
    let mut signs = vec![Rc::clone(&method)];
    if method.sign_ambiguous() {
        signs.push(Rc::new(Negated::new(method)));
    }
    signs
}

/// A prop-vit-wall case on `method` (both signs of a sign-ambiguous one, as the run judged it).
fn vit_wall_case(case: &CaseId, method: Rc<dyn CamMethod>, device: Device) -> Result<Replayed> {
    let mut lines = Vec::new();
    let mut holds = true;
    for m in &both_signs(method) {
        let (leak, shape) = vit_wall::replay(case, m.as_ref(), device)?;
        lines.push(format!("{}: shape {shape}", m.title()));
        lines.push(format!(
            "  mu on the token rows behind the wall (largest over the images): {:e}",
            leak.tokens
        ));
        lines.push(format!("  at the input, upsampled: {:e}", leak.input));
        lines.push(format!("  {}", if leak.fails() { "FAILS" } else { "holds" }));
        holds &= !leak.fails();
    }
    Ok(Replayed { lines, holds })
}
