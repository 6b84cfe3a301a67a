//! A run's report and its results as Python objects: typed fields read from the report's
//! structs (never from its JSON), the same output folder as the command line, and the exit
//! code's meaning as a property.
use crate::VerdictError;
use blindspot::frontend::escape_html as esc;
use blindspot::{CheckResult, Gallery, Run, Verdict, Worst};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_tch::PyTensor;
use serde::{Deserialize, Serialize};

/// Where one negative control landed beside a randomization-type check's verdicts.
#[pyclass(name = "Control", module = "blindspot", frozen, get_all)]
#[derive(Clone, Serialize, Deserialize)]
pub struct ControlOutcome {
    /// `randomcam`, `sobel` or `constant`.
    method: String,
    /// Its verdict under the check's rule: a pass makes every method's verdict inconclusive.
    verdict: String,
    mean: f64,
    /// (low, high): the bounds the rule read.
    interval: (f64, f64),
}

#[pymethods]
impl ControlOutcome {
    fn __repr__(&self) -> String {
        format!(
            "<blindspot.Control {}: {}, mean {:.6} in [{:.6}, {:.6}]>",
            self.method, self.verdict, self.mean, self.interval.0, self.interval.1
        )
    }
}

/// One verdict with the statistics behind it.
#[pyclass(name = "Result", module = "blindspot", frozen, get_all)]
#[derive(Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The check (`wall`, `randomization`, …).
    check: String,
    /// The method's name.
    method: String,
    /// The method's display name.
    title: String,
    /// "pass", "fail", "inconclusive" or "error".
    verdict: String,
    /// The verdict the suite or `expect_pass` expects, if any.
    expected: Option<String>,
    /// Whether the verdict is the expected one (an undeclared expectation accepts any verdict
    /// but an error).
    as_expected: bool,
    /// The test statistic's name.
    statistic: String,
    /// Number of samples behind the verdict.
    n: usize,
    mean: f64,
    std: f64,
    /// (low, high): the interval the rule reads; one end is the sample's own min or max when
    /// the bound is one-sided.
    interval: (f64, f64),
    /// The interval's coverage (1 − α per side for a one-sided bound).
    level: f64,
    /// How the interval was computed.
    interval_method: String,
    /// The decision rule in words.
    rule: String,
    /// Why, in words: the rule applied to the numbers.
    reason: String,
    /// The per-sample statistic (None where it is undefined).
    per_sample: Vec<Option<f64>>,
    /// The configuration, for checks that run several (the theorem's V, a layer order).
    configuration: Option<String>,
    /// For R ≥ 2 independent randomizations: each draw's per-image values (`per_sample` holds
    /// their means per image); empty otherwise.
    draws: Vec<Vec<f64>>,
    /// The negative controls run beside the method (randomization-type checks).
    controls: Vec<ControlOutcome>,
}

impl Outcome {
    fn from(r: &CheckResult) -> Outcome {
        let s = &r.summary;
        Outcome {
            check: r.check.clone(),
            method: r.method.clone(),
            title: r.title.clone(),
            verdict: r.verdict.to_string(),
            expected: r.expected.map(|v| v.to_string()),
            as_expected: r.as_expected(),
            statistic: r.statistic.clone(),
            n: s.n,
            mean: s.mean,
            std: s.std,
            interval: (s.ci_low, s.ci_high),
            level: s.ci_level,
            interval_method: s.interval.clone(),
            rule: r.rule.clone(),
            reason: r.reason.clone(),
            per_sample: r.per_sample.clone(),
            configuration: r.configuration(),
            draws: r.draws.clone(),
            controls: r
                .controls
                .iter()
                .map(|c| ControlOutcome {
                    method: c.method.clone(),
                    verdict: c.verdict.to_string(),
                    mean: c.mean,
                    interval: (c.ci_low, c.ci_high),
                })
                .collect(),
        }
    }

    /// The lines a failing gate prints: the verdict, the statistic and interval, the rule.
    fn explain(&self) -> String {
        let config = self
            .configuration
            .as_ref()
            .map_or(String::new(), |c| format!(" [{c}]"));
        let expected = self
            .expected
            .as_ref()
            .map_or(String::new(), |e| format!(" (expected {e})"));
        format!(
            "{} {}{config}: {}{expected}\n  {}: mean {:.6} (std {:.6}, n = {}), interval \
             [{:.6}, {:.6}] ({})\n  rule: {}\n  reason: {}",
            self.check,
            self.method,
            self.verdict.to_uppercase(),
            self.statistic,
            self.mean,
            self.std,
            self.n,
            self.interval.0,
            self.interval.1,
            self.interval_method,
            self.rule,
            self.reason
        )
    }
}

