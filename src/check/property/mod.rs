//! Property-based verification, in the spirit of QuickCheck and proptest: a property is checked
//! on many random instances, each derived from (run seed, case index) alone, and a failing
//! instance is shrunk to a local minimum — the smallest architecture, one simplification at a
//! time, on which the property still fails — and printed with a string that replays it.
//!
//! * [`wall`] (`prop-wall`): on random walled networks, does a method put exactly nothing behind
//!   the certified wall?
//! * [`theorem`] (`prop-theorem`): on random rCNN geometries, does the Monte Carlo agree with the
//!   generalised closed form, and where does each reading of the talk's bound break?
//! * [`positivity`] (`prop-positivity`): on random walled networks with Gaussian weights, is
//!   E\[GC\] behind the wall positive, as Theorem 1 proves for the rCNN?
//! * [`vit_wall`] (`prop-vit-wall`): on random walled vision transformers, does a method put
//!   exactly nothing behind the wall on the token grid?
//!
//! One generic runner ([`runner`]) lists, tests, shrinks, decides and persists for all four;
//! a property is how one case is drawn, tested and shrunk ([`runner::Property`]).
//!
//! Counterexamples persist in a regressions file (one replay string a line, like proptest's
//! `proptest-regressions/`), replayed first on the next run.
pub mod positivity;
pub mod replay;
pub mod runner;
pub mod theorem;
pub mod vit_wall;
pub mod wall;

use crate::cam::{CamMethod, Origin};
use crate::error::{Error, Result};
use crate::model::random::RandomArch;
use crate::seed::{Seeds, Stream};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A case of a property: derived from (seed, case) alone, optionally with the architecture a
/// shrink arrived at. Its text form is the replay string `prop:wall:seed=0:case=12[:arch=…]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseId {
    pub property: String,
    pub seed: u64,
    pub case: u64,
    pub arch: Option<String>,
}

impl CaseId {
    /// The case's random stream: the property's stream of the run seed, sub-stream `case`.
    pub fn stream(&self, name: &str) -> Stream {
        Seeds::new(self.seed).stream(name).at(self.case)
    }

    pub fn encode(&self) -> String {
        let arch = self
            .arch
            .as_ref()
            .map(|a| format!(":arch={a}"))
            .unwrap_or_default();
        format!(
            "prop:{}:seed={}:case={}{arch}",
            self.property, self.seed, self.case
        )
    }

    pub fn parse(text: &str) -> Result<CaseId> {
        let bad = || {
            Error::input(
                format!("`{text}` is not a replay string"),
                "blindspot prop replay",
                "copy it from a counterexample: prop:wall:seed=S:case=I[:arch=…]",
            )
        };
        let rest = text.trim().strip_prefix("prop:").ok_or_else(bad)?;
        let mut parts = rest.splitn(4, ':');
        let property = parts.next().ok_or_else(bad)?.to_string();
        let field = |part: Option<&str>, key: &str| -> Result<u64> {
            let value = part.and_then(|p| p.strip_prefix(key)).ok_or_else(bad)?;
            value.parse().map_err(|_| bad())
        };
        let seed = field(parts.next(), "seed=")?;
        let case = field(parts.next(), "case=")?;
        let arch = match parts.next() {
            None => None,
            Some(a) => Some(a.strip_prefix("arch=").ok_or_else(bad)?.to_string()),
        };
        Ok(CaseId {
            property,
            seed,
            case,
            arch,
        })
    }
}

/// The smallest failing instance found, and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The replay string of the shrunk case.
    pub case: String,
    /// The shrunk architecture, encoded.
    pub architecture: String,
    /// The property's value on it (µ behind the wall, E\[GC\] bound, …).
    pub value: f64,
    /// The simplifications that kept the property failing, in order.
    pub shrink_steps: Vec<String>,
    /// The replay string of the case as first drawn.
    pub original: String,
    /// What replays the shrunk case for the method that failed it ([`replay_command`]).
    #[serde(default)]
    pub replay: String,
}

impl Counterexample {
    /// The counterexample a shrink found from `case` (a run's case, as first drawn with the
    /// architecture `original`) to the architecture `smallest`, with its value and steps (the
    /// replay command is set later, for the method that failed it).
    pub fn shrunk(
        case: &CaseId,
        original: String,
        smallest: String,
        value: f64,
        shrink_steps: Vec<String>,
    ) -> Counterexample {
        let with = |arch: &String| CaseId {
            arch: Some(arch.clone()),
            ..case.clone()
        };
        Counterexample {
            case: with(&smallest).encode(),
            original: with(&original).encode(),
            architecture: smallest,
            value,
            shrink_steps,
            replay: String::new(),
        }
    }
}

