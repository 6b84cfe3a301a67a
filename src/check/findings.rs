//! A check's own numbers, owned by the check: each [`super::Check`] names its findings type
//! ([`super::Check::Findings`], a serde struct implementing [`CheckFindings`]), which says how
//! its results are encoded and decoded (serde), how the terminal table prints them and what
//! their badge says. The [`super::Registry`] decodes a result's findings by asking the check
//! that made it, so `Report::from_json`, `blindspot merge` and the renderers never match on
//! check names, and a new check with typed findings is its file and one registry line
//! (tests/architecture.rs registers one).
//!
//! Results travel as [`Findings`]: a type-erased box that a renderer reads back as the struct
//! it knows ([`Findings::get`]), e.g. the theorem charts read [`super::theorem::TheoremFindings`]
//! fields, never string keys out of JSON.
use super::{CheckResult, Verdict};
use crate::io::number::{fixed, pct};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::any::Any;

/// The JSON fields of a result that hold its findings (`detail`, the wall's `wall`, the
/// theorem's configuration, …), flattened into the result's object.
pub type Fields = Map<String, Value>;

/// What a check's findings say for themselves. Every method has a default: a type that only
/// derives serde gets the generic table line (mean ± std, interval, n) and badge (the mean).
pub trait CheckFindings:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
    /// What tells apart the results one check makes for one method (the theorem's
    /// `V=512 tau=1 scale=0.5`); None when the check makes one result per method.
    fn configuration(&self) -> Option<String> {
        None
    }

    /// Whether the table, report.md and the badge show the mean as a percentage (a share).
    fn as_percent(&self) -> bool {
        false
    }

    /// The table's header for this check's block (the first result's findings decide); None for
    /// the generic columns.
    fn table_header(&self, _first: &CheckResult) -> Option<String> {
        None
    }

    /// The table's line(s) for `result`; None for the generic line.
    fn table_line(&self, _result: &CheckResult) -> Option<String> {
        None
    }

    /// The badge's label for check `check`; None for the check's name, hyphens as spaces.
    fn badge_label(&self, _check: &str) -> Option<String> {
        None
    }

    /// The badge's message for a verdict other than an error; None for the mean and verdict.
    fn badge_message(&self, _result: &CheckResult) -> Option<String> {
        None
    }

    /// report.md's cell for a verdict other than an error; None for the mean ± std.
    fn markdown_cell(&self, _result: &CheckResult) -> Option<String> {
        None
    }
}

/// A model as a badge names it: a built-in by its name, a file by its file name (badges are
/// short, and a path says nothing to a reader of a README).
pub fn badge_model(model: &str) -> String {
    match model.strip_prefix("builtin:") {
        Some(name) => name.to_string(),
        None => std::path::Path::new(model)
            .file_name()
            .map_or(model.to_string(), |n| n.to_string_lossy().into_owned()),
    }
}

/// The object-safe face of [`CheckFindings`], implemented for every findings type.
trait Erased: std::fmt::Debug + Send + Sync {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize;
    fn fields(&self) -> Fields;
    fn clone_box(&self) -> Box<dyn Erased>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn configuration(&self) -> Option<String>;
    fn as_percent(&self) -> bool;
    fn table_header(&self, first: &CheckResult) -> Option<String>;
    fn table_line(&self, result: &CheckResult) -> Option<String>;
    fn badge_label(&self, check: &str) -> Option<String>;
    fn badge_message(&self, result: &CheckResult) -> Option<String>;
    fn markdown_cell(&self, result: &CheckResult) -> Option<String>;
}

impl<T: CheckFindings> Erased for T {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn fields(&self) -> Fields {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A findings type is a struct of numbers and strings: it serialises to an object.
            Ok(other) => Map::from_iter([("detail".to_string(), other)]),
            Err(e) => Map::from_iter([("detail".to_string(), Value::String(e.to_string()))]),
        }
    }
    fn clone_box(&self) -> Box<dyn Erased> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn configuration(&self) -> Option<String> {
        CheckFindings::configuration(self)
    }
    fn as_percent(&self) -> bool {
        CheckFindings::as_percent(self)
    }
    fn table_header(&self, first: &CheckResult) -> Option<String> {
        CheckFindings::table_header(self, first)
    }
    fn table_line(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::table_line(self, result)
    }
    fn badge_label(&self, check: &str) -> Option<String> {
        CheckFindings::badge_label(self, check)
    }
    fn badge_message(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::badge_message(self, result)
    }
    fn markdown_cell(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::markdown_cell(self, result)
    }
}

/// The findings of a check this build does not know (a report written with a user's check,
/// read without its registry): kept as JSON, rendered generically, written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnknownFindings(pub Fields);

impl CheckFindings for UnknownFindings {}

