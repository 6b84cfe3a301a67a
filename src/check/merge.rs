//! `blindspot merge`: shard reports back into the report one machine would have written.
//!
//! Nothing a shard says is taken on trust: every shard must come from the same suite (its
//! SHA-256), seed, blindspot version, precision and error control; every whole check's results
//! must agree with their own evidence ([`super::audit`]); every check and every work unit of a
//! split check must be present exactly once. The split checks' verdicts are decided here, once,
//! from the pooled evidence of all their units ([`super::units`]), by the check itself, rebuilt
//! from its parameters through the [`Registry`]: the same decision an unsharded run makes. The
//! registry decodes every result's findings too, as the type its check declares.
use super::runner::decide_recorded;
use super::units::{expectation, Evidence, Split};
use super::result::FindingsDecoder as _;
use super::{CheckContext, CheckResult, CheckRun, Registry, Report};
use crate::error::{Error, Result};

const PLACE: &str = "blindspot merge";

/// Merges shard reports of one suite back into the report the whole suite would give; the
/// checks of `registry` decide the split checks (a user's own checks included).
///
/// Long: the merge's refusals in the order a reader verifies them (decoding, one suite, shard
/// labels, partial merges, every check complete), each with its own message.
pub fn merge(mut shards: Vec<Report>, allow_partial: bool, registry: &Registry) -> Result<Report> {
    // Each result's findings as its check's type, decoded by the check (the audit reads them).
    for shard in &mut shards {
        let name = shard.shard.clone().unwrap_or_else(|| shard.check.clone());
        shard.decode_findings(registry).map_err(|e| {
            Error::input(
                format!("shard {name} does not decode: {e}"),
                PLACE,
                "merge the report.json files blindspot wrote, unedited",
            )
        })?;
    }
    let Some(first) = shards.first() else {
        return Err(Error::input(
            "no report to merge",
            PLACE,
            "pass the shards' report.json files",
        ));
    };
    // Which shards of how many: all of them, each once, unless a partial merge is asked for.
    let mut present = Vec::new();
    let mut total = None;
    for shard in &shards {
        // K/N as `--shard` takes it: 1 <= K <= N <= the most shards (0/2 or 3/2 name no shard).
        let parsed = shard.shard.as_deref().and_then(|t| {
            let (k, n) = t.split_once('/')?;
            let (k, n) = (k.parse::<usize>().ok()?, n.parse::<usize>().ok()?);
            (1 <= k && k <= n && n <= super::shard::MAX_SHARDS).then_some((k, n))
        });
        let Some((k, n)) = parsed else {
            return Err(Error::input(
                format!(
                    "a report of `{}` is not a shard (no `shard: K/N` with 1 <= K <= N <= {})",
                    shard.check,
                    super::shard::MAX_SHARDS
                ),
                PLACE,
                "merge the report.json files written by `blindspot run --shard K/N`",
            ));
        };
        if *total.get_or_insert(n) != n {
            return Err(Error::input(
                "the reports come from different shardings (different N in K/N)",
                PLACE,
                "merge the shards of one `--shard K/N` run",
            ));
        }
        present.push(k);
    }
    let n = total.unwrap_or(0);
    present.sort_unstable();
    if let Some(k) = present.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]) {
        return Err(Error::input(
            format!("shard {k}/{n} is given twice: its checks would appear in two shards"),
            PLACE,
            "merge each shard once",
        ));
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !present.contains(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    let partial = match (missing.is_empty(), allow_partial) {
        (true, _) => None,
        (false, true) => Some(format!("missing shards {}", missing.join(", "))),
        (false, false) => {
            return Err(Error::input(
                format!("shards {} are missing", missing.join(", ")),
                PLACE,
                "pass every shard's report.json, or --allow-partial to merge what there is \
                 (the report is then marked partial)",
            ))
        }
    };
    let mut merged = Report {
        shard: None,
        partial,
        models: Vec::new(),
        checks: Vec::new(),
        results: Vec::new(),
        evidence: Vec::new(),
        timing: Default::default(),
        ..first.clone()
    };
    let mut parts: Vec<(CheckRun, Vec<CheckResult>)> = Vec::new();
    for shard in &shards {
        agrees(shard, first)?;
        // As the shards measured it: times are not evidence, and nothing is decided on them.
        merged.timing.absorb(&shard.timing);
        for model in &shard.models {
            if !merged.models.contains(model) {
                merged.models.push(model.clone());
            }
        }
        for (run, results) in shard.runs() {
            if parts.iter().any(|(r, _)| r.index == run.index) {
                return Err(Error::input(
                    format!("check {} appears in two shards", run.index),
                    PLACE,
                    "merge each shard once",
                ));
            }
            parts.push((run.clone(), results.to_vec()));
        }
    }
    let undecided = decide_split(&shards, registry, allow_partial, &mut parts)?;
    if !undecided.is_empty() {
        let missing = merged.partial.take().into_iter();
        merged.partial = Some(missing.chain(undecided).collect::<Vec<_>>().join("; "));
    }
    merged
        .models
        .sort_by(|a, b| (&a.spec, &a.sha256).cmp(&(&b.spec, &b.sha256)));
    parts.sort_by_key(|(run, _)| run.index);
    // All shards of a suite of m checks hold the checks 0..m, each once.
    if merged.partial.is_none() {
        if let Some((i, (run, _))) = parts.iter().enumerate().find(|(i, (r, _))| r.index != *i) {
            return Err(Error::input(
                format!(
                    "the shards hold no check {i} but a check {}: a shard lists a check \
                     the suite does not have",
                    run.index
                ),
                PLACE,
                "merge reports as `blindspot run --shard K/N` wrote them",
            ));
        }
    }
    for (run, results) in parts {
        // A check's negative controls ran once per look on that look's images and draws (on
        // every shard alike): every result decided at the same look carries the same ones, or
        // one of them was edited.
        let differing = results.iter().find_map(|r| {
            let first = results.iter().find(|f| f.looks == r.looks)?;
            (r.controls != first.controls).then_some((r, first))
        });
        if let Some((r, first)) = differing {
            return Err(Error::input(
                format!(
                    "check {} ({}): the negative controls recorded with `{}` differ from those \
                     recorded with `{}` at the same look",
                    run.index, run.check, r.method, first.method
                ),
                PLACE,
                "merge reports as `blindspot run --shard K/N` wrote them; a report edited by \
                 hand is never merged (run that shard again)",
            ));
        }
        merged.checks.push(run);
        merged.results.extend(results);
    }
    Ok(merged)
}

/// Refuses a shard that does not come from the same run as `first`, or whose whole checks'
/// results contradict their own evidence.
fn agrees(shard: &Report, first: &Report) -> Result<()> {
    let key = |r: &Report| {
        (
            r.check.clone(),
            r.seed,
            r.schema.clone(),
            r.blindspot.clone(),
        )
    };
    if key(shard) != key(first) {
        return Err(Error::input(
            format!(
                "cannot merge `{}` (seed {}, blindspot {}, schema {}) with `{}` (seed {}, \
                 blindspot {}, schema {})",
                shard.check,
                shard.seed,
                shard.blindspot,
                shard.schema,
                first.check,
                first.seed,
                first.blindspot,
                first.schema
            ),
            PLACE,
            "merge the shards of one suite run with one seed, all written by one blindspot \
             version",
        ));
    }
    if shard.suite_sha256 != first.suite_sha256 {
        return Err(Error::input(
            format!(
                "shard {} comes from another suite than shard {}: `{}` was edited \
                 between them (suite SHA-256 {} against {})",
                shard.shard.as_deref().unwrap_or("?"),
                first.shard.as_deref().unwrap_or("?"),
                first.check,
                shard.suite_sha256.as_deref().unwrap_or("none"),
                first.suite_sha256.as_deref().unwrap_or("none")
            ),
            PLACE,
            "run every shard from the same suite file",
        ));
    }
    if shard.partial.is_some() {
        return Err(Error::input(
            "a partial merge is not a shard: its missing shards would vanish",
            PLACE,
            "merge the shards' own report.json files",
        ));
    }
    if let Some(run) = shard.checks.iter().find(|c| c.results == 0) {
        return Err(Error::input(
            format!(
                "check {} of shard {} lists no result: its verdicts would vanish",
                run.index,
                shard.shard.as_deref().unwrap_or("?")
            ),
            PLACE,
            "merge reports as `blindspot run --shard K/N` wrote them",
        ));
    }
    if shard.checks.iter().map(|c| c.results).sum::<usize>() != shard.results.len() {
        return Err(Error::input(
            "a shard report lists more or fewer results than it holds",
            PLACE,
            "regenerate the shard",
        ));
    }
    if shard.precision != first.precision {
        return Err(Error::input(
            format!(
                "the shards computed with different precision ({} against {})",
                shard.precision.summary(),
                first.precision.summary()
            ),
            PLACE,
            "run every shard with the same --precision (reproducible gives the same \
             bits on every x86-64 machine with AVX2)",
        ));
    }
    if shard.error_control != first.error_control {
        return Err(Error::input(
            "the shards were run with different error control (family-wise error or \
             family size)",
            PLACE,
            "merge the shards of one suite run",
        ));
    }
    let name = shard.shard.as_deref().unwrap_or("?");
    for result in &shard.results {
        super::audit::audit(result, &shard.error_control)
            .map_err(|why| contradiction(name, result, why))?;
    }
    Ok(())
}

/// Decides every split check from its units' evidence across `shards`, into `parts`. Returns
/// what a partial merge could not decide (a check some of whose units are missing).
///
/// Long: per split check: gather its units' evidence from every shard, refuse duplicates and
/// strangers, rebuild the check and its methods, decide.
fn decide_split(
    shards: &[Report],
    registry: &Registry,
    allow_partial: bool,
    parts: &mut Vec<(CheckRun, Vec<CheckResult>)>,
) -> Result<Vec<String>> {
    let Some(first) = shards.first() else {
        return Ok(Vec::new());
    };
    let mut groups: Vec<(&Evidence, Pooled)> = Vec::new();
    for shard in shards {
        let name = shard.shard.as_deref().unwrap_or("?");
        for evidence in &shard.evidence {
            if parts.iter().any(|(r, _)| r.index == evidence.index) {
                return Err(Error::input(
                    format!(
                        "check {} appears as a whole check and as work units",
                        evidence.index
                    ),
                    PLACE,
                    "merge the shards of one `blindspot run --shard K/N` run",
                ));
            }
            let at = match groups.iter().position(|(e, _)| e.index == evidence.index) {
                Some(at) => at,
                None => {
                    groups.push((evidence, Vec::new()));
                    groups.len() - 1
                }
            };
            let (like, units) = &mut groups[at];
            let key = |e: &Evidence| {
                (
                    e.check.clone(),
                    e.params.clone(),
                    e.split,
                    e.units,
                    e.methods.clone(),
                )
            };
            if key(like) != key(evidence) || like.expect != evidence.expect {
                return Err(Error::input(
                    format!(
                        "shard {name} ran check {} ({}) with other parameters, methods or \
                         units than another shard",
                        evidence.index, evidence.check
                    ),
                    PLACE,
                    "run every shard from the same suite, methods and regressions file",
                ));
            }
            for record in &evidence.records {
                if let Some((_, _, other)) = units.iter().find(|(unit, _, _)| *unit == record.unit)
                {
                    return Err(Error::input(
                        format!(
                            "unit {} of check {} ({}) is in shard {other} and in shard {name}",
                            record.unit, evidence.index, evidence.check
                        ),
                        PLACE,
                        "merge each shard once",
                    ));
                }
                if record.unit >= evidence.units {
                    return Err(Error::input(
                        format!(
                            "shard {name} holds unit {} of check {} ({}), which has {} units",
                            record.unit, evidence.index, evidence.check, evidence.units
                        ),
                        PLACE,
                        "merge reports as `blindspot run --shard K/N` wrote them",
                    ));
                }
                units.push((record.unit, &record.evidence, name));
            }
        }
    }
    let ctx = CheckContext::controlled(tch::Device::Cpu, first.seed, first.error_control);
    let mut undecided = Vec::new();
    for (evidence, mut units) in groups {
        units.sort_by_key(|(unit, _, _)| *unit);
        if units.len() != evidence.units {
            let missing: Vec<String> = (0..evidence.units)
                .filter(|u| !units.iter().any(|(unit, _, _)| unit == u))
                .map(|u| u.to_string())
                .collect();
            let shown = match missing.len() {
                0..=8 => missing.join(", "),
                n => format!("{} and {} more", missing[..8].join(", "), n - 8),
            };
            let what = format!(
                "check {} ({}) is missing units {shown} of {}",
                evidence.index, evidence.check, evidence.units
            );
            if !allow_partial {
                return Err(Error::input(
                    what,
                    PLACE,
                    "pass every shard's report.json, or --allow-partial to merge what there is \
                     (the check is then left out and the report marked partial)",
                ));
            }
            undecided.push(format!("{what}: not decided"));
            continue;
        }
        let mut results = match evidence.split {
            Split::Units => decide_units(evidence, units, registry, &ctx)?,
            Split::Methods => method_results(evidence, units, registry, &first.error_control)?,
        };
        for result in &mut results {
            result.expected = expectation(&evidence.expect, &result.method);
        }
        let run = CheckRun {
            check: evidence.check.clone(),
            params: evidence.params.clone(),
            index: evidence.index,
            results: results.len(),
        };
        parts.push((run, results));
    }
    Ok(undecided)
}

/// The units of one check across shards: (unit, evidence, shard), in unit order.
type Pooled<'a> = Vec<(usize, &'a serde_json::Value, &'a str)>;

/// A check split into its own units, decided by the check from every unit's evidence.
fn decide_units(
    evidence: &Evidence,
    units: Pooled,
    registry: &Registry,
    ctx: &CheckContext,
) -> Result<Vec<CheckResult>> {
    let check = registry
        .from_params(&evidence.check, evidence.params.clone())
        .map_err(|why| {
            Error::input(
                format!("check {} ({}): {why}", evidence.index, evidence.check),
                PLACE,
                "merge with the blindspot (or the harness registry) that ran the shards",
            )
        })?;
    for path in check.written_paths() {
        crate::io::note!(
            "blindspot merge: check {} ({}) would append to {} in an unsharded run; a merge \
             writes only its output folder: append the counterexamples' replay strings \
             (report.md) to it by hand",
            evidence.index,
            evidence.check,
            path.display()
        );
    }
    let values = units.into_iter().map(|(_, v, _)| v.clone()).collect();
    Ok(decide_recorded(check.as_ref(), &evidence.methods, values, ctx)?.results)
}

/// A check split by method: each method's results as its shard decided them, audited against
/// their own evidence like a whole check's, in method order.
fn method_results(
    evidence: &Evidence,
    units: Pooled,
    registry: &Registry,
    control: &super::ErrorControl,
) -> Result<Vec<CheckResult>> {
    let mut all = Vec::new();
    for (unit, value, shard) in units {
        let refuse = |why: String| {
            Error::input(
                format!(
                    "shard {shard}: the results of method {unit} in check {} ({}) {why}",
                    evidence.index, evidence.check
                ),
                PLACE,
                "merge reports as `blindspot run --shard K/N` wrote them; a report edited by \
                 hand is never merged (run that shard again)",
            )
        };
        let mut results: Vec<CheckResult> = serde_json::from_value(value.clone())
            .map_err(|e| refuse(format!("are not results: {e}")))?;
        for r in &mut results {
            r.findings = registry
                .decode_findings(&r.check, r.findings.fields())
                .map_err(|e| refuse(format!("are not results: {e}")))?;
        }
        let method = &evidence.methods[unit].name;
        if results.is_empty() || results.iter().any(|r| &r.method != method) {
            return Err(refuse(format!("are not those of `{method}`")));
        }
        for result in &results {
            super::audit::audit(result, control)
                .map_err(|why| contradiction(shard, result, why))?;
        }
        all.extend(results);
    }
    Ok(all)
}

/// A result of `shard` that its own evidence contradicts.
fn contradiction(shard: &str, result: &CheckResult, why: String) -> Error {
    let config = result
        .configuration()
        .map(|c| format!(" [{c}]"))
        .unwrap_or_default();
    Error::input(
        format!(
            "shard {shard}: the `{}` result of `{}`{config} contradicts its own evidence: {why}",
            result.check, result.method
        ),
        PLACE,
        "merge reports as `blindspot run --shard K/N` wrote them; a report edited by hand is \
         never merged (run that shard again)",
    )
}