#[pymethods]
impl Outcome {
    /// Whether the verdict is a pass.
    #[getter]
    fn passed(&self) -> bool {
        self.verdict == Verdict::Pass.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<blindspot.Result {} {}: {}, mean {:.6} in [{:.6}, {:.6}], n = {}>",
            self.check,
            self.method,
            self.verdict,
            self.mean,
            self.interval.0,
            self.interval.1,
            self.n
        )
    }

    fn __str__(&self) -> String {
        self.explain()
    }

    /// Every field as plain Python data (the controls as dicts).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = serde_json::to_string(self).map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// The result as a table: the verdict, its statistics and the rule.
    fn _repr_html_(&self) -> String {
        let mut rows = vec![
            ("check", esc(&self.check)),
            ("method", esc(&format!("{} ({})", self.title, self.method))),
            ("verdict", verdict_html(&self.verdict)),
        ];
        if let Some(c) = &self.configuration {
            rows.push(("configuration", esc(c)));
        }
        if let Some(e) = &self.expected {
            rows.push(("expected", esc(e)));
        }
        rows.extend([
            ("statistic", esc(&self.statistic)),
            ("n", self.n.to_string()),
            ("mean (std)", format!("{:.6} ({:.6})", self.mean, self.std)),
            (
                "interval",
                format!(
                    "[{:.6}, {:.6}] at {:.4} ({})",
                    self.interval.0,
                    self.interval.1,
                    self.level,
                    esc(&self.interval_method)
                ),
            ),
            ("rule", esc(&self.rule)),
            ("reason", esc(&self.reason)),
        ]);
        for c in &self.controls {
            rows.push((
                "control",
                format!(
                    "{} {}: mean {:.6} in [{:.6}, {:.6}]",
                    esc(&c.method),
                    verdict_html(&c.verdict),
                    c.mean,
                    c.interval.0,
                    c.interval.1
                ),
            ));
        }
        let body: String = rows
            .iter()
            .map(|(k, v)| format!("<tr><th style=\"text-align:left\">{k}</th><td>{v}</td></tr>"))
            .collect();
        format!("<table class=\"blindspot-result\">{body}</table>")
    }

    /// Pickles as its fields.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = serde_json::to_string(self).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let restore = py.import("blindspot._api")?.getattr("_restore_result")?;
        Ok((restore, (text,)))
    }
}

/// A verdict as a coloured word.
fn verdict_html(verdict: &str) -> String {
    let colour = match verdict {
        "pass" => "#1a7f37",
        "fail" => "#cf222e",
        "inconclusive" => "#9a6700",
        _ => "#6e7781",
    };
    format!(
        "<span style=\"background:{colour};color:white;padding:0 .4em;border-radius:3px;\
         font-weight:600\">{}</span>",
        esc(verdict)
    )
}

/// A pickled result back (`Result.__reduce__`).
#[pyfunction]
pub fn _restore_result(text: &str) -> PyResult<Outcome> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A run's report: its results, the output folder the command line writes, and whether every
/// verdict is the expected one (the command line's exit code).
/// Shareable across Python threads (a check run on a worker thread, read on the main one, as
/// pytest's plugin does): the run behind a mutex, since its tensors are `Send` but not `Sync`.
#[pyclass(name = "Report", module = "blindspot")]
pub struct PyReport {
    run: std::sync::Mutex<Run>,
}

impl PyReport {
    pub fn new(run: Run) -> PyReport {
        PyReport {
            run: std::sync::Mutex::new(run),
        }
    }

    /// The run (a panic in another reader leaves it as it was: read it anyway).
    fn run(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn only(&self) -> PyResult<Outcome> {
        match self.run().report.results.as_slice() {
            [one] => Ok(Outcome::from(one)),
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|r| {
                        let c = r
                            .configuration()
                            .map_or(String::new(), |c| format!(" [{c}]"));
                        format!("{} {}{c}", r.check, r.method)
                    })
                    .collect();
                Err(PyValueError::new_err(format!(
                    "this report holds {} results ({}), not one: pick one from .results or \
                     with .result(method=…)",
                    many.len(),
                    names.join(", ")
                )))
            }
        }
    }
}

