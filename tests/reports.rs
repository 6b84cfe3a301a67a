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
