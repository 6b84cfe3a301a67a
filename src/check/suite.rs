//! Suites: which checks run, on which model and data, with which parameters and seed, declared in
//! `checks/*.toml`:
//!
//! ```toml
//! name = "default"
//! seed = 0
//! methods = "all"                 # or ["gradcam", "hirescam"]
//!
//! [[checks]]
//! check = "wall"                  # a registered check: wall, theorem, randomization, …
//! model = "builtin:stack-masked"
//! baseline = "builtin:stack-baseline"
//! data = { synthetic = 64 }
//! ignored = false                 # the cargo-test harness lists ignored checks as ignored trials
//! methods = ["gradcam", "sobel"]  # this check judges these only (default: the suite's methods)
//! ```
use super::runner::{family_size, run_checks, Run, Scheduled};
use super::{CheckContext, DynCheck, ErrorControl, Registry, Verdict, FAMILY_WISE_ERROR};
use crate::cam::external::{ExternalMethod, ExternalSpec};
use crate::cam::{methods_from_list, CamMethod};
use crate::error::{Error, Result};
use crate::seed::Seeds;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `methods = "all"` or a list of names.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MethodList {
    Named(String),
    List(Vec<String>),
}

/// By hand, so that a wrong value is named (an untagged enum could only say that no variant
/// matched).
impl<'de> Deserialize<'de> for MethodList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MethodList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"all\", \"none\", or a list of method names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<MethodList, E> {
                Ok(MethodList::Named(v.into()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<MethodList, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(MethodList::List(names))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Default for MethodList {
    fn default() -> Self {
        MethodList::Named("all".into())
    }
}

impl MethodList {
    /// The built-in methods named, their random streams (RandomCAM's) taken from `seeds`.
    pub fn resolve(&self, seeds: &Seeds) -> Result<Vec<Box<dyn CamMethod>>> {
        match self {
            MethodList::Named(s) => methods_from_list(s, seeds),
            MethodList::List(v) => methods_from_list(&v.join(","), seeds),
        }
    }
}

/// A check in a suite, with the harness's `ignored` flag.
#[derive(Debug, Clone)]
pub struct Entry {
    pub check: Box<dyn DynCheck>,
    pub ignored: bool,
    /// Expected verdicts: (method name or `*`, verdict). A result with an expectation that it
    /// does not meet makes `blindspot run` exit 1.
    pub expect: Vec<(String, Verdict)>,
    /// The methods this check judges, when it names its own (a subset of the suite's); else
    /// every method of the suite.
    pub methods: Option<Vec<String>>,
}

impl Entry {
    /// A check's table of a suite: the harness's `ignored`, its `expect` table and own
    /// `methods` list taken out, the rest the check's parameters.
    fn parse(mut table: toml::Table, registry: &Registry) -> std::result::Result<Entry, String> {
        let ignored = match table.remove("ignored") {
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => return Err(format!("`ignored` must be true or false, not {other:?}")),
            None => false,
        };
        let expect = match table.remove("expect") {
            None => Vec::new(),
            Some(value) => parse_expectations(value)?,
        };
        let methods = match table.remove("methods") {
            None => None,
            Some(toml::Value::Array(names)) => Some(
                names
                    .into_iter()
                    .map(|n| match n {
                        toml::Value::String(s) => Ok(s),
                        other => Err(format!(
                            "`methods` lists method names, not a {}",
                            other.type_str()
                        )),
                    })
                    .collect::<std::result::Result<Vec<String>, String>>()?,
            ),
            Some(other) => {
                return Err(format!(
                    "`methods` must be a list of method names, not a {}",
                    other.type_str()
                ))
            }
        };
        Ok(Entry {
            check: registry.from_table(table)?,
            ignored,
            expect,
            methods,
        })
    }
}

/// The most characters of a suite's description.
const DESCRIPTION_LIMIT: usize = 500;

/// A parsed suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The suite's name (`suite:NAME` in reports).
    pub name: String,
    /// What it is for, in words.
    pub description: String,
    /// The run's seed (every random stream derives from it).
    pub seed: u64,
    /// Chance of one or more wrong passes or fails in a run of the suite (Bonferroni over its
    /// verdicts; default 1%).
    pub family_wise_error: f64,
    // The rest is the runner's (open to blindspot's own tests by the `internals` feature).
    /// The built-in methods it names.
    #[doc(hidden)]
    pub methods: MethodList,
    /// Methods outside Rust, run through the file protocol.
    #[doc(hidden)]
    pub external: Vec<ExternalSpec>,
    /// The names of the methods the caller provides in code (`Suite::parse_providing`).
    #[doc(hidden)]
    pub provided: Vec<String>,
    /// Its checks, each with its expectations and its own methods.
    #[doc(hidden)]
    pub checks: Vec<Entry>,
    /// Folder of the suite file, against which relative paths in it resolve.
    #[doc(hidden)]
    pub base: PathBuf,
    /// SHA-256 of what the suite asks, as written (paths before they resolve against the
    /// suite's folder, so that machines with other checkouts agree): see `Report::suite_sha256`.
    #[doc(hidden)]
    pub fingerprint: String,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    description: String,
    seed: u64,
    family_wise_error: f64,
    methods: MethodList,
    external: Vec<ExternalSpec>,
    checks: Vec<toml::Table>,
}

impl Default for SuiteFile {
    fn default() -> Self {
        SuiteFile {
            name: None,
            description: String::new(),
            seed: 0,
            family_wise_error: FAMILY_WISE_ERROR,
            methods: MethodList::default(),
            external: Vec::new(),
            checks: Vec::new(),
        }
    }
}

/// The suites shipped in `checks/`, embedded so that `--suite NAME` works from any folder.
pub const BUILTIN_SUITES: &[(&str, &str)] = &[
    ("default", include_str!("../../checks/default.toml")),
    ("theorem", include_str!("../../checks/theorem.toml")),
    ("paper", include_str!("../../checks/paper.toml")),
    ("property", include_str!("../../checks/property.toml")),
];

impl Suite {
    /// Parses suite text, knowing the checks of `registry` ([`Registry::builtin`], or with
    /// checks of your own); `origin` names it in messages, and relative paths in it (an image
    /// folder, a regressions file) resolve against `base`.
    pub fn parse(text: &str, origin: &str, base: &Path, registry: &Registry) -> Result<Suite> {
        Suite::parse_providing(text, origin, base, registry, &[])
    }

    /// [`Suite::parse`], knowing the checks of `registry` and the names of the methods the
    /// caller will provide in code ([`Suite::run_providing`]; the Python module's callables):
    /// they count as methods the suite judges, so its expectations may name them.
    pub(crate) fn parse_providing(
        text: &str,
        origin: &str,
        base: &Path,
        registry: &Registry,
        provided: &[String],
    ) -> Result<Suite> {
        let bad = |what: String| {
            let fix = "see checks/default.toml and docs/checks.md for the suite format";
            Error::input(what, origin, fix)
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            bad(format!(
                "{origin} is not a valid suite: {}",
                e.to_string().trim()
            ))
        })?;
        let mut checks = Vec::new();
        for (i, table) in file.checks.into_iter().enumerate() {
            let at = |what: String| bad(format!("check {} of {origin}: {what}", i + 1));
            checks.push(Entry::parse(table, registry).map_err(at)?);
        }
        if checks.is_empty() {
            return Err(bad(format!("{origin} declares no check")));
        }
        let fwe = file.family_wise_error;
        crate::limits::family_wise_error("family_wise_error", fwe)
            .map_err(|e| bad(format!("{origin}: {e}")))?;
        let stem = Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        let name = file.name.unwrap_or_else(|| stem.unwrap_or_default());
        // The name becomes the default output folder (out/NAME): a name, never a path.
        crate::limits::plain_name("name", &name).map_err(|e| bad(format!("{origin}: {e}")))?;
        // The description heads the run's first line: one line of printable text.
        let description = &file.description;
        if description.chars().count() > DESCRIPTION_LIMIT
            || crate::io::escape::one_line(description) != *description
        {
            return Err(bad(format!(
                "{origin}: the description is not one line of at most {DESCRIPTION_LIMIT} \
                 printable characters (a control character or a line break in it would reach \
                 the terminal)"
            )));
        }
        let suite = Suite {
            name,
            description: file.description,
            seed: file.seed,
            family_wise_error: file.family_wise_error,
            methods: file.methods,
            external: file.external,
            provided: provided.to_vec(),
            checks,
            base: base.to_path_buf(),
            fingerprint: String::new(),
        };
        let builtin = suite.methods.resolve(&Seeds::new(suite.seed))?;
        suite.check_methods(&builtin, origin)?;
        suite.check_written_paths(origin)?;
        let fingerprint = suite.fingerprint(&builtin);
        Ok(Suite {
            fingerprint,
            ..suite
        }
        .with_paths_resolved())
    }

    /// The suite runs some method, every name is unique, and each check's own method list and
    /// expectations name only methods it judges: an expectation for a method the check never
    /// judges (a typo: `gradkam`) would switch a gate off in silence.
    fn check_methods(&self, builtin: &[Box<dyn CamMethod>], origin: &str) -> Result<()> {
        for spec in &self.external {
            ExternalMethod::validate(spec)?;
        }
        if builtin.is_empty() && self.external.is_empty() && self.provided.is_empty() {
            // A run of no method makes no verdict: a gate that would pass on no evidence.
            return Err(Error::input(
                "the suite names no method (`methods = []` and no [[external]])",
                origin,
                "list methods (`methods = [\"gradcam\"]`), drop `methods` for every built-in \
                 one, or add an [[external]] method",
            ));
        }
        // Every method the suite's checks judge: built-in, external, provided in code.
        let all: Vec<&str> = builtin
            .iter()
            .map(|m| m.name())
            .chain(self.external.iter().map(|e| e.name.as_str()))
            .chain(self.provided.iter().map(|n| n.as_str()))
            .collect();
        crate::cam::ensure_unique_names(all.iter().copied())?;
        for (i, entry) in self.checks.iter().enumerate() {
            if let Some(own) = &entry.methods {
                let unknown = own.iter().find(|n| !all.contains(&n.as_str()));
                if let Some(name) = unknown {
                    return Err(Error::input(
                        format!(
                            "check {} lists the method `{}`, which the suite does not run",
                            i + 1,
                            crate::io::escape::printable(name)
                        ),
                        origin,
                        format!("name methods of the suite: {}", all.join(", ")),
                    ));
                }
                if own.is_empty() {
                    return Err(Error::input(
                        format!("check {} lists no method (`methods = []`)", i + 1),
                        origin,
                        "list the methods it judges, or drop `methods` for all of the suite's",
                    ));
                }
                crate::cam::ensure_unique_names(own.iter().map(|n| n.as_str()))?;
            }
            let judged: Vec<&str> = match (entry.check.fixed_method(), &entry.methods) {
                (Some(name), _) => vec![name],
                (None, Some(own)) => own.iter().map(|n| n.as_str()).collect(),
                (None, None) => {
                    // Under `all`, not the built-in methods its model cannot give (see `run`).
                    let kept = match self.every_builtin() {
                        true => {
                            let refs = builtin.iter().map(|m| m.as_ref());
                            super::runner::under_all(entry.check.as_ref(), refs).0
                        }
                        false => vec![true; builtin.len()],
                    };
                    let left: Vec<&str> = builtin
                        .iter()
                        .zip(&kept)
                        .filter(|(_, &k)| !k)
                        .map(|(m, _)| m.name())
                        .collect();
                    all.iter().copied().filter(|n| !left.contains(n)).collect()
                }
            };
            if let Some((who, _)) = entry
                .expect
                .iter()
                .find(|(who, _)| who != "*" && !judged.contains(&who.as_str()))
            {
                return Err(Error::input(
                    format!(
                        "check {} expects a verdict of `{}`, a method it does not judge",
                        i + 1,
                        crate::io::escape::printable(who)
                    ),
                    origin,
                    format!(
                        "name one of: {} (or \"*\" for every other method)",
                        judged.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A suite is data: a file it makes blindspot write stays in the suite's folder, by its
    /// resolved location (no `..`, no link on the way), not only by its text.
    fn check_written_paths(&self, origin: &str) -> Result<()> {
        for (i, entry) in self.checks.iter().enumerate() {
            for path in entry.check.written_paths() {
                let inside = path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !inside {
                    return Err(Error::input(
                        format!(
                            "check {} writes `{}`, outside the suite's folder",
                            i + 1,
                            crate::io::escape::printable(&path.display().to_string())
                        ),
                        origin,
                        "name a file a suite writes by a relative path without `..` (it lies \
                         beside the suite); the command line's --regressions takes any path",
                    ));
                }
                let what = format!("check {} writes `{}`, which", i + 1, path.display());
                crate::io::refuse_links_below(&self.base, path, &what)?;
            }
        }
        Ok(())
    }

    fn load_providing(path: &Path, registry: &Registry, provided: &[String]) -> Result<Suite> {
        let text = crate::io::read_text(path, "the suite", crate::io::SUITE_LIMIT)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Suite::parse_providing(&text, &path.display().to_string(), base, registry, provided)
    }

    /// A suite shipped in `checks/` by name (`default`, `theorem`, `paper`, `property`), or a
    /// suite file by path, knowing the checks of `registry`.
    pub fn open(name_or_path: &str, registry: &Registry) -> Result<Suite> {
        Suite::open_providing(name_or_path, registry, &[])
    }

    /// [`Suite::open`], with the names of the methods the caller provides in code (a method
    /// that a suite's expectations name must be one of them or a suite's own).
    pub fn open_providing(
        name: &str,
        registry: &Registry,
        provided: &[String],
    ) -> Result<Suite> {
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") || path.components().count() > 1 {
            return Suite::load_providing(path, registry, provided);
        }
        match BUILTIN_SUITES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => {
                // Relative paths in a shipped suite (a regressions file) lie beside its file
                // when run from the repository's root, in the working folder otherwise.
                let origin = format!("checks/{name}.toml");
                let base = match Path::new(&origin).exists() {
                    true => Path::new("checks"),
                    false => Path::new("."),
                };
                Suite::parse_providing(text, &origin, base, registry, provided)
            }
            None => Err(Error::Unknown {
                kind: "suite",
                name: name.into(),
                known: BUILTIN_SUITES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn with_paths_resolved(mut self) -> Suite {
        let base = self.base.clone();
        for entry in &mut self.checks {
            for p in entry.check.paths_mut() {
                if p.is_relative() && !base.as_os_str().is_empty() {
                    *p = base.join(&*p);
                }
            }
        }
        self
    }

    /// Whether the suite runs every built-in method (`methods = "all"`, the default).
    fn every_builtin(&self) -> bool {
        matches!(&self.methods, MethodList::Named(s) if s.trim().eq_ignore_ascii_case("all"))
    }

    /// The built-in methods the suite names, then its external ones.
    pub fn all_methods(&self, seeds: &Seeds) -> Result<Vec<Box<dyn CamMethod>>> {
        let mut methods = self.methods.resolve(seeds)?;
        for spec in &self.external {
            methods.push(Box::new(ExternalMethod::new(spec.clone())));
        }
        Ok(methods)
    }

    /// `blindspot run --data DIR --preprocess P --weights FILE`: an image folder for every check
    /// that reads images, and weights for every check that declares `needs_weights` (the paper
    /// suite's wall check). The fingerprint covers them, so that two shards run with other
    /// images or weights never merge. Weights that no check takes are refused (never ignored).
    pub fn override_inputs(
        &mut self,
        data: Option<&Path>,
        preprocess: Option<crate::data::folder::Preprocess>,
        weights: Option<&Path>,
    ) -> Result<()> {
        use crate::data::folder::Preprocess;
        use crate::data::{DataSpec, FOLDER_SIZE};
        if data.is_none() && preprocess.is_none() && weights.is_none() {
            return Ok(());
        }
        let mut took_weights = false;
        for entry in &mut self.checks {
            let Some(subject) = entry.check.subject_mut() else {
                continue;
            };
            if let (Some(weights), true) = (weights, subject.needs_weights) {
                subject.weights = Some(weights.to_path_buf());
                took_weights = true;
            }
            if let Some(folder) = data {
                let (preprocess, size) = match &subject.data {
                    DataSpec::Folder {
                        preprocess: p,
                        size,
                        ..
                    } => (preprocess.unwrap_or(*p), *size),
                    _ => (preprocess.unwrap_or(Preprocess::AsIs), FOLDER_SIZE),
                };
                subject.data = DataSpec::Folder {
                    folder: folder.to_path_buf(),
                    preprocess,
                    size,
                };
            }
        }
        if weights.is_some() && !took_weights {
            return Err(Error::input(
                format!("no check of the suite `{}` takes --weights", self.name),
                "--weights",
                "give --weights to a suite whose check declares `needs_weights = true` (the paper \
                 suite's wall check), or name `weights` in the suite",
            ));
        }
        let given = serde_json::json!({
            "suite": self.fingerprint,
            "data": data.map(|p| p.display().to_string()),
            "preprocess": preprocess.map(|p| format!("{p:?}")),
            "weights": weights.map(|p| p.display().to_string()),
        });
        self.fingerprint = crate::io::sha256(given.to_string().as_bytes());
        Ok(())
    }

    /// Runs every check, or with `shard = Some((k, n))` the shard's work items (whole checks,
    /// and units of the checks that split: docs/sharding.md), and collects one report
    /// labelled `suite:NAME`.
    /// The family size counts every check of the suite, also in a shard, so that a shard's
    /// verdicts are decided at the level the whole run uses.
    pub fn run(&self, device: tch::Device, shard: Option<(usize, usize)>) -> Result<Run> {
        self.run_providing(device, shard, Vec::new())
    }

    /// [`Suite::run`] with the methods the caller provides in code, one for each name the suite
    /// was parsed with ([`Suite::parse_providing`]), in any order.
    pub(crate) fn run_providing(
        &self,
        device: tch::Device,
        shard: Option<(usize, usize)>,
        provided: Vec<Box<dyn CamMethod>>,
    ) -> Result<Run> {
        let mut given: Vec<&str> = provided.iter().map(|m| m.name()).collect();
        let mut declared: Vec<&str> = self.provided.iter().map(|n| n.as_str()).collect();
        given.sort_unstable();
        declared.sort_unstable();
        if given != declared {
            return Err(Error::input(
                format!(
                    "the suite `{}` was read for the methods {declared:?} but given {given:?}",
                    self.name
                ),
                "Suite::run_providing",
                "pass the methods whose names the suite was parsed with",
            ));
        }
        let seeds = Seeds::new(self.seed);
        let mut methods = self.all_methods(&seeds)?;
        methods.extend(provided);
        // Each check's own method list as positions in the run's list, in the run's order; under
        // `all`, a check whose model is not built in leaves out the methods that cannot explain
        // it (with a note), as a single check's `all` does.
        let every = self.every_builtin();
        let positions: Vec<Option<Vec<usize>>> = self
            .checks
            .iter()
            .map(|e| match &e.methods {
                Some(own) => {
                    let mut at: Vec<usize> = own
                        .iter()
                        .filter_map(|n| methods.iter().position(|m| m.name() == n))
                        .collect();
                    at.sort_unstable();
                    Some(at)
                }
                None if every => {
                    let (kept, note) = super::runner::under_all(
                        e.check.as_ref(),
                        methods.iter().map(|m| m.as_ref()),
                    );
                    let note = note?;
                    eprintln!("{note}");
                    Some((0..methods.len()).filter(|&i| kept[i]).collect())
                }
                None => None,
            })
            .collect();
        let checks: Vec<Scheduled> = self
            .checks
            .iter()
            .zip(&positions)
            .enumerate()
            .map(|(i, (e, own))| Scheduled {
                index: i,
                check: e.check.as_ref(),
                methods: own.as_deref(),
            })
            .collect();
        let size = family_size(&checks, &methods);
        let control = ErrorControl::bonferroni(self.family_wise_error, size);
        let ctx = CheckContext::controlled(device, self.seed, control);
        let label = format!("suite:{}", self.name);
        let mut run = run_checks(&label, &checks, methods, &ctx, shard)?;
        run.report.shard = shard.map(|(k, n)| format!("{k}/{n}"));
        run.report.suite_sha256 = Some(self.fingerprint.clone());
        self.apply_expectations(&mut run.report);
        Ok(run)
    }

    /// SHA-256 of what the suite asks: every check's name, parameters, expectations and ignored
    /// flag, the built-in methods and the external ones' specifications (the seed and the
    /// family-wise error, which flags may override, are compared on their own).
    fn fingerprint(&self, methods: &[Box<dyn CamMethod>]) -> String {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|e| {
                let expect: Vec<(String, String)> = e
                    .expect
                    .iter()
                    .map(|(m, v)| (m.clone(), v.to_string()))
                    .collect();
                let mut entry = serde_json::json!({
                    "check": e.check.name(), "params": e.check.params(),
                    "expect": expect, "ignored": e.ignored,
                });
                if let Some(own) = &e.methods {
                    entry["methods"] = serde_json::json!(own);
                }
                entry
            })
            .collect();
        let methods: Vec<&str> = methods.iter().map(|m| m.name()).collect();
        let mut content = serde_json::json!({
            "checks": checks,
            "methods": methods,
            "external": self.external,
        });
        // Only when there are any: a suite run from the command line keeps its fingerprint.
        if !self.provided.is_empty() {
            content["provided"] = serde_json::json!(self.provided);
        }
        crate::io::sha256(content.to_string().as_bytes())
    }

    /// Marks each result with the verdict its check expects of its method, if any.
    fn apply_expectations(&self, report: &mut crate::check::Report) {
        let mut expected = Vec::new();
        for (run, results) in report.runs() {
            let entry = &self.checks[run.index];
            for r in results {
                expected.push(crate::check::units::expectation(&entry.expect, &r.method));
            }
        }
        for (r, e) in report.results.iter_mut().zip(expected) {
            r.expected = e;
        }
        for evidence in &mut report.evidence {
            evidence.expect = self.checks[evidence.index].expect.clone();
        }
    }
}

/// `expect = { "*" = "pass", sobel = "fail" }`: method names (or `*` for every other method)
/// and the verdict each should get.
fn parse_expectations(value: toml::Value) -> std::result::Result<Vec<(String, Verdict)>, String> {
    let toml::Value::Table(table) = value else {
        return Err(format!(
            "`expect` must be a table such as {{ \"*\" = \"pass\", sobel = \"fail\" }}, \
             not {value:?}"
        ));
    };
    table
        .into_iter()
        .map(|(method, verdict)| {
            let verdict = verdict.as_str().unwrap_or_default().to_string();
            let parsed = match verdict.as_str() {
                "pass" => Verdict::Pass,
                "fail" => Verdict::Fail,
                "inconclusive" => Verdict::Inconclusive,
                "error" => Verdict::Error,
                other => {
                    return Err(format!(
                        "expect.{method} = `{other}`: use pass, fail, inconclusive or error"
                    ))
                }
            };
            Ok((method, parsed))
        })
        .collect()
}
