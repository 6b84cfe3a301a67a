//! Reports: sharded runs merge into the unsharded report; report.md, junit.xml and badges say
//! what report.json says; an insta snapshot of a small seeded suite's report (floats rounded).
use crate::common::ensure;
use blindspot::check::suite::Suite;
use blindspot::report::{badge, junit, markdown};
use libtest_mimic::Trial;
use tch::Device;

fn suite() -> Suite {
    let text = r#"
name = "snapshot"
seed = 7
methods = ["gradcam", "hirescam", "eigencam"]

[[checks]]
check = "wall"
model = "builtin:small-vgg"
data = { synthetic = 6 }

[[checks]]
check = "theorem"
filters = [64, 256]
min_draws = 64
max_draws = 64

[[checks]]
check = "class-sensitivity"
model = "builtin:small-vgg"
data = { synthetic = 4 }
"#;
    crate::common::suite(text, "snapshot.toml").unwrap()
}

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "reports::merged_three_shards_equal_the_unsharded_report",
            || {
                let s = suite();
                let whole = s.run(Device::Cpu, None)?.report;
                let shard = |k| s.run(Device::Cpu, Some((k, 3))).map(|r| r.report);
                // Shards in a scrambled order, as a CI matrix would deliver them.
                let shards = vec![shard(3)?, shard(1)?, shard(2)?];
                // 8 work items: the wall's 3 methods, the theorem's 2 configurations, class
                // sensitivity's 3 methods; item j on shard (j mod 3) + 1, nothing whole.
                let whole_checks: usize = shards.iter().map(|r| r.checks.len()).sum();
                let units: Vec<Vec<(usize, usize)>> = shards
                    .iter()
                    .map(|r| {
                        r.evidence
                            .iter()
                            .map(|e| (e.index, e.records.len()))
                            .collect()
                    })
                    .collect();
                let all_three = vec![(0, 1), (1, 1), (2, 1)];
                ensure(
                    whole_checks == 0
                        && units == [vec![(0, 1), (2, 1)], all_three.clone(), all_three],
                    || format!("whole checks {whole_checks}, units {units:?}"),
                )?;
                let merged = crate::common::merge(shards)?;
                ensure(
                    merged.without_timing().to_json() == whole.without_timing().to_json(),
                    || "the merged report differs from the unsharded one".into(),
                )?;
                let err = crate::common::merge(vec![shard(1)?, shard(1)?])
                    .err()
                    .ok_or("a shard merged twice")?;
                ensure(err.to_string().contains("two shards"), || err.to_string())
            },
        ),
        crate::common::slow(
            "reports::split_checks_merge_from_their_units",
            split_checks_merge_from_their_units,
        ),
        Trial::test(
            "reports::shard_from_slurm_kubernetes_or_flag",
            shard_sources,
        ),
        Trial::test(
            "reports::numbers_never_print_a_negative_zero",
            negative_zero,
        ),
        Trial::test("reports::markdown_junit_badges", || {
            let report = suite().run(Device::Cpu, None)?.report;
            let md = markdown::render(&report, &[]);
            ensure(
                md.contains("| method | wall | class-sensitivity |")
                    && md.contains("| HiResCAM | ✅ 0.0 ± 0.0%"),
                || md.clone(),
            )?;
            ensure(md.contains("## Theorem 1") && md.contains("| 64 |"), || {
                md.clone()
            })?;
            // With every verdict expected to pass, fail and inconclusive fail the gate; with no
            // expectation (exit 0), none does, and each carries its verdict as a property.
            let not_passed = report
                .results
                .iter()
                .filter(|r| r.verdict != blindspot::check::Verdict::Pass)
                .count();
            ensure(not_passed > 0, || "the suite has no fail to show".into())?;
            let xml = junit::render(&report);
            ensure(
                xml.matches("<testcase ").count() == report.results.len()
                    && xml.matches("<failure ").count() == 0
                    && xml.contains("failures=\"0\"")
                    && xml.matches("<property name=\"verdict\"").count() == not_passed,
                || xml.clone(),
            )?;
            let mut strict = report.clone();
            strict.expect_pass_by_default();
            let xml = junit::render(&strict);
            ensure(
                xml.matches("<failure ").count() == not_passed
                    && xml.contains(&format!("failures=\"{not_passed}\""))
                    && strict.unexpected().len() == not_passed,
                || xml.clone(),
            )?;
            let wall = report
                .results
                .iter()
                .find(|r| r.check == "wall" && r.method == "gradcam")
                .ok_or("wall result")?;
            let labels = badge::labels(&report);
            let label = report
                .results
                .iter()
                .zip(&labels)
                .find(|(r, _)| std::ptr::eq(*r, wall))
                .map(|(_, l)| l.as_str())
                .ok_or("wall label")?;
            let json: serde_json::Value = serde_json::from_str(&badge::endpoint_json(wall, label))?;
            // The label names the model and that its weights are random (a badge claims no
            // more than was tested).
            ensure(
                json["label"] == "wall leakage · small-vgg, random weights"
                    && json["message"]
                        == format!("{:.1}% {}", 100.0 * wall.summary.mean, wall.verdict),
                || json.to_string(),
            )?;
            let svg = badge::svg(wall, label);
            ensure(
                svg.starts_with("<svg")
                    && svg.contains("wall leakage · small-vgg, random weights")
                    && svg.trim_end().ends_with("</svg>"),
                || svg.clone(),
            )
        }),
        Trial::test("reports::snapshot_of_a_seeded_suite", || {
            let report = suite().run(Device::Cpu, None)?.report;
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(crate::common::root().join("tests/snapshots"));
            settings.set_prepend_module_to_snapshot(false);
            for path in [
                ".results[].mean",
                ".results[].std",
                ".results[].ci_low",
                ".results[].ci_high",
                ".results[].per_sample[]",
                ".results[].estimate",
                ".results[].closed_form",
                ".results[].bounds.*.value",
                ".results[].signs.*.mean",
                ".results[].signs.*.ci_low",
                ".results[].signs.*.ci_high",
                ".results[].signs.*.std",
                ".results[].signs.*.per_sample[]",
                ".results[].signs.*.draws[][]",
                ".results[].controls[].mean",
                ".results[].controls[].ci_low",
                ".results[].controls[].ci_high",
                ".results[].controls[].std",
                ".results[].controls[].per_sample[]",
                ".results[].controls[].draws[][]",
            ] {
                settings.add_redaction(path, insta::rounded_redaction(3));
            }
            settings.add_redaction(".results[].detail", "[detail: see docs/report-schema.md]");
            settings.add_redaction(".results[].reason", "[reason]");
            settings.add_redaction(".blindspot", "[version]");
            // Measured times differ between runs; the calls and images each method served do
            // not, and stay pinned.
            for path in [
                ".timing.seconds",
                ".timing.checks[].seconds",
                ".timing.checks[].methods[].seconds",
            ] {
                settings.add_redaction(path, "[seconds]");
            }
            settings.bind(|| insta::assert_json_snapshot!("seeded_suite_report", report));
            Ok(())
        }),
    ]
}

