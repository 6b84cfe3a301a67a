//! The checks blindspot knows by name, each with its findings type (decoded here, so reports
//! and merges never match on check names). [`Registry::builtin`] is the one list of built-in
//! checks: adding a check is its file and one line there (docs/architecture.md has the recipe).
//! A user's own check joins with [`Registry::with`] (the harness offers
//! `SanityHarness::register`).
//!
//! Checks travel type-erased as `Box<dyn DynCheck>`, which every [`Check`] is through a blanket
//! implementation: suites parse them from TOML tables, the command line from clap matches, and
//! the runner, the reports and the harness see only this trait.
use super::result::{Fields, Findings, FindingsDecoder};
use super::{Check, CheckContext, Outcome, Subject};
use crate::cam::CamMethod;
use crate::error::Result;

/// A check of any type: what the runner, suites and the harness need of it.
pub trait DynCheck: Send + Sync + std::fmt::Debug {
    /// The registered name (`wall`, `theorem`, …).
    fn name(&self) -> &'static str;
    /// The parameters as JSON, for the report.
    fn params(&self) -> serde_json::Value;
    fn subject(&self) -> Option<&Subject>;
    fn subject_mut(&mut self) -> Option<&mut Subject>;
    /// The built-in method that decides every verdict, when not the given ones.
    fn fixed_method(&self) -> Option<&'static str>;
    /// Verdicts made for `methods` method evaluations.
    fn verdicts(&self, methods: usize) -> usize;
    /// The models it opens: (spec, weights).
    fn models(&self) -> Vec<(String, Option<std::path::PathBuf>)>;
    /// The files it reads or writes, for suites to resolve.
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf>;
    /// The files it writes, which a suite may only name inside its folder.
    fn written_paths(&self) -> Vec<&std::path::Path>;
    /// The harness's trials: (label, check) per configuration.
    fn configurations(&self) -> Vec<(String, Box<dyn DynCheck>)>;
    /// Work units, when the check splits into them ([`Check::units`]).
    fn units(&self, ctx: &CheckContext) -> Result<Option<usize>>;
    /// Whether shards may split it by method ([`Check::split_by_method`]).
    fn split_by_method(&self) -> bool;
    /// Evidence of some units ([`Check::run_units`]).
    fn run_units(
        &self,
        methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
        units: &[usize],
    ) -> Result<Vec<serde_json::Value>>;
    /// Verdicts from every unit's evidence ([`Check::decide`]).
    fn decide(
        &self,
        methods: &[Box<dyn CamMethod>],
        evidence: Vec<serde_json::Value>,
        ctx: &CheckContext,
    ) -> Result<Outcome>;
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome>;
    fn clone_box(&self) -> Box<dyn DynCheck>;
}

impl<C: Check + Send + Sync + 'static> DynCheck for C {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
    fn subject(&self) -> Option<&Subject> {
        Check::subject(self)
    }
    fn subject_mut(&mut self) -> Option<&mut Subject> {
        Check::subject_mut(self)
    }
    fn fixed_method(&self) -> Option<&'static str> {
        Check::fixed_method(self)
    }
    fn verdicts(&self, methods: usize) -> usize {
        Check::verdicts(self, methods)
    }
    fn models(&self) -> Vec<(String, Option<std::path::PathBuf>)> {
        Check::models(self)
    }
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf> {
        Check::paths_mut(self)
    }
    fn written_paths(&self) -> Vec<&std::path::Path> {
        Check::written_paths(self)
    }
    fn configurations(&self) -> Vec<(String, Box<dyn DynCheck>)> {
        Check::configurations(self)
            .into_iter()
            .map(|(label, c)| (label, Box::new(c) as Box<dyn DynCheck>))
            .collect()
    }
    fn units(&self, ctx: &CheckContext) -> Result<Option<usize>> {
        Check::units(self, ctx)
    }
    fn split_by_method(&self) -> bool {
        Check::split_by_method(self)
    }
    fn run_units(
        &self,
        methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
        units: &[usize],
    ) -> Result<Vec<serde_json::Value>> {
        Check::run_units(self, methods, ctx, units)
    }
    fn decide(
        &self,
        methods: &[Box<dyn CamMethod>],
        evidence: Vec<serde_json::Value>,
        ctx: &CheckContext,
    ) -> Result<Outcome> {
        Check::decide(self, methods, evidence, ctx)
    }
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        Check::run(self, methods, ctx)
    }
    fn clone_box(&self) -> Box<dyn DynCheck> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn DynCheck> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

