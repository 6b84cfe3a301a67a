//! Reports: sharded runs merge into the unsharded report; report.md, junit.xml and badges say
//! what report.json says; an insta snapshot of a small seeded suite's report (floats rounded).
use crate::common::ensure;
use blindspot::check::suite::Suite;
use blindspot::report::{badge, junit, markdown, Report};
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
    Suite::parse(text, "snapshot.toml", std::path::Path::new(".")).unwrap()
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
                ensure(shards.iter().all(|r| r.checks.len() == 1), || {
                    "each of 3 shards runs one of the 3 checks".into()
                })?;
                let merged = Report::merge(shards, false)?;
                ensure(merged.to_json() == whole.to_json(), || {
                    "the merged report differs from the unsharded one".into()
                })?;
                let err = Report::merge(vec![shard(1)?, shard(1)?], false)
                    .err()
                    .ok_or("a shard merged twice")?;
                ensure(err.to_string().contains("two shards"), || err.to_string())
            },
        ),
        Trial::test(
            "reports::shard_from_slurm_kubernetes_or_flag",
            shard_sources,
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
            let json: serde_json::Value = serde_json::from_str(&badge::endpoint_json(wall))?;
            ensure(
                json["label"] == "wall leakage"
                    && json["message"]
                        == format!("{:.1}% {}", 100.0 * wall.summary.mean, wall.verdict),
                || json.to_string(),
            )?;
            let svg = badge::svg(wall);
            ensure(
                svg.starts_with("<svg")
                    && svg.contains("wall leakage")
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
            ] {
                settings.add_redaction(path, insta::rounded_redaction(3));
            }
            settings.add_redaction(".results[].detail", "[detail: see docs/report-schema.md]");
            settings.add_redaction(".results[].reason", "[reason]");
            settings.add_redaction(".blindspot", "[version]");
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
            "is not a shard",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "x".into())],
            "not a whole number",
        ),
    ];
    for (vars, want) in refused {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = shard_of(None, None, env(&pairs))
            .err()
            .ok_or(format!("{pairs:?} accepted"))?;
        ensure(format!("{err:#}").contains(want), || {
            format!("{pairs:?}: {err:#}")
        })?;
    }
    Ok(())
}