/// What replays `case` for `method`: the `blindspot prop replay` command for a built-in or an
/// external method, and for a method that lives in Rust code the harness call
/// (`SanityHarness::replay`), since no command line can rebuild it.
pub fn replay_command(case: &str, method: &dyn CamMethod) -> String {
    match method.origin() {
        Origin::BuiltIn => format!("blindspot prop replay {case} --method {}", method.name()),
        Origin::External(spec) => format!(
            "blindspot prop replay {case} --external {}",
            crate::process::shell_quote(&spec)
        ),
        _ => format!(
            "SanityHarness::new(..).replay(\"{case}\") in the cargo-test gate of {} \
             (a method of your own: the blindspot command line cannot rebuild it)",
            method.name()
        ),
    }
}

/// What a property run found for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyFindings {
    pub detail: PropertyDetail,
}

impl crate::check::CheckFindings for PropertyFindings {
    fn table_header(&self, first: &crate::check::CheckResult) -> Option<String> {
        Some(format!("{}: property — {}\n", first.check, first.rule))
    }

    /// The tallies, the shrunk counterexample with its replay command, and the boundaries where
    /// a reading of the talk's bound breaks.
    fn table_line(&self, r: &crate::check::CheckResult) -> Option<String> {
        let p = &self.detail;
        let upsampling = match p.upsampling_failures {
            Some(u) if p.failed > 0 => format!(" ({u} from the upsampling)"),
            _ => String::new(),
        };
        let mut text = format!(
            "{:<20} {:<12} held {}/{}, failed {}{upsampling}, undecided {}",
            r.title,
            r.verdict.shouted(),
            p.held,
            p.cases,
            p.failed,
            p.inconclusive,
        );
        if let Some(c) = &p.counterexample {
            text.push_str(&format!(
                "\n{:<20} counterexample {} (value {:.3e}, {} shrink steps)\n{:<20} replay: {}",
                "",
                c.architecture,
                c.value,
                c.shrink_steps.len(),
                "",
                c.replay
            ));
        }
        for b in &p.boundaries {
            text.push_str(&format!(
                "\n{:<20} {} reading violated from V = {} ({}; Monte Carlo at V = {})",
                "", b.reading, b.from_filters, b.geometry, b.violated_at
            ));
        }
        Some(text)
    }

    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!("property: {}", self.detail.property))
    }

    fn badge_message(&self, r: &crate::check::CheckResult) -> Option<String> {
        let d = &self.detail;
        Some(format!("{}/{} held {}", d.held, d.cases, r.verdict))
    }

    fn markdown_cell(&self, _r: &crate::check::CheckResult) -> Option<String> {
        Some(format!("{}/{} held", self.detail.held, self.detail.cases))
    }

    /// report.md: the run's tallies per method, the shrunk counterexample and its replay
    /// command, and the boundaries where a reading of the talk's bound breaks.
    fn markdown_section(&self, results: &[crate::check::CheckResult]) -> Option<String> {
        use crate::io::escape::markdown as md;
        let runs: Vec<(&crate::check::CheckResult, &PropertyDetail)> = results
            .iter()
            .filter_map(|r| Some((r, &r.findings.get::<PropertyFindings>()?.detail)))
            .collect();
        let mut out = format!(
            "\n## Property `{}` on random models\n\n| method | held | failed (from the \
             upsampling) | undecided | smallest counterexample | replay |\n\
             |---|---|---|---|---|---|\n",
            md(&self.detail.property)
        );
        for (r, d) in &runs {
            let upsampling = d
                .upsampling_failures
                .map_or(String::new(), |u| format!(" ({u})"));
            let (example, replay) = match &d.counterexample {
                Some(c) => (
                    format!(
                        "{} ({:.3e}, {} steps)",
                        md(&c.architecture),
                        c.value,
                        c.shrink_steps.len()
                    ),
                    md(&c.replay),
                ),
                None => ("–".into(), "–".into()),
            };
            out.push_str(&format!(
                "| {} | {}/{} | {}{upsampling} | {} | {example} | {replay} |\n",
                md(&r.title),
                d.held,
                d.cases,
                d.failed,
                d.inconclusive
            ));
        }
        for (_, d) in &runs {
            for b in &d.boundaries {
                out.push_str(&format!(
                    "\n- the {} reading of the bound fails from V = {} at {} (Monte Carlo at \
                     V = {}; {})",
                    md(&b.reading),
                    b.from_filters,
                    md(&b.geometry),
                    b.violated_at,
                    md(&b.case)
                ));
            }
        }
        out.push('\n');
        Some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDetail {
    /// Which property: `wall`, `theorem`, `positivity`.
    pub property: String,
    pub cases: usize,
    pub held: usize,
    pub failed: usize,
    pub inconclusive: usize,
    /// Draws of an architecture that were redrawn (no valid feature map, or a wall that
    /// certified empty).
    pub redrawn: usize,
    /// Cases replayed first from the regressions file.
    pub regressions_replayed: usize,
    /// `wall`: failures whose map is clean at feature resolution (the bilinear upsampling
    /// spreads the map across the wall's edge, not the method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsampling_failures: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// `theorem`: per geometry where a reading of the bound broke, the smallest V that breaks it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundaries: Vec<Boundary>,
}

/// Where a reading of the talk's bound starts to be violated, for one geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    pub case: String,
    pub geometry: String,
    pub reading: String,
    /// The smallest V at which the closed form is below the reading.
    pub from_filters: i64,
    /// The V at which the case's Monte Carlo showed the reading violated (its interval's upper
    /// end below the reading).
    pub violated_at: i64,
}