/// The shard a run takes from a Slurm job array, a Kubernetes Indexed Job or `--shard` (which
/// overrides both), and the arrays whose task ids cannot number shards 1..N, refused.
fn shard_sources() -> crate::common::TestResult {
    use blindspot::check::shard::{shard_of, ShardSource};
    let env = |pairs: &[(&str, &str)]| {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    };
    let slurm = |id: &str, min: &str, max: &str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_MIN", min.to_string()),
            ("SLURM_ARRAY_TASK_MAX", max.to_string()),
        ]
    };
    let owned = |v: Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v };
    let cases: Vec<(
        Option<&str>,
        Option<usize>,
        Vec<(&str, String)>,
        Option<(usize, usize)>,
    )> = vec![
        (None, None, owned(slurm("3", "1", "4")), Some((3, 4))),
        (None, None, owned(slurm("0", "0", "3")), Some((1, 4))),
        (Some("2/5"), None, owned(slurm("0", "0", "3")), Some((2, 5))),
        (
            None,
            Some(4),
            vec![("JOB_COMPLETION_INDEX", "2".into())],
            Some((3, 4)),
        ),
        (
            None,
            None,
            vec![
                ("JOB_COMPLETION_INDEX", "0".into()),
                ("BLINDSPOT_SHARDS", "2".into()),
            ],
            Some((1, 2)),
        ),
        (None, None, vec![], None),
    ];
    for (flag, shards, vars, want) in cases {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = shard_of(flag, shards, env(&pairs))?;
        ensure(got.map(|(s, _)| s) == want, || {
            format!("{pairs:?}: {got:?}")
        })?;
        if let (Some(_), Some((_, source))) = (flag, got) {
            ensure(source == ShardSource::Flag, || {
                "--shard did not override".into()
            })?;
        }
    }
    let refused: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            [
                slurm("1", "1", "7"),
                vec![("SLURM_ARRAY_TASK_STEP", "2".into())],
            ]
            .concat(),
            "step 2",
        ),
        (
            [
                slurm("3", "1", "7"),
                vec![("SLURM_ARRAY_TASK_COUNT", "3".into())],
            ]
            .concat(),
            "3 tasks",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "1".into())],
            "without SLURM_ARRAY_TASK_MIN",
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "1".into())],
            "how many shards",
        ),
        (
            vec![
                ("JOB_COMPLETION_INDEX", "4".into()),
                ("BLINDSPOT_SHARDS", "4".into()),
            ],
            "shard 5 of 4 does not exist",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "x".into())],
            "not a whole number",
        ),
        // Numbers whose difference wraps around an i64 are refused as they came, never as a
        // wrapped shard number, and the scheduler's variables are blamed, not `--shard`.
        (
            slurm("0", &i64::MIN.to_string(), &i64::MAX.to_string()),
            "uncountable",
        ),
        (
            vec![
                ("JOB_COMPLETION_INDEX", i64::MAX.to_string()),
                ("BLINDSPOT_SHARDS", "4".into()),
            ],
            "out of range",
        ),
        (
            vec![
                ("JOB_COMPLETION_INDEX", "0".into()),
                ("BLINDSPOT_SHARDS", "20000".into()),
            ],
            "20000 shards",
        ),
    ];
    for (vars, want) in refused {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = shard_of(None, None, env(&pairs))
            .err()
            .ok_or(format!("{pairs:?} accepted"))?;
        ensure(
            format!("{err:#}").contains(want) && !format!("{err:#}").contains("--shard 2/3"),
            || format!("{pairs:?}: {err:#}"),
        )?;
    }
    Ok(())
}