#[pymethods]
impl PyReport {
    /// Every result, in the report's order.
    #[getter]
    fn results(&self) -> Vec<Outcome> {
        self.run()
            .report
            .results
            .iter()
            .map(Outcome::from)
            .collect()
    }

    /// The one result of `method` (and of `check`, when several checks ran).
    #[pyo3(signature = (method, check=None))]
    fn result(&self, method: &str, check: Option<&str>) -> PyResult<Outcome> {
        let run = self.run();
        let found: Vec<&CheckResult> = run
            .report
            .results
            .iter()
            .filter(|r| r.method == method && check.is_none_or(|c| r.check == c))
            .collect();
        match found.as_slice() {
            [one] => Ok(Outcome::from(one)),
            [] => Err(PyIndexError::new_err(format!(
                "no result of method `{method}`{} in this report",
                check.map_or(String::new(), |c| format!(" in check `{c}`"))
            ))),
            many => Err(PyValueError::new_err(format!(
                "{} results of method `{method}`: pick one from .results",
                many.len()
            ))),
        }
    }

    /// The results whose verdict is not the expected one.
    #[getter]
    fn unexpected(&self) -> Vec<Outcome> {
        self.run()
            .report
            .unexpected()
            .into_iter()
            .map(Outcome::from)
            .collect()
    }

    /// Whether every verdict is the expected one.
    #[getter]
    fn ok(&self) -> bool {
        self.run().report.unexpected().is_empty()
    }

    /// The command line's exit code for this report: 0 when every verdict is as expected, 1
    /// otherwise.
    #[getter]
    fn exit_code(&self) -> u8 {
        u8::from(!self.ok())
    }

    /// The one result's verdict (an error when the report holds several: see `.results`).
    #[getter]
    fn verdict(&self) -> PyResult<String> {
        Ok(self.only()?.verdict)
    }

    /// Whether the one result passed.
    #[getter]
    fn passed(&self) -> PyResult<bool> {
        Ok(self.only()?.passed())
    }

    #[getter]
    fn mean(&self) -> PyResult<f64> {
        Ok(self.only()?.mean)
    }

    #[getter]
    fn interval(&self) -> PyResult<(f64, f64)> {
        Ok(self.only()?.interval)
    }

    #[getter]
    fn n(&self) -> PyResult<usize> {
        Ok(self.only()?.n)
    }

    #[getter]
    fn reason(&self) -> PyResult<String> {
        Ok(self.only()?.reason)
    }

    #[getter]
    fn rule(&self) -> PyResult<String> {
        Ok(self.only()?.rule)
    }

    #[getter]
    fn statistic(&self) -> PyResult<String> {
        Ok(self.only()?.statistic)
    }

    /// How the verdicts compare with what was expected, in words.
    #[getter]
    fn summary(&self) -> String {
        self.run().report.expectation_summary()
    }

    /// Raises `VerdictError` (an AssertionError) listing every verdict that is not the
    /// expected one, each with its statistic, interval and rule.
    fn require(&self) -> PyResult<()> {
        let unexpected = self.unexpected();
        if unexpected.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = unexpected.iter().map(|r| r.explain()).collect();
        Err(VerdictError::new_err(format!(
            "{}\n{}",
            self.run().report.expectation_summary(),
            lines.join("\n")
        )))
    }

    /// Writes the command line's output folder (report.html, report.json, report.md,
    /// junit.xml, badges/, figures/) to `dir`, staged so that a failure leaves nothing
    /// half-written; returns the files written.
    fn write(&self, dir: std::path::PathBuf) -> PyResult<Vec<std::path::PathBuf>> {
        blindspot::frontend::write_folder(&self.run(), &dir).map_err(|e| {
            crate::BlindspotError::new_err(blindspot::frontend::printable(&e.to_string()))
        })
    }

    /// report.json's text (the same as `to_json()`).
    fn json(&self) -> String {
        self.run().report.to_json()
    }

    /// report.json's text (docs/report-schema.md).
    fn to_json(&self) -> String {
        self.json()
    }