/// One result's findings, of the type its check declares; none for a result that failed before
/// any number existed (`"detail": null` in JSON).
pub struct Findings(Option<Box<dyn Erased>>);

impl Findings {
    /// No findings: the result is an error.
    pub fn none() -> Self {
        Findings(None)
    }

    /// A check's findings.
    pub fn new<T: CheckFindings>(findings: T) -> Self {
        Findings(Some(Box::new(findings)))
    }

    /// The findings as type `T`, when they are of that type.
    pub fn get<T: CheckFindings>(&self) -> Option<&T> {
        self.0.as_ref()?.as_any().downcast_ref()
    }

    /// Mutable access to the findings as type `T`.
    pub fn get_mut<T: CheckFindings>(&mut self) -> Option<&mut T> {
        self.0.as_mut()?.as_any_mut().downcast_mut()
    }

    /// Whether the result has no findings (an error).
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether the findings are still undecoded JSON (of a check this build does not know).
    pub fn is_unknown(&self) -> bool {
        self.get::<UnknownFindings>().is_some()
    }

    /// The result's findings fields as JSON.
    pub fn fields(&self) -> Fields {
        match &self.0 {
            Some(f) => f.fields(),
            None => Map::from_iter([("detail".to_string(), Value::Null)]),
        }
    }

    /// Decodes a result's findings fields as type `T` (`{"detail": null}` is none).
    pub fn decode<T: CheckFindings>(fields: Fields) -> Result<Self, serde_json::Error> {
        if Self::nothing(&fields) {
            return Ok(Findings::none());
        }
        Ok(Findings::new(serde_json::from_value::<T>(Value::Object(
            fields,
        ))?))
    }

    /// Findings fields kept as JSON until a registry decodes them.
    pub fn unknown(fields: Fields) -> Self {
        match Self::nothing(&fields) {
            true => Findings::none(),
            false => Findings::new(UnknownFindings(fields)),
        }
    }

    fn nothing(fields: &Fields) -> bool {
        fields.len() == 1 && fields.get("detail") == Some(&Value::Null)
    }

    /// See [`CheckFindings::configuration`].
    pub fn configuration(&self) -> Option<String> {
        self.0.as_ref()?.configuration()
    }

    /// See [`CheckFindings::as_percent`].
    pub fn as_percent(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.as_percent())
    }

    /// See [`CheckFindings::table_header`].
    pub fn table_header(&self, first: &CheckResult) -> Option<String> {
        self.0.as_ref()?.table_header(first)
    }

    /// See [`CheckFindings::table_line`].
    pub fn table_line(&self, result: &CheckResult) -> Option<String> {
        self.0.as_ref()?.table_line(result)
    }

    /// The badge's label for `check` ([`CheckFindings::badge_label`]).
    pub fn badge_label(&self, check: &str) -> String {
        self.0
            .as_ref()
            .and_then(|f| f.badge_label(check))
            .unwrap_or_else(|| check.replace('-', " "))
    }

    /// The badge's message ([`CheckFindings::badge_message`]): `error` for an error.
    pub fn badge_message(&self, result: &CheckResult) -> String {
        if result.verdict == Verdict::Error {
            return "error".into();
        }
        if let Some(message) = self.0.as_ref().and_then(|f| f.badge_message(result)) {
            return message;
        }
        let mean = result.summary.mean;
        match self.as_percent() {
            true => format!("{} {}", pct(mean, 1), result.verdict),
            false => format!("{} {}", fixed(mean, 2), result.verdict),
        }
    }

    /// report.md's cell text after the verdict's mark ([`CheckFindings::markdown_cell`]).
    pub fn markdown_cell(&self, result: &CheckResult) -> String {
        if result.verdict == Verdict::Error {
            return "error".into();
        }
        if let Some(cell) = self.0.as_ref().and_then(|f| f.markdown_cell(result)) {
            return cell;
        }
        let s = &result.summary;
        match self.as_percent() {
            true => format!("{} ± {}", fixed(100.0 * s.mean, 1), pct(s.std, 1)),
            false => format!("{} ± {}", fixed(s.mean, 2), fixed(s.std, 2)),
        }
    }
}

impl Clone for Findings {
    fn clone(&self) -> Self {
        Findings(self.0.as_ref().map(|f| f.clone_box()))
    }
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(findings) => findings.fmt(f),
            None => f.write_str("no findings"),
        }
    }
}

/// Findings are equal when they say the same in JSON, whether decoded or not.
impl PartialEq for Findings {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

/// In the order of the type's fields (what the reports are byte-compared on).
impl Serialize for Findings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(findings) => erased_serde::serialize(findings.as_serialize(), s),
            None => self.fields().serialize(s),
        }
    }
}