type FromTable = fn(toml::Table) -> std::result::Result<Box<dyn DynCheck>, String>;
type FromJson = fn(serde_json::Value) -> std::result::Result<Box<dyn DynCheck>, String>;
type FromMatches = fn(&clap::ArgMatches) -> std::result::Result<Box<dyn DynCheck>, clap::Error>;
type Decode = fn(Fields) -> std::result::Result<Findings, serde_json::Error>;

/// One registered check type.
#[derive(Clone)]
struct Registration {
    name: &'static str,
    about: &'static str,
    from_table: FromTable,
    from_json: FromJson,
    command: fn() -> clap::Command,
    from_matches: FromMatches,
    /// Its results' findings from their JSON fields, as its [`Check::Findings`] type.
    decode: Decode,
}

impl Registration {
    fn of<C: Check + Send + Sync + 'static>() -> Self {
        Registration {
            name: C::NAME,
            about: C::ABOUT,
            from_table: |table| {
                let check = strict::<C>(table)?;
                check.validate()?;
                Ok(Box::new(check))
            },
            from_json: |params| {
                let check: C = serde_json::from_value(params).map_err(|e| e.to_string())?;
                check.validate()?;
                Ok(Box::new(check))
            },
            command: || C::augment_args(clap::Command::new(C::NAME).about(C::ABOUT)),
            from_matches: |matches| {
                let check = <C as clap::FromArgMatches>::from_arg_matches(matches)?;
                check.validate().map_err(|e| {
                    let name = C::NAME;
                    // One where and one fix: an error that names its own (an environment
                    // variable's, say) keeps them.
                    let text = match e.contains("\n  where: ") {
                        true => format!("{e}\n"),
                        false => format!(
                            "{e}\n  where: blindspot check {name}\n  fix: see `blindspot check \
                             {name} --help` (docs/cli.md lists every range)\n"
                        ),
                    };
                    clap::Error::raw(clap::error::ErrorKind::ValueValidation, text)
                })?;
                Ok(Box::new(check))
            },
            decode: Findings::decode::<C::Findings>,
        }
    }
}

/// Deserialises a check from its table, refusing keys it does not know. (serde's
/// `deny_unknown_fields` does not combine with the flattened [`Subject`], so the check is made
/// here once for every check: a key that does not come back when the parsed check is
/// serialised again was not used.)
fn strict<C: Check>(table: toml::Table) -> std::result::Result<C, String> {
    let given: Vec<String> = table.keys().cloned().collect();
    // The keys a check takes, read from its command line (built only when a key is wrong).
    let known = || -> Vec<String> {
        C::augment_args(clap::Command::new(C::NAME))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| !id.contains('.'))
            .chain(std::iter::once("data".to_string()))
            .collect()
    };
    // A typo's likely targets: the keys, and the image flags a check's parameters may give
    // beside `data` ([`IMAGE_FLAGS`]).
    let near = |key: &str, known: &[String]| {
        let flags = IMAGE_FLAGS.iter().map(|(flag, _)| *flag);
        closest(key, known.iter().map(String::as_str).chain(flags)).map(str::to_string)
    };
    let unknown = |key: &str, known: &[String]| {
        let hint = match near(key, known) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => String::new(),
        };
        format!(
            "unknown key `{key}` for the {} check{hint} (it takes: {})",
            C::NAME,
            known.join(", ")
        )
    };
    let check: C = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
        // A typo is the likelier cause of a missing or mistyped field: name it first.
        let known = known();
        let typo = given
            .iter()
            .find(|k| !known.contains(k) && near(k, &known).is_some());
        match typo {
            Some(key) => unknown(key, &known),
            None => e.to_string().trim().to_string(),
        }
    })?;
    let used = serde_json::to_value(&check).map_err(|e| e.to_string())?;
    let used: Vec<&String> = used
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    match given.iter().find(|key| !used.contains(key)) {
        Some(key) => Err(unknown(key, &known())),
        None => Ok(check),
    }
}