/// The property checks split into cases, class sensitivity by method: 4 shards share the items,
/// each shard writes evidence, and the merge decides every verdict again — the report equals
/// the unsharded one, counterexamples included (they come from whichever shard drew the first
/// failing case), and an edited method verdict is refused. A
/// unit given twice, a unit missing, a shard run with other parameters are refused, naming the
/// check and the unit; a partial merge leaves the undecided check out and says so.
fn split_checks_merge_from_their_units() -> crate::common::TestResult {
    use blindspot::check::merge::merge;
    use blindspot::check::Registry;
    let text = r#"
name = "split"
seed = 3
methods = ["gradcam", "hirescam", "eigencam", "sobel"]

[[checks]]
check = "prop-wall"
cases = 9
expect = { "*" = "fail" }

[[checks]]
check = "class-sensitivity"
model = "builtin:small-vgg"
data = { synthetic = 4 }

[[checks]]
check = "prop-positivity"
cases = 3
draws = 16

[[checks]]
check = "prop-theorem"
cases = 2
min_draws = 64
max_draws = 64
"#;
    let s = crate::common::suite(text, "split.toml")?;
    let whole = s.run(Device::Cpu, None)?.report;
    ensure(whole.evidence.is_empty(), || {
        "an unsharded run wrote evidence".into()
    })?;
    let shard = |k| s.run(Device::Cpu, Some((k, 4))).map(|r| r.report);
    let shards = vec![shard(4)?, shard(2)?, shard(1)?, shard(3)?];
    // 9 cases + 4 methods + 3 cases + 2 cases = 18 work items: shards 1 and 2 take 5, shards 3
    // and 4 take 4; nothing runs whole.
    let units: Vec<usize> = shards
        .iter()
        .map(|r| r.evidence.iter().map(|e| e.records.len()).sum::<usize>() + r.checks.len())
        .collect();
    ensure(units == vec![4, 5, 5, 4], || {
        format!("items per shard: {units:?}")
    })?;
    let registry = Registry::builtin();
    let merged = merge(shards.clone(), false, &registry)?;
    ensure(
        merged.without_timing().to_json() == whole.without_timing().to_json(),
        || "the merged report differs from the unsharded one".into(),
    )?;
    let counterexamples = whole
        .results
        .iter()
        .filter(|r| r.reason.contains("smallest counterexample"))
        .count();
    ensure(counterexamples > 0, || "no counterexample to carry".into())?;
    // A unit in two shards.
    let mut twice = shards.clone();
    let stolen = twice[2].evidence[0].records[0].clone();
    twice[1].evidence[0].records.insert(0, stolen);
    let err = merge(twice, false, &registry)
        .err()
        .ok_or("a unit merged twice")?;
    ensure(
        err.to_string().contains("unit 0 of check 0 (prop-wall)"),
        || err.to_string(),
    )?;
    // A unit missing, then a partial merge of what there is.
    let mut short = shards.clone();
    short[2].evidence[0].records.remove(0);
    let err = merge(short.clone(), false, &registry)
        .err()
        .ok_or("a unit went missing")?;
    ensure(
        err.to_string()
            .contains("check 0 (prop-wall) is missing units 0 of 9"),
        || err.to_string(),
    )?;
    let partial = merge(short, true, &registry)?;
    ensure(
        partial
            .partial
            .as_deref()
            .is_some_and(|p| p.contains("not decided"))
            && partial.checks.iter().all(|c| c.index != 0),
        || format!("{:?}", partial.partial),
    )?;
    // A method's result edited by hand: its verdict no longer follows from its own evidence.
    let mut edited = shards.clone();
    let (k, e) = edited
        .iter()
        .enumerate()
        .find_map(|(k, r)| {
            r.evidence
                .iter()
                .position(|e| e.check == "class-sensitivity")
                .map(|e| (k, e))
        })
        .ok_or("no class-sensitivity unit")?;
    let result = &mut edited[k].evidence[e].records[0].evidence[0];
    let flipped = match result["verdict"].as_str() {
        Some("pass") => "fail",
        _ => "pass",
    };
    result["verdict"] = serde_json::json!(flipped);
    let err = merge(edited, false, &registry)
        .err()
        .ok_or("an edited verdict merged")?;
    ensure(
        err.to_string().contains("contradicts its own evidence"),
        || err.to_string(),
    )?;
    // A shard of another seed or blindspot version, named with its difference.
    for (edit, want) in [(0, "seed 99"), (1, "blindspot 0.0.0-other")] {
        let mut foreign = shards.clone();
        match edit {
            0 => foreign[3].seed = 99,
            _ => foreign[3].blindspot = "0.0.0-other".into(),
        }
        let err = merge(foreign, false, &registry)
            .err()
            .ok_or("a foreign shard merged")?;
        ensure(err.to_string().contains(want), || err.to_string())?;
    }
    // A shard run with other parameters.
    let mut other = shards;
    other[0].evidence[0].params["tau"] = serde_json::json!(2.0);
    let err = merge(other, false, &registry)
        .err()
        .ok_or("other parameters merged")?;
    ensure(err.to_string().contains("other parameters"), || {
        err.to_string()
    })
}