    /// report.json as plain Python data (dicts, lists, numbers, strings).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (self.json(),))
    }

    /// One flat dict per result, for `pandas.DataFrame(report.to_records())`: the check, the
    /// method, the verdict and what it was expected to be, and the statistics behind it.
    fn to_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = PyList::empty(py);
        for r in self.results() {
            let d = PyDict::new(py);
            d.set_item("check", &r.check)?;
            d.set_item("method", &r.method)?;
            d.set_item("title", &r.title)?;
            d.set_item("configuration", &r.configuration)?;
            d.set_item("verdict", &r.verdict)?;
            d.set_item("expected", &r.expected)?;
            d.set_item("as_expected", r.as_expected)?;
            d.set_item("statistic", &r.statistic)?;
            d.set_item("n", r.n)?;
            d.set_item("mean", r.mean)?;
            d.set_item("std", r.std)?;
            d.set_item("ci_low", r.interval.0)?;
            d.set_item("ci_high", r.interval.1)?;
            d.set_item("level", r.level)?;
            d.set_item("interval_method", &r.interval_method)?;
            d.set_item("rule", &r.rule)?;
            d.set_item("reason", &r.reason)?;
            records.append(d)?;
        }
        Ok(records)
    }

    /// report.html's page in an isolated frame (its styles stay inside): the verdict matrix,
    /// each check's statistics and charts, Figure 1 for a wall check.
    fn _repr_html_(&self) -> PyResult<String> {
        let page = blindspot::frontend::html_page(&self.run()).map_err(|e| {
            crate::BlindspotError::new_err(blindspot::frontend::printable(&e.to_string()))
        })?;
        Ok(format!(
            "<iframe srcdoc=\"{}\" style=\"width:100%;height:640px;border:1px solid \
             #d0d7de;border-radius:6px\" sandbox=\"allow-scripts\"></iframe>",
            esc(&page)
        ))
    }

    /// Pickles as report.json's text and the pictures (tensors), so that a restored report
    /// writes the same output folder.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, PyObject)> {
        let run = self.run();
        let galleries: Vec<GalleryState> = run.galleries.iter().map(gallery_state).collect();
        let restore = py.import("blindspot._api")?.getattr("_restore_report")?;
        let args = (run.report.to_json(), galleries).into_pyobject(py)?;
        Ok((restore, args.into_any().unbind()))
    }

    /// The terminal table the command line prints.
    fn table(&self) -> String {
        blindspot::frontend::table(&self.run().report)
    }

    fn __str__(&self) -> String {
        format!(
            "{}\n{}",
            self.table(),
            self.run().report.expectation_summary()
        )
    }

    fn __repr__(&self) -> String {
        // One lock for both fields (a second one in the same statement would wait forever).
        let run = self.run();
        format!(
            "<blindspot.Report {}: {}>",
            run.report.check,
            run.report.expectation_summary()
        )
    }

    fn __len__(&self) -> usize {
        self.run().report.results.len()
    }
}

/// A worst-images panel as a pickle holds it: (title, indices, µ, images, maps).
type WorstState = (String, Vec<i64>, Vec<f64>, PyTensor, PyTensor);

/// A gallery as a pickle holds it: (images, titles, maps, run, wall rows, worst panels).
type GalleryState = (
    PyTensor,
    Vec<String>,
    Vec<PyTensor>,
    usize,
    Option<(i64, i64)>,
    Vec<WorstState>,
);

fn gallery_state(g: &Gallery) -> GalleryState {
    (
        PyTensor(g.images.shallow_clone()),
        g.titles.clone(),
        g.maps.iter().map(|m| PyTensor(m.shallow_clone())).collect(),
        g.run,
        g.wall_rows,
        g.worst
            .iter()
            .map(|w| {
                (
                    w.title.clone(),
                    w.indices.clone(),
                    w.mu.clone(),
                    PyTensor(w.images.shallow_clone()),
                    PyTensor(w.maps.shallow_clone()),
                )
            })
            .collect(),
    )
}

/// A pickled report back (`Report.__reduce__`).
#[pyfunction]
pub fn _restore_report(text: &str, galleries: Vec<GalleryState>) -> PyResult<PyReport> {
    let report = blindspot::frontend::report_from_json(text, "a pickled blindspot.Report")
        .map_err(|e| {
            crate::BlindspotError::new_err(blindspot::frontend::printable(&e.to_string()))
        })?;
    let galleries = galleries
        .into_iter()
        .map(|(images, titles, maps, run, wall_rows, worst)| Gallery {
            images: images.0,
            titles,
            maps: maps.into_iter().map(|m| m.0).collect(),
            run,
            wall_rows,
            worst: worst
                .into_iter()
                .map(|(title, indices, mu, images, maps)| Worst {
                    title,
                    indices,
                    mu,
                    images: images.0,
                    maps: maps.0,
                })
                .collect(),
        })
        .collect();
    Ok(PyReport::new(Run::new(report, galleries)))
}