/// What a property's random instances shrink by: one-step simplifications, simplest first.
pub trait Shrinkable: Clone {
    /// The named one-step simplifications of this instance.
    fn shrinks(&self) -> Vec<(String, Self)>;
}

impl Shrinkable for RandomArch {
    fn shrinks(&self) -> Vec<(String, Self)> {
        RandomArch::shrinks(self)
    }
}

impl Shrinkable for crate::model::random_vit::RandomVit {
    fn shrinks(&self) -> Vec<(String, Self)> {
        crate::model::random_vit::RandomVit::shrinks(self)
    }
}

/// Shrinks `start` while `fails` keeps failing: tries its [`Shrinkable::shrinks`] in order,
/// takes the first that fails, and stops at a local minimum (or after `max_steps`). Returns the
/// minimum, its value and the steps taken.
pub fn shrink<A: Shrinkable>(
    start: A,
    value: f64,
    max_steps: usize,
    mut fails: impl FnMut(&A) -> Result<Option<f64>>,
) -> Result<(A, f64, Vec<String>)> {
    let (mut current, mut value, mut steps) = (start, value, Vec::new());
    'outer: while steps.len() < max_steps {
        for (step, candidate) in current.shrinks() {
            if let Some(v) = fails(&candidate)? {
                current = candidate;
                value = v;
                steps.push(step);
                continue 'outer;
            }
        }
        break;
    }
    Ok((current, value, steps))
}

/// Counterexamples kept between runs: one replay string a line (`#` comments allowed).
pub struct Regressions {
    path: PathBuf,
}

impl Regressions {
    pub fn at(path: &Path) -> Regressions {
        Regressions {
            path: path.to_path_buf(),
        }
    }

    /// The cases of `property` recorded so far (none when the file does not exist yet). The file
    /// is read as a file of its own, never through a link; a line that is not a replay string
    /// is named by its number, not shown (the file may not be what it claims to be).
    pub fn load(&self, property: &str) -> Result<Vec<CaseId>> {
        if std::fs::symlink_metadata(&self.path).is_err() {
            return Ok(Vec::new());
        }
        let text = self.read()?;
        let mut cases = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let case = CaseId::parse(line).map_err(|_| {
                Error::input(
                    format!("line {} of the regressions file is not a replay string", i + 1),
                    self.path.display().to_string(),
                    "keep the lines blindspot wrote (prop:NAME:seed=S:case=I[:arch=…]) or \
                     remove the file",
                )
            })?;
            if case.property == property {
                cases.push(case);
            }
        }
        Ok(cases)
    }

    fn read(&self) -> Result<String> {
        crate::io::read_text_no_link(&self.path, "the regressions file", crate::io::SUITE_LIMIT)
    }

    /// Records a counterexample (once). Written by a rename, which replaces a link in the
    /// file's place rather than following it.
    pub fn add(&self, case: &CaseId) -> Result<()> {
        let mut text = match std::fs::symlink_metadata(&self.path) {
            Ok(_) => self.read()?,
            Err(_) => {
                "# blindspot property regressions: shrunk counterexamples, replayed first\n".into()
            }
        };
        let line = case.encode();
        if text.lines().any(|l| l.trim() == line) {
            return Ok(());
        }
        text.push_str(&line);
        text.push('\n');
        crate::io::write_atomic(&self.path, text.as_bytes())
    }
}