/// A value that rounds to zero prints as `0.000`, never `-0.000` (an exact -0.0, or a tiny
/// negative bound on one machine and a tiny positive one on another, issue 35); everything else
/// prints as Rust's fixed-point formatting does.
fn negative_zero() -> crate::common::TestResult {
    use blindspot::io::number::{fixed, pct, Fixed};
    let cases = [
        (fixed(-4e-8, 3), "0.000"),
        (fixed(-0.0, 3), "0.000"),
        (fixed(-0.000_499_9, 3), "0.000"),
        (fixed(-0.000_500_1, 3), "-0.001"),
        (fixed(0.0755, 2), "0.08"),
        (fixed(-12.5, 0), "-12"),
        (fixed(f64::NAN, 3), "NaN"),
        (fixed(f64::NEG_INFINITY, 3), "-inf"),
        (pct(-1e-7, 2), "0.00%"),
        (pct(0.1234, 2), "12.34%"),
        (
            format!(
                "{:>8}",
                Fixed {
                    value: -1e-9,
                    decimals: 3
                }
            ),
            "   0.000",
        ),
        (blindspot::chart::number(-0.0), "0"),
        (blindspot::chart::number(-1.5e-3), "−0.001500"),
    ];
    for (got, want) in cases {
        ensure(got == want, || {
            format!("printed `{got}`, expected `{want}`")
        })?;
    }
    Ok(())
}