/// The candidate nearest to `word` by edit distance, when it is close (a typo, not a guess).
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance (small strings: names and keys).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The checks known by name.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<Registration>,
}

impl Registry {
    /// No check at all (build your own with [`Registry::with`]).
    pub fn empty() -> Self {
        Registry::default()
    }

    /// The built-in checks: the one list to extend when a check is added.
    pub fn builtin() -> Self {
        Registry::empty()
            .with::<super::wall::WallCheck>()
            .with::<super::theorem::TheoremCheck>()
            .with::<super::randomization::RandomizationCheck>()
            .with::<super::smooth_mprt::SmoothMprtCheck>()
            .with::<super::efficient_mprt::EfficientMprtCheck>()
            .with::<super::data_randomization::DataRandomizationCheck>()
            .with::<super::class_sensitivity::ClassSensitivityCheck>()
            .with::<super::input_invariance::InputInvarianceCheck>()
            .with::<super::implementation_invariance::ImplementationInvarianceCheck>()
            .with::<super::localisation::PointingGameCheck>()
            .with::<super::localisation::LocalisationCheck>()
            .with::<super::faithfulness::RoadCheck>()
            .with::<super::faithfulness::DeletionCheck>()
            .with::<super::grid::DiFullCheck>()
            .with::<super::grid::DiPartCheck>()
            .with::<super::grid::GridPgCheck>()
            .with::<super::property::wall::PropWallCheck>()
            .with::<super::property::theorem::PropTheoremCheck>()
            .with::<super::property::positivity::PropPositivityCheck>()
            .with::<super::property::vit_wall::PropVitWallCheck>()
    }

    /// Adds a check type; a check of the same name is replaced (a user's version of a built-in).
    pub fn with<C: Check + Send + Sync + 'static>(mut self) -> Self {
        self.entries.retain(|r| r.name != C::NAME);
        self.entries.push(Registration::of::<C>());
        self
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|r| r.name).collect()
    }

    /// A check from a suite's table (`check = "NAME"` plus its parameters).
    #[doc(hidden)]
    pub fn from_table(
        &self,
        mut table: toml::Table,
    ) -> std::result::Result<Box<dyn DynCheck>, String> {
        let name = match table.remove("check") {
            Some(toml::Value::String(name)) => name,
            Some(other) => return Err(format!("`check` must be a name, not {other:?}")),
            None => {
                return Err(format!(
                    "missing key `check` (one of: {})",
                    self.names().join(", ")
                ))
            }
        };
        let Some(entry) = self.entries.iter().find(|r| r.name == name) else {
            let hint = match closest(&name, self.names().into_iter()) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            return Err(format!(
                "unknown check `{name}`; {hint}known checks: {}",
                self.names().join(", ")
            ));
        };
        (entry.from_table)(table)
    }

    /// A check from its name and its parameters as values — a suite's table as JSON (`{"model":
    /// "builtin:stack-masked", "data": {"synthetic": 32}}`), the command line's image flags
    /// accepted beside it (`"synthetic": 32`, `"data_seed"`, `"input"`, `"size"`,
    /// `"preprocess"`, a folder as `"data"`) — refusing an unknown key (with the nearest known
    /// one) and a value out of range, as a suite does. What the Python module's
    /// `blindspot.check(NAME, **params)` builds.
    pub fn check_from_parameters(
        &self,
        name: &str,
        parameters: serde_json::Map<String, serde_json::Value>,
    ) -> crate::error::Result<Box<dyn DynCheck>> {
        let place = format!("the {name} check's parameters");
        let fix = format!(
            "give the parameters of `blindspot check {name} --help` with `_` for `-`, or a \
             suite's keys (docs/checks.md)"
        );
        let parameters = gather_data(parameters)
            .map_err(|e| crate::error::Error::input(e, &place, &fix))?;
        let mut table: toml::Table = serde_json::from_value(serde_json::Value::Object(parameters))
            .map_err(|e| crate::error::Error::input(e.to_string(), &place, &fix))?;
        table.insert("check".into(), toml::Value::String(name.into()));
        self.from_table(table).map_err(|e| crate::error::Error::input(e, &place, &fix))
    }

    /// A check from its name and parameters as a report lists them ([`super::CheckRun`]).
    #[doc(hidden)]
    pub fn from_params(
        &self,
        name: &str,
        params: serde_json::Value,
    ) -> std::result::Result<Box<dyn DynCheck>, String> {
        match self.entries.iter().find(|r| r.name == name) {
            Some(entry) => (entry.from_json)(params),
            None => Err(format!(
                "unknown check `{name}` (known checks: {})",
                self.names().join(", ")
            )),
        }
    }

    /// One clap subcommand per check, for `blindspot check NAME`.
    #[doc(hidden)]
    pub fn commands(&self) -> Vec<clap::Command> {
        self.entries
            .iter()
            .map(|r| (r.command)().about(r.about))
            .collect()
    }

    /// The check a subcommand's matches describe.
    #[doc(hidden)]
    pub fn from_matches(
        &self,
        name: &str,
        matches: &clap::ArgMatches,
    ) -> std::result::Result<Box<dyn DynCheck>, clap::Error> {
        match self.entries.iter().find(|r| r.name == name) {
            Some(entry) => (entry.from_matches)(matches),
            None => Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("unknown check `{name}`"),
            )),
        }
    }
}

