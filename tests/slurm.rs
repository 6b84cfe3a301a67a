//! The scheduler test (issue 22): a real Slurm runs the shipped examples/slurm scripts — a
//! 4-task job array of `blindspot run`, each task taking its shard from SLURM_ARRAY_TASK_ID with
//! no --shard, and a merge job submitted with `--dependency=afterok` — and the merged report is
//! byte-identical to the unsharded run's. `.ci/run` installs Debian's slurm-wlm and munge and
//! starts a one-node cluster (`.ci/slurm-up`); where no cluster answers, the trial is listed as
//! ignored with the reason.
use crate::common::{ensure, scratch_root, TestResult};
use libtest_mimic::Trial;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn trials() -> Vec<Trial> {
    let trial = crate::common::slow(
        "slurm::array_and_dependent_merge_equal_one_machine",
        array_and_merge,
    );
    // sinfo may wait seconds for a controller: ask only when the trial is to run.
    if !crate::common::wanted(std::slice::from_ref(&trial)) {
        return vec![trial];
    }
    match unavailable() {
        Some(why) => vec![trial.with_ignored_flag(true).with_kind(why)],
        None => vec![trial],
    }
}

/// Why no Slurm cluster can take the test's jobs here, if none can.
fn unavailable() -> Option<String> {
    match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
        Err(_) => Some("no Slurm here: sinfo not found (.ci/run installs and starts one)".into()),
        Ok(out) if !out.status.success() => Some(format!(
            "no Slurm cluster answers: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("sinfo failed")
        )),
        Ok(out) => {
            let states = String::from_utf8_lossy(&out.stdout).into_owned();
            let up = states
                .lines()
                .any(|s| s.starts_with("idle") || s.starts_with("mix") || s.starts_with("alloc"));
            (!up).then(|| format!("no Slurm node is up (sinfo: {})", states.trim()))
        }
    }
}

const SUITE: &str = "name = \"slurm\"\nseed = 5\nmethods = [\"gradcam\", \"hirescam\"]\n\
    [[checks]]\ncheck = \"theorem\"\nfilters = [64]\ndraws = 16\n\
    [[checks]]\ncheck = \"wall\"\nmodel = \"builtin:small-vgg\"\ndata = { synthetic = 4 }\n\
    looks = 1\n\
    [[checks]]\ncheck = \"theorem\"\nfilters = [128]\ndraws = 16\n\
    [[checks]]\ncheck = \"class-sensitivity\"\nmodel = \"builtin:small-vgg\"\n\
    data = { synthetic = 4 }\nlooks = 1\n\
    [[checks]]\ncheck = \"prop-wall\"\ncases = 6\n";

fn array_and_merge() -> TestResult {
    let dir = scratch_root().join("slurm");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("s.toml"), SUITE)?;
    let bin = env!("CARGO_BIN_EXE_blindspot");
    let whole = Command::new(bin)
        .current_dir(&dir)
        .args(["run", "--suite", "s.toml", "--out", "whole"])
        .env("BLINDSPOT_QUIET", "1")
        .output()?;
    ensure(matches!(whole.status.code(), Some(0 | 1)), || {
        String::from_utf8_lossy(&whole.stderr).into_owned()
    })?;
    let submit = crate::common::root().join("examples/slurm/submit.sh");
    let submitted = Command::new("bash")
        .current_dir(&dir)
        .arg(&submit)
        .args(["s.toml", "out", "4"])
        .env("BLINDSPOT", bin)
        .env("BLINDSPOT_QUIET", "1")
        .output()?;
    let logs = || slurm_logs(&dir);
    ensure(submitted.status.success(), || {
        format!("submit.sh: {}", String::from_utf8_lossy(&submitted.stderr))
    })?;
    let merge_job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .to_string();
    // The merge job leaves the queue when it ran (or when its dependency failed).
    let start = Instant::now();
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-j", &merge_job])
            .output()?;
        if queue.status.success() && queue.stdout.is_empty() {
            break;
        }
        ensure(start.elapsed() < Duration::from_secs(900), || {
            format!(
                "the merge job {merge_job} did not finish in 900 s\n{}",
                logs()
            )
        })?;
        std::thread::sleep(Duration::from_secs(2));
    }
    let merged = dir.join("out/merged/report.json");
    ensure(merged.is_file(), || format!("no merged report\n{}", logs()))?;
    for k in 1..=4 {
        let shard = std::fs::read_to_string(dir.join(format!("out/shard-{k}/report.json")))?;
        ensure(shard.contains(&format!("\"shard\": \"{k}/4\"")), || {
            format!("array task {k} did not run shard {k}/4 from SLURM_ARRAY_TASK_ID")
        })?;
    }
    // Every byte but the measured times (`timing`, docs/report-schema.md).
    let untimed = |path: &Path| -> Result<String, Box<dyn std::error::Error>> {
        let report: blindspot::Report = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        Ok(report.without_timing().to_json())
    };
    let one = untimed(&dir.join("whole/report.json"))?;
    ensure(untimed(&merged)? == one, || {
        format!(
            "the merged report differs from the unsharded one\n{}",
            logs()
        )
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The jobs' logs, for a failure message.
fn slurm_logs(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            text.push_str(&format!("--- {name}\n{body}\n"));
        }
    }
    text
}
