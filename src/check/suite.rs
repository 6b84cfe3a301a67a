//! Suites: which checks run, on which model and data, with which parameters and seed, declared in
//! `checks/*.toml`:
//!
//! ```toml
//! name = "default"
//! seed = 0
//! methods = "all"                 # or ["gradcam", "hirescam"]
//!
//! [[checks]]
//! check = "wall"                  # wall | theorem | randomization | data-randomization | class-sensitivity
//! model = "builtin:stack-masked"
//! baseline = "builtin:stack-baseline"
//! data = { synthetic = 64 }
//! ignored = false                 # the cargo-test harness lists ignored checks as ignored trials
//! ```
use super::class_sensitivity::ClassSensitivityCheck;
use super::data_randomization::DataRandomizationCheck;
use super::randomization::RandomizationCheck;
use super::theorem::TheoremCheck;
use super::wall::WallCheck;
use super::Check;
use crate::cam::{methods_from_list, CamMethod};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One declared check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum CheckSpec {
    Wall(WallCheck),
    Theorem(TheoremCheck),
    Randomization(RandomizationCheck),
    DataRandomization(DataRandomizationCheck),
    ClassSensitivity(ClassSensitivityCheck),
}

impl CheckSpec {
    pub fn as_check(&self) -> &dyn Check {
        match self {
            CheckSpec::Wall(c) => c,
            CheckSpec::Theorem(c) => c,
            CheckSpec::Randomization(c) => c,
            CheckSpec::DataRandomization(c) => c,
            CheckSpec::ClassSensitivity(c) => c,
        }
    }
}

/// `methods = "all"` or a list of names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MethodList {
    Named(String),
    List(Vec<String>),
}

impl Default for MethodList {
    fn default() -> Self {
        MethodList::Named("all".into())
    }
}

impl MethodList {
    pub fn resolve(&self) -> Result<Vec<Box<dyn CamMethod>>> {
        match self {
            MethodList::Named(s) => methods_from_list(s),
            MethodList::List(v) => methods_from_list(&v.join(",")),
        }
    }
}

/// A check in a suite, with the harness's `ignored` flag.
#[derive(Debug, Clone)]
pub struct Entry {
    pub spec: CheckSpec,
    pub ignored: bool,
}

/// A parsed suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub methods: MethodList,
    /// Methods outside Rust, run through the file protocol.
    pub external: Vec<crate::cam::external::ExternalSpec>,
    pub checks: Vec<Entry>,
    /// Folder of the suite file, against which relative paths in it resolve.
    pub base: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    methods: MethodList,
    #[serde(default)]
    external: Vec<crate::cam::external::ExternalSpec>,
    #[serde(default)]
    checks: Vec<toml::Table>,
}

impl Suite {
    /// Parses suite text; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Suite> {
        let bad = |what: String| {
            Error::input(
                what,
                origin,
                "see checks/default.toml and docs/checks.md for the suite format",
            )
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            bad(format!(
                "{origin} is not a valid suite: {}",
                e.to_string().trim()
            ))
        })?;
        let mut checks = Vec::new();
        for (i, mut table) in file.checks.into_iter().enumerate() {
            let ignored = match table.remove("ignored") {
                Some(toml::Value::Boolean(b)) => b,
                Some(other) => {
                    return Err(bad(format!(
                        "check {} of {origin}: `ignored` must be true or false, not {other:?}",
                        i + 1
                    )))
                }
                None => false,
            };
            let spec: CheckSpec =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        bad(format!(
                            "check {} of {origin}: {}",
                            i + 1,
                            e.to_string().trim()
                        ))
                    })?;
            checks.push(Entry { spec, ignored });
        }
        if checks.is_empty() {
            return Err(bad(format!("{origin} declares no check")));
        }
        let name = file.name.unwrap_or_else(|| {
            Path::new(origin)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let suite = Suite {
            name,
            description: file.description,
            seed: file.seed,
            methods: file.methods,
            external: file.external,
            checks,
            base: base.to_path_buf(),
        };
        suite.methods.resolve()?;
        Ok(suite.with_paths_resolved())
    }

    /// Reads a suite file.
    pub fn load(path: &Path) -> Result<Suite> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("read the suite", path, e))?;
        Suite::parse(
            &text,
            &path.display().to_string(),
            path.parent().unwrap_or(Path::new(".")),
        )
    }

    /// A suite shipped in `checks/` by name (`default`, `theorem`, `paper`), or a file path.
    pub fn named(name: &str) -> Result<Suite> {
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") || path.components().count() > 1 {
            return Suite::load(path);
        }
        match BUILTIN_SUITES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Suite::parse(text, &format!("checks/{name}.toml"), Path::new(".")),
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
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        for entry in &mut self.checks {
            let data = match &mut entry.spec {
                CheckSpec::Wall(c) => Some(&mut c.data),
                CheckSpec::Randomization(c) => Some(&mut c.data),
                CheckSpec::DataRandomization(c) => Some(&mut c.data),
                CheckSpec::ClassSensitivity(c) => Some(&mut c.data),
                CheckSpec::Theorem(_) => None,
            };
            match data {
                Some(crate::data::DataSpec::Npy { input }) => fix(input),
                Some(crate::data::DataSpec::Folder { folder, .. }) => fix(folder),
                _ => {}
            }
        }
        self
    }
}

/// The suites shipped in `checks/`, embedded so that `--suite NAME` works from any folder.
pub const BUILTIN_SUITES: &[(&str, &str)] = &[
    ("default", include_str!("../../checks/default.toml")),
    ("theorem", include_str!("../../checks/theorem.toml")),
    ("paper", include_str!("../../checks/paper.toml")),
];

impl Suite {
    /// Runs every check (or the `only` subset, by index) and collects one report.
    /// The built-in methods the suite names, then its external ones.
    pub fn all_methods(&self) -> Result<Vec<Box<dyn CamMethod>>> {
        let mut methods = self.methods.resolve()?;
        for spec in &self.external {
            methods.push(Box::new(crate::cam::external::ExternalMethod::new(
                spec.clone(),
            )));
        }
        Ok(methods)
    }

    /// Runs every check, or with `shard = Some((k, n))` the checks whose position i in the suite
    /// has i mod n = k − 1 (a deterministic K-th of the suite), and collects one report.
    pub fn run(
        &self,
        device: tch::Device,
        shard: Option<(usize, usize)>,
    ) -> Result<crate::report::Report> {
        let methods = self.all_methods()?;
        let ctx = super::CheckContext {
            device,
            seed: self.seed,
        };
        let mut report =
            crate::report::Report::new(format!("suite:{}", self.name), self.seed, device);
        report.shard = shard.map(|(k, n)| format!("{k}/{n}"));
        for (i, entry) in self.checks.iter().enumerate() {
            if shard.is_some_and(|(k, n)| i % n != k - 1) {
                continue;
            }
            let check = entry.spec.as_check();
            let results = check.run(&methods, &ctx)?;
            report.checks.push(crate::report::CheckRun {
                check: check.name().into(),
                params: check.params(),
                index: i,
                results: results.len(),
            });
            report.results.extend(results);
        }
        Ok(report)
    }
}