/// A result's findings from their JSON fields, decoded by the check that made them as its
/// [`Check::Findings`] type; a check this registry does not know keeps them as JSON
/// ([`super::result::UnknownFindings`]), rendered generically.
impl FindingsDecoder for Registry {
    fn decode_findings(
        &self,
        check: &str,
        fields: Fields,
    ) -> std::result::Result<Findings, String> {
        match self.entries.iter().find(|r| r.name == check) {
            Some(entry) => (entry.decode)(fields).map_err(|e| e.to_string()),
            None => Ok(Findings::unknown(fields)),
        }
    }
}

/// The command line's image flags a check's parameters may give beside `data` (with `_` for
/// `-`), and the key of the `data` table each one is; `data` itself, as a string, is a folder.
const IMAGE_FLAGS: [(&str, &str); 5] = [
    ("synthetic", "synthetic"),
    ("input", "input"),
    ("data_seed", "seed"),
    ("size", "size"),
    ("preprocess", "preprocess"),
];

/// The command line's image flags ([`IMAGE_FLAGS`]), accepted as parameters of a check beside a
/// suite's `data` table (`synthetic = 32` is `data = { synthetic = 32 }`). A value of `null` is
/// left out.
fn gather_data(
    parameters: serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    let mut data = serde_json::Map::new();
    for (key, value) in parameters {
        if value.is_null() {
            continue;
        }
        let flag = IMAGE_FLAGS.iter().find(|(flag, _)| *flag == key);
        let inner = match (flag, key.as_str()) {
            (Some((_, inner)), _) => Some(inner.to_string()),
            (None, "data") if value.is_string() => Some("folder".into()),
            _ => None,
        };
        match inner {
            Some(inner) => {
                data.insert(inner, value);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    if !data.is_empty() {
        match out.get_mut("data") {
            Some(serde_json::Value::Object(table)) => {
                for (k, v) in data {
                    if table.insert(k.clone(), v).is_some() {
                        return Err(format!("`{k}` given twice: in `data` and beside it"));
                    }
                }
            }
            Some(_) => return Err("`data` must be a table or a folder".into()),
            None => {
                out.insert("data".into(), serde_json::Value::Object(data));
            }
        }
    }
    Ok(out)
}
