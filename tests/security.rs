//! Security, round three (issue 21): one test per class — nothing deleted that blindspot did not
//! write, no name that becomes a path, no injected shell (hostile TMPDIR in every quoting), no
//! predictable temporary file followed, one escaping policy per output format (soaked with fixed
//! and generated hostile names), signals and closed or full streams with documented exit codes,
//! odd models and inputs with one message, settings the arithmetic cannot carry refused, bounded
//! resources and memory budget, merge audits that refuse tampered evidence, suites as data, and
//! the leftovers of a killed run cleaned.
use crate::common::{ensure, TestResult};
use blindspot::check::theorem::TheoremFindings;
use blindspot::check::Verdict;
use blindspot::io::OUTPUT_MARKER;
use libtest_mimic::Trial;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Device;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "security::never_replaces_a_folder_it_did_not_write",
            folders,
        ),
        crate::common::slow("security::names_never_become_paths", names),
        crate::common::slow("security::hostile_tmpdir_runs_nothing", tmpdir),
        Trial::test("security::temporary_files_are_not_predictable", temporaries),
        crate::common::slow("security::hostile_names_in_every_format", formats),
        crate::common::slow("security::signals_during_a_run_exit_130_or_143", signals),
        Trial::test("security::closed_or_full_stdout_and_stderr", closed_stdout),
        Trial::test("security::settings_the_arithmetic_cannot_carry", extremes),
        crate::common::slow("security::inputs_without_bounds_and_half_truths", bounds),
        crate::common::slow("security::leftovers_of_a_killed_run_are_cleaned", sigkill),
        crate::common::needs_python(crate::common::slow(
            "security::external_commands_die_with_blindspot_however_it_ends",
            orphans,
        )),
        Trial::test("security::merge_refuses_tampered_evidence", tampered),
        crate::common::slow("security::memory_budget_covers_models_and_ranges", memory),
        crate::common::slow("security::suites_are_data_and_nothing_is_skipped", suites),
        Trial::test(
            "security::links_never_lead_a_suite_outside_its_folder",
            suite_links,
        ),
        crate::common::slow(
            "security::the_model_cache_trusts_no_file_it_finds",
            cache_files,
        ),
        Trial::test("security::replay_strings_are_bounded", replays),
        Trial::test(
            "security::names_are_checked_where_they_enter",
            entering_names,
        ),
        crate::common::needs_python(crate::common::slow(
            "security::every_job_folder_holds_the_model",
            job_models,
        )),
        crate::common::needs_python(crate::common::slow(
            "security::odd_models_give_one_message",
            odd_models,
        )),
    ]
}

/// The hostile names every format must carry as data.
const HOSTILE: [&str; 8] = [
    "\"><svg onload=alert(1)>",
    "a|b|c",
    "\u{1b}[31mred\u{1b}[0m",
    "nul\u{0}bell\u{7}",
    "'; rm -rf ~; echo '",
    "../../ESCAPED",
    "line\nbreak",
    "**bold** [link](http://x) `code` <b>",
];

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch_root().join(format!("sec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn blindspot(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blindspot"));
    command
        .current_dir(dir)
        .args(args)
        .env("BLINDSPOT_QUIET", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("blindspot runs");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text.into_owned())
}

const TINY: &str = "name = \"tiny\"\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"theorem\"\n\
                    filters = [64]\nmin_draws = 16\nmax_draws = 16\n";

/// `--out` onto a project folder is refused and the folder untouched, by every command that
/// writes a folder (`blindspot data` replaced a user's images.npy before); an empty folder or
/// one an earlier run wrote is replaced; a folder no rename can replace (`.`, a mount point) is
/// refused before the work (it failed with "Device or resource busy" after it).
fn folders() -> TestResult {
    let dir = scratch("folders");
    std::fs::write(dir.join("tiny.toml"), TINY)?;
    std::fs::create_dir_all(dir.join("proj/src"))?;
    std::fs::write(dir.join("proj/src/main.rs"), "fn main() {}\n")?;
    std::fs::write(dir.join("proj/images.npy"), "the user's own")?;
    let (code, text) = blindspot(&dir, &["run", "--suite", "tiny.toml", "--out", "proj"], &[]);
    ensure(code == 2 && text.contains("did not write"), || {
        format!("exit {code}: {text}")
    })?;
    let (code, text) = blindspot(&dir, &["data", "--synthetic", "2", "--out", "proj"], &[]);
    ensure(code == 2 && text.contains("did not write"), || {
        format!("data: exit {code}: {text}")
    })?;
    ensure(
        std::fs::read_to_string(dir.join("proj/images.npy"))? == "the user's own",
        || "data replaced the user's images.npy".into(),
    )?;
    let tiny = dir.join("tiny.toml").display().to_string();
    for (out, says) in [
        (".", "names no folder of its own"),
        ("/dev/shm", "mount point"),
    ] {
        if !Path::new(out).is_dir() {
            continue;
        }
        for args in [
            vec!["run", "--suite", &tiny, "--out", out],
            vec!["data", "--synthetic", "2", "--out", out],
        ] {
            let empty = scratch("folders-dot");
            let (code, text) = blindspot(&empty, &args, &[]);
            ensure(code == 2 && text.contains(says), || {
                format!("{args:?}: exit {code}: {text}")
            })?;
        }
    }
    ensure(dir.join("proj/src/main.rs").is_file(), || {
        "proj was deleted".into()
    })?;
    std::fs::create_dir_all(dir.join("empty"))?;
    for _ in 0..2 {
        let (code, text) = blindspot(
            &dir,
            &["run", "--suite", "tiny.toml", "--out", "empty"],
            &[],
        );
        ensure(code == 0 || code == 1, || format!("exit {code}: {text}"))?;
        ensure(dir.join("empty").join(OUTPUT_MARKER).is_file(), || {
            "no marker in the output folder".into()
        })?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A suite's name is the default output folder: a path there is refused. A shard report whose
/// check is a path writes its badges inside --out.
fn names() -> TestResult {
    let dir = scratch("names");
    std::fs::create_dir_all(dir.join("victim"))?;
    std::fs::write(dir.join("victim/keep.txt"), "mine")?;
    for name in ["../victim", "/tmp", ".hidden", "-rf", "a b"] {
        let text = TINY.replace("name = \"tiny\"", &format!("name = {name:?}"));
        std::fs::write(dir.join("s.toml"), text)?;
        let (code, out) = blindspot(&dir.join("victim"), &["run", "--suite", "../s.toml"], &[]);
        ensure(code == 2 && out.contains("not a plain name"), || {
            format!("name {name:?}: exit {code}: {out}")
        })?;
    }
    ensure(dir.join("victim/keep.txt").is_file(), || {
        "victim lost".into()
    })?;
    // A shard report with a hostile check name, merged.
    std::fs::write(dir.join("tiny.toml"), TINY)?;
    let (code, out) = blindspot(
        &dir,
        &[
            "run",
            "--suite",
            "tiny.toml",
            "--shard",
            "1/1",
            "--out",
            "shard",
        ],
        &[],
    );
    ensure(code == 0 || code == 1, || {
        format!("shard: exit {code}: {out}")
    })?;
    let report = std::fs::read_to_string(dir.join("shard/report.json"))?;
    let tampered = report.replace("\"check\": \"theorem\"", "\"check\": \"../../ESCAPED\"");
    ensure(tampered != report, || "nothing to tamper with".into())?;
    std::fs::create_dir_all(dir.join("a/b"))?;
    std::fs::write(dir.join("a/b/report.json"), tampered)?;
    let (code, out) = blindspot(
        &dir.join("a/b"),
        &["merge", "report.json", "--out", "merged"],
        &[],
    );
    let escaped: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("ESCAPED"))
        .filter(|p| !p.starts_with(dir.join("a/b/merged")))
        .collect();
    ensure(escaped.is_empty(), || {
        format!("merge (exit {code}) wrote outside --out: {escaped:?}\n{out}")
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// A TMPDIR whose name holds `;`, `$(…)`, quotes and spaces: the external command gets the job
/// path as one word (its own `test -f` finds the file) and nothing injected runs.
fn tmpdir() -> TestResult {
    let dir = scratch("tmpdir");
    let hostile = dir.join(concat!(
        "x; touch PWNED1 $(touch PWNED2) `touch PWNED3` 'q' \"d\" \\\" ",
        "a\"$(touch PWNED4)\"b c'$(touch PWNED5)'d"
    ));
    std::fs::create_dir_all(&hostile)?;
    std::fs::create_dir_all(dir.join("relative"))?;
    // Placeholders alone, quoted alone, and inside the user's quoted words with other text; a
    // relative TMPDIR still gives absolute paths (the adapter changes directory first).
    for (command, tmp) in [
        ("ext=test -f {job}", hostile.as_path()),
        ("ext=test -f \"{job}\" && test -d '{dir}'", &hostile),
        (
            "ext=test -f \"{dir}/job.json\" && test -f '{dir}/job.json'",
            &hostile,
        ),
        (
            "ext=test -f {dir}/job.json && test -f \"x{job}\" || test -f {job}",
            &hostile,
        ),
        ("ext=echo \"\\\"'{dir}'\" && test -f \"{job}\"", &hostile),
        // Inside a nested command substitution the placeholder may stay a name: never shell.
        (
            "ext=test -f \"$(echo '{job}')\" || test -f \"$(echo \"{job}\")\"",
            &hostile,
        ),
        (
            "ext=cd / && test -f {job} && test -f \"{dir}/job.json\"",
            Path::new("relative"),
        ),
    ] {
        let (code, out) = blindspot(
            &dir,
            &[
                "check",
                "wall",
                "--model",
                "builtin:small-vgg",
                "--synthetic",
                "2",
                "--methods",
                "none",
                "--device",
                "cpu",
                "--external",
                command,
            ],
            &[("TMPDIR", tmp)],
        );
        // The command succeeded (the path reached it whole); there are just no maps.
        ensure(code == 2 && out.contains("no readable maps.npy"), || {
            format!("{command}: exit {code}: {out}")
        })?;
    }
    // What a failing command says reaches the message whole (a byte that is not UTF-8 hid all
    // of it), and a malformed maps.npy gives one where/fix, naming no removed job folder.
    for (command, want) in [
        ("ext=printf 'a\\377b\\n' >&2; exit 3", "a\u{fffd}b"),
        (
            "ext=printf '\\223NUMPY garbage' > {dir}/maps.npy",
            "unsupported format version",
        ),
    ] {
        let args = [
            "check",
            "wall",
            "--model",
            "builtin:small-vgg",
            "--synthetic",
            "2",
            "--methods",
            "none",
            "--external",
            command,
        ];
        let (code, out) = blindspot(&dir, &args, &[]);
        ensure(
            code == 2
                && out.contains(want)
                && out.matches("where:").count() == 1
                && !out.contains("blindspot-external-"),
            || format!("{command}: exit {code}: {out}"),
        )?;
    }
    let pwned: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PWNED"))
        })
        .collect();
    ensure(pwned.is_empty(), || {
        format!("injected commands ran: {pwned:?}")
    })?;
    ensure(!Path::new("PWNED1").exists(), || {
        "PWNED1 in the test's folder".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The old predictable temporary name beside an output, planted as a link, is neither followed
/// nor needed: the write lands in the output and the link's target is untouched.
fn temporaries() -> TestResult {
    let dir = scratch("temporaries");
    let target = dir.join("victim.txt");
    std::fs::write(&target, "mine")?;
    let out = dir.join("report.json");
    let planted = dir.join(format!(".report.json.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&target, &planted)?;
    blindspot::io::write_atomic(&out, b"{}\n")?;
    ensure(std::fs::read_to_string(&target)? == "mine", || {
        "the planted link was followed".into()
    })?;
    ensure(std::fs::read_to_string(&out)? == "{}\n", || {
        "not written".into()
    })?;
    let leftovers = walk(&dir).into_iter().filter(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        name.is_some_and(|n| n.contains(".tmp-") && !n.ends_with(&std::process::id().to_string()))
    });
    ensure(leftovers.count() == 0, || {
        "a temporary file was left".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The same hostile names, and 96 generated ones, as method, title and reason, through every
/// format: the XML is
/// free of raw markup and control characters, report.md's table rows keep their columns, the
/// terminal table holds no control character, and every file lands inside the folder.
fn formats() -> TestResult {
    let text = "name = \"fmt\"\nseed = 0\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"wall\"\n\
                model = \"builtin:small-vgg\"\ndata = { synthetic = 2 }\nlooks = 1\n";
    let run = crate::common::suite(text, "fmt.toml")?.run(Device::Cpu, None)?;
    let template = run.report.results[0].clone();
    let mut report = run.report.clone();
    let names: Vec<String> = HOSTILE
        .iter()
        .map(|s| s.to_string())
        .chain(generated_names(96))
        .collect();
    report.results = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut r = template.clone();
            r.method = format!("{name}{i}");
            r.title = format!("{name}{i}");
            r.reason = format!("reason {name}");
            r.expected = Some(Verdict::Pass);
            r
        })
        .collect();
    let dir = scratch("formats");
    let out = dir.join("out");
    blindspot::report::write_report(&report, None, &out)?;
    for path in walk(&dir) {
        ensure(path.starts_with(&out), || {
            format!("{} outside", path.display())
        })?;
    }
    let control = |s: &str| {
        s.chars().any(|c| {
            c.is_control() && !matches!(c, '\n' | '\t' | '\r')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    };
    for file in walk(&out).into_iter().filter(|p| p.is_file()) {
        let name = file.display().to_string();
        let body = std::fs::read_to_string(&file)?;
        ensure(!control(&body), || {
            format!("{name} holds a control character")
        })?;
        if name.ends_with(".xml") || name.ends_with(".svg") || name.ends_with(".html") {
            for raw in ["<svg onload", "`code` <b>", "\"><svg"] {
                ensure(!body.contains(raw), || format!("{name} holds raw `{raw}`"))?;
            }
        }
        if name.ends_with("report.md") {
            ensure(
                !body.contains("<svg") && !body.contains("`code` <b>"),
                || format!("{name} holds raw HTML"),
            )?;
            for line in body
                .lines()
                .filter(|l| l.starts_with("| ") && l.contains("wall"))
            {
                let cells = line.matches(" | ").count();
                ensure(cells == 1, || format!("{name}: a name split a row: {line}"))?;
            }
        }
    }
    let table = blindspot::report::escape::printable(&blindspot::report::table::render(&report));
    ensure(!control(&table), || {
        "the terminal table holds a control character".into()
    })?;
    // One line per result: a line break in a name or reason cannot start a row of its own.
    ensure(!table.lines().any(|l| l.starts_with("break")), || {
        format!("a name forged a table row:\n{table}")
    })?;
    // Every XML file parses (a real parser, where the test has Python).
    if let Some(python) = crate::python::python() {
        let files: Vec<String> = walk(&out)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "xml" || e == "svg"))
            .map(|p| p.display().to_string())
            .collect();
        ensure(files.len() > 3, || format!("only {files:?}"))?;
        let parsed = Command::new(python)
            .args([
                "-c",
                "import sys, xml.dom.minidom as m\nfor f in sys.argv[1:]: m.parse(f)",
            ])
            .args(&files)
            .output()?;
        ensure(parsed.status.success(), || {
            String::from_utf8_lossy(&parsed.stderr).into_owned()
        })?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `count` names drawn (a fixed seed) from what breaks formats: every C0 control, C1 controls
/// (U+009B is a one-character ANSI escape), markup and Markdown punctuation, quotes, path
/// separators, bidirectional overrides, zero-width and non-ASCII characters.
fn generated_names(count: usize) -> Vec<String> {
    let mut alphabet: Vec<char> = (0u8..0x20).map(char::from).collect();
    alphabet.extend([
        '\u{7f}', '\u{85}', '\u{9b}', '\u{9d}', '\u{202e}', '\u{2067}', '\u{200b}',
    ]);
    alphabet.extend("<>&\"'|`*_[]()#!~\\/. ;${}=-aZ0é🦀".chars());
    let mut state = 21u64;
    let mut next = |bound: usize| {
        state = blindspot::seed::splitmix64(state);
        (state % bound as u64) as usize
    };
    (0..count)
        .map(|_| {
            let len = 1 + next(24);
            (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
        })
        .collect()
}

/// SIGINT and SIGTERM at several moments of `blindspot run` (model loading, the wall check, the
/// theorem's Monte Carlo): always the documented exit code (a segfault, 139, came in some runs
/// when the exit ran libtorch's destructors under its threads) and no staging folder left.
fn signals() -> TestResult {
    let dir = scratch("signals");
    for (k, (signal, code)) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)]
        .into_iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        let child = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .current_dir(&dir)
            .args(["run", "--device", "cpu", "--out", &format!("out{k}")])
            .env("BLINDSPOT_QUIET", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        std::thread::sleep(std::time::Duration::from_millis(1500 + 700 * k as u64));
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure(out.status.code() == Some(code), || {
            format!("signal {signal} after {k}: {:?}\n{stderr}", out.status)
        })?;
    }
    let left: Vec<PathBuf> = walk(&dir);
    ensure(left.is_empty(), || format!("left behind: {left:?}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A reader that closes stdout at once gets a quiet exit 141; a full device an exit 2 with one
/// message; never "internal failure".
fn closed_stdout() -> TestResult {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .arg("methods")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        matches!(out.status.code(), Some(0) | Some(141)) && stderr.is_empty(),
        || format!("closed stdout: {:?} {stderr}", out.status),
    )?;
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .arg("methods")
        .stdout(full)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && stderr.contains("cannot write to standard output")
            && !stderr.contains("internal failure"),
        || format!("/dev/full: {:?} {stderr}", out.status),
    )?;
    // Help and version go to stdout too: a full device is an error, not a success.
    for flag in ["--help", "--version"] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
        let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .arg(flag)
            .stdout(full)
            .output()?;
        ensure(out.status.code() == Some(2), || {
            format!("{flag} > /dev/full: {:?}", out.status)
        })?;
    }
    // stderr carries progress only: a full one (2>/dev/full) loses the notes, not the run.
    let dir = scratch("stderr");
    std::fs::write(dir.join("s.toml"), TINY)?;
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .current_dir(&dir)
        .args(["run", "--suite", "s.toml", "--out", "o"])
        .env("BLINDSPOT_QUIET", "0")
        .stderr(full)
        .output()?;
    ensure(
        out.status.code() == Some(0) && dir.join("o/report.json").is_file(),
        || format!("2>/dev/full: {:?}", out.status),
    )?;
    // A full stdout is an error (exit 2), but the report and --json are written first (the
    // report was discarded before).
    for (args, written) in [
        (
            vec!["run", "--suite", "s.toml", "--out", "full"],
            "full/report.json",
        ),
        (
            vec![
                "check",
                "theorem",
                "--filters",
                "64",
                "--draws",
                "16",
                "--json",
                "t.json",
            ],
            "t.json",
        ),
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
        let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .current_dir(&dir)
            .args(&args)
            .stdout(full)
            .output()?;
        ensure(
            out.status.code() == Some(2) && dir.join(written).is_file(),
            || {
                format!(
                    "{args:?} >/dev/full: {:?}, {written} written: {}",
                    out.status,
                    dir.join(written).is_file()
                )
            },
        )?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// TorchScript split models whose head returns int64 logits, no class at all, or a detached
/// result: `explain` and `certify` refuse each with one message, exit 2 (libtorch crashed on
/// the int64 and the detached heads, exit 139).
fn odd_models() -> TestResult {
    let python = crate::python::python().ok_or("no python")?;
    let dir = scratch("odd");
    let script = r#"
import sys, numpy as np, torch, torch.nn as nn
class M(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)
        self.kind = kind
        if kind == "oneclass":
            self.fc = nn.Linear(4, 1)
    @torch.jit.export
    def features(self, x):
        if self.kind == "input-detached":
            x = x.detach()
        if self.kind == "raises":
            raise ValueError("this model was told to fail")
        if self.kind == "views":
            # A view that needs contiguous strides: refuses channels-last images.
            x = x.view(x.size(0), -1).view(x.size())
        if self.kind == "writes":
            # The same features as "clean", but the caller's images doubled in place.
            x.mul_(2.0)
            return torch.relu(self.conv(x * 0.5))
        a = torch.relu(self.conv(x))
        if self.kind == "double":
            return a.double()
        return a
    @torch.jit.export
    def head(self, a):
        if self.kind == "activations-detached":
            a = a.detach()
        z = self.fc(a.float().mean(dim=(2, 3)))
        if self.kind == "int64":
            return z.long()
        if self.kind == "empty":
            return z[:, :0]
        if self.kind == "detached":
            return z.detach()
        return z
    def forward(self, x):
        return self.head(self.features(x))
kinds = ["int64", "empty", "detached", "activations-detached", "input-detached", "double",
         "oneclass", "writes", "clean", "raises", "views"]
for kind in kinds:
    torch.manual_seed(0)
    torch.jit.script(M(kind)).save(sys.argv[1] + "/" + kind + ".pt")
np.save(sys.argv[1] + "/x.npy", np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype("float32"))
"#;
    // TorchScript reads the class's source, so the script is a file.
    std::fs::write(dir.join("make.py"), script)?;
    let made = Command::new(&python)
        .arg(dir.join("make.py"))
        .arg(&dir)
        .output()?;
    ensure(made.status.success(), || {
        String::from_utf8_lossy(&made.stderr).into_owned()
    })?;
    for (kind, want) in [
        ("int64", "Int64 logits"),
        ("empty", "shape [2, 0]"),
        ("detached", "does not depend on its input through autograd"),
        (
            "activations-detached",
            "does not depend on its input through autograd",
        ),
        (
            "input-detached",
            "does not depend on its input through autograd",
        ),
        ("double", "returned Double activations"),
        // The model's own words, not the interpreter's first line (dropped before).
        ("raises", "ValueError: this model was told to fail"),
    ] {
        let model = format!("{kind}.pt");
        let explain = [
            "explain", "--model", &model, "--input", "x.npy", "--method", "gradcam",
        ];
        let explain: Vec<&str> = explain.into_iter().chain(["--out", "m.npy"]).collect();
        let certify = ["certify", "--model", &model, "--input-size", "16x16"];
        for args in [explain, certify.to_vec()] {
            if kind == "oneclass" {
                continue;
            }
            if kind == "input-detached" && args[0] == "explain" {
                // GradCAM needs no gradient through the input: this one explains.
                let (code, out) = blindspot(&dir, &args, &[]);
                ensure(code == 0, || format!("{kind} explain: exit {code}: {out}"))?;
                continue;
            }
            let args: Vec<&str> = args.into_iter().chain(["--device", "cpu"]).collect();
            let (code, out) = blindspot(&dir, &args, &[]);
            let certify_other = matches!(kind, "int64" | "empty" | "double");
            let expected = args[0] == "certify" && certify_other || out.contains(want);
            ensure(
                code == 2 && expected && !out.contains("internal failure"),
                || format!("{kind} {}: exit {code}: {out}", args[0]),
            )?;
        }
    }
    // The checks meet the same models through their own paths (a wall's certification, the
    // randomization's argmax, two classes drawn for class sensitivity), and Opti-CAM and EigenCAM
    // through theirs.
    let check = |check: &str, model: &str, extra: &[&str]| {
        let args: Vec<&str> = ["check", check, "--model", model, "--input", "x.npy"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        blindspot(&dir, &args, &[])
    };
    for (name, model, extra, want) in [
        (
            "wall",
            "input-detached.pt",
            &["--mask-rows", "8.."][..],
            "autograd",
        ),
        (
            "wall",
            "activations-detached.pt",
            &["--methods", "opticam"][..],
            "autograd",
        ),
        ("randomization", "empty.pt", &[][..], "shape [2, 0]"),
        (
            "class-sensitivity",
            "oneclass.pt",
            &[][..],
            "at least 2 classes",
        ),
        ("randomization", "double.pt", &[][..], "Double activations"),
    ] {
        let (code, out) = check(name, model, extra);
        ensure(
            code == 2 && out.contains(want) && !out.contains("internal failure"),
            || format!("check {name} on {model}: exit {code}: {out}"),
        )?;
    }
    // A model that doubles its input in place: the methods still see the images they were
    // given (ScoreCAM's and Opti-CAM's maps moved by up to 0.19 before). A model that refuses
    // channels-last images runs on contiguous ones (ScoreCAM's maps within 1e-5 of the clean
    // model's, which took them channels-last; Opti-CAM in float32 amplifies the difference).
    for method in ["scorecam", "opticam"] {
        for model in ["writes", "clean", "views"] {
            let args = [
                "explain",
                "--model",
                &format!("{model}.pt"),
                "--input",
                "x.npy",
                "--method",
                method,
                "--out",
                &format!("{model}-{method}.npy"),
                "--device",
                "cpu",
            ];
            let (code, out) = blindspot(&dir, &args, &[]);
            ensure(code == 0, || {
                format!("{method} on {model}: exit {code}: {out}")
            })?;
        }
        let a = crate::common::load_npy(&dir.join(format!("writes-{method}.npy")));
        let b = crate::common::load_npy(&dir.join(format!("clean-{method}.npy")));
        let largest = (&a - &b).abs().max().double_value(&[]);
        ensure(largest == 0.0, || {
            format!("{method}: maps of a model that writes its input differ by {largest:e}")
        })?;
        let c = crate::common::load_npy(&dir.join(format!("views-{method}.npy")));
        let largest = (&c - &b).abs().max().double_value(&[]);
        ensure(largest <= 1e-5 || method == "opticam", || {
            format!("{method}: maps of a model that refuses channels-last differ by {largest:e}")
        })?;
    }
    // A random-label model of another architecture (its layer 4x64x64, the model's 64x8x8)
    // ended in a panic inside statrs (exit 101): one message naming both layers.
    let args = [
        "check",
        "data-randomization",
        "--model",
        "builtin:stack-masked",
        "--random-labels-model",
        "oneclass.pt",
        "--synthetic",
        "4",
        "--looks",
        "1",
        "--methods",
        "gradcam",
        "--device",
        "cpu",
    ];
    let (code, out) = blindspot(&dir, &args, &[]);
    ensure(
        code == 2 && out.contains("explains a layer of [4, 64, 64]"),
        || format!("data randomization on another architecture: exit {code}: {out}"),
    )?;
    // Finite inputs whose activations' mean overflows float32: EigenCAM names the stage.
    let huge = tch::Tensor::randn([2, 3, 64, 64], (tch::Kind::Float, Device::Cpu)) * 1e37;
    blindspot::io::npy::write(&dir.join("huge.npy"), &huge)?;
    let args = [
        "explain",
        "--model",
        "builtin:small-vgg",
        "--input",
        "huge.npy",
        "--method",
        "eigencam",
        "--out",
        "m.npy",
    ];
    let (code, out) = blindspot(&dir, &args, &[]);
    ensure(code == 2 && out.contains("too large for float32"), || {
        format!("eigencam on huge inputs: exit {code}: {out}")
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Family-wise errors and scales beyond what the intervals' arithmetic carries are refused
/// before anything runs, naming the parameter and its range; the harness makes it its one trial.
fn extremes() -> TestResult {
    let dir = scratch("extremes");
    let wall = [
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--synthetic",
        "2",
    ];
    let theorem = ["check", "theorem", "--filters", "64", "--draws", "16"];
    let cases: [(Vec<&str>, &str); 5] = [
        (
            [&wall[..], &["--family-wise-error", "1e-300"]].concat(),
            "--family-wise-error",
        ),
        (
            [&wall[..], &["--family-wise-error", "0.9"]].concat(),
            "--family-wise-error",
        ),
        ([&theorem[..], &["--tau", "1e-30"]].concat(), "tau"),
        (
            [&theorem[..], &["--input-scale", "1e-30"]].concat(),
            "input_scale",
        ),
        (
            vec!["prop", "wall", "--cases", "1", "--tau", "1e-30"],
            "tau",
        ),
    ];
    for (args, name) in &cases {
        let (code, out) = blindspot(&dir, args, &[]);
        ensure(
            code == 2 && out.contains(name) && out.contains("out of range"),
            || format!("{args:?}: exit {code}: {out}"),
        )?;
    }
    // The numbers of a range message read as a person writes them (it printed 1e-300 as 302
    // characters).
    let (_, out) = blindspot(&dir, &cases[0].0, &[]);
    ensure(
        out.contains("= 1e-300 is out of range: use a number in [1e-9, 0.5]"),
        || out.clone(),
    )?;
    let gate = blindspot::harness::SanityHarness::new(blindspot::cam::gradcam::GradCam)
        .family_wise_error(1e-300)
        .suite("default")
        .outcomes();
    ensure(
        gate.len() == 1
            && gate[0]
                .result
                .as_ref()
                .is_err_and(|e| e.contains("out of range")),
        || format!("{gate:?}"),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Inputs that never end or have no bound (a device as a suite or a report to merge, a shard
/// count merge could never complete, a 100,000-character argument, an input size a built-in
/// model cannot take) get one short message; a
/// check of no method is refused rather than passed; two methods that share a display name keep
/// two rows in report.html's matrix.
fn bounds() -> TestResult {
    let dir = scratch("bounds");
    let long = "9".repeat(100_000);
    let cases: [(Vec<&str>, &str); 7] = [
        (
            vec![
                "certify",
                "--model",
                "builtin:small-vgg",
                "--input-size",
                "10x10",
            ],
            "takes 64x64 inputs only",
        ),
        (
            vec![
                "certify",
                "--model",
                "builtin:rcnn",
                "--input-size",
                "8000x8000",
            ],
            "takes 29x29 inputs only",
        ),
        (vec!["run", "--suite", "/dev/zero"], "not a regular file"),
        (
            vec!["merge", "/dev/zero", "--out", "m"],
            "not a regular file",
        ),
        (vec!["run", "--shard", "1/4294967296"], "is not a shard"),
        (vec!["run", "--shard", &long], "is not a shard"),
        (
            vec![
                "check",
                "wall",
                "--model",
                "builtin:small-vgg",
                "--synthetic",
                "2",
                "--methods",
                "none",
            ],
            "no method to check",
        ),
    ];
    // Outputs that cannot be written are refused before the work: a file as the folder of
    // --json, a link to nothing as --out.
    std::fs::write(dir.join("afile"), "mine")?;
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling"))?;
    std::fs::write(dir.join("t.toml"), TINY)?;
    std::fs::create_dir_all(dir.join("afolder"))?;
    let header = "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
    let mut dup = b"\x93NUMPY\x01\x00".to_vec();
    dup.extend((header.len() as u16 + 1).to_le_bytes());
    dup.extend(header.as_bytes());
    dup.extend(b"\n\0\0\0\0");
    std::fs::write(dir.join("dup.npy"), dup)?;
    let early: [(Vec<&str>, &str); 5] = [
        (
            vec!["certify", "--model", "afolder"],
            "is a folder, not a file",
        ),
        (
            vec![
                "explain",
                "--model",
                "builtin:small-vgg",
                "--input",
                "dup.npy",
                "--method",
                "gradcam",
                "--out",
                "m.npy",
            ],
            "gives 'descr' 2 times",
        ),
        (
            vec![
                "prop",
                "replay",
                "prop:wall:seed=0:case=1",
                "--tau",
                "1e-30",
            ],
            "--tau",
        ),
        (
            vec![
                "check",
                "theorem",
                "--filters",
                "64",
                "--draws",
                "16",
                "--json",
                "afile/x.json",
            ],
            "afile is not a folder",
        ),
        (
            vec!["run", "--suite", "t.toml", "--out", "dangling"],
            "a link to nothing",
        ),
    ];
    for (args, want) in early {
        let (code, out) = blindspot(&dir, &args, &[]);
        ensure(
            code == 2 && out.contains(want) && out.contains("fix:"),
            || format!("{args:?}: exit {code}: {out}"),
        )?;
    }
    ensure(
        std::fs::read_to_string(dir.join("afile"))? == "mine",
        || "afile changed".into(),
    )?;
    std::fs::write(
        dir.join("none.toml"),
        "name = \"none\"\nmethods = []\n[[checks]]\ncheck = \"wall\"\n\
         model = \"builtin:small-vgg\"\ndata = { synthetic = 4 }\n",
    )?;
    let none = vec![
        "run",
        "--suite",
        "none.toml",
        "--expect-pass",
        "--out",
        "none",
    ];
    for (args, want) in cases
        .into_iter()
        .chain([(none, "the suite names no method")])
    {
        let (code, out) = blindspot(&dir, &args, &[]);
        ensure(code == 2 && out.contains(want) && out.len() < 2_000, || {
            let shown: String = out.chars().take(500).collect();
            format!(
                "{:?}: exit {code}, {} bytes: {shown}",
                &args[..2],
                out.len()
            )
        })?;
    }
    let text = "name = \"twins\"\nseed = 0\nmethods = [\"gradcam\", \"hirescam\"]\n[[checks]]\n\
                check = \"wall\"\nmodel = \"builtin:small-vgg\"\ndata = { synthetic = 2 }\n\
                looks = 1\n";
    let mut report = crate::common::suite(text, "twins.toml")?
        .run(Device::Cpu, None)?
        .report;
    for r in &mut report.results {
        r.title = "Twin".into();
    }
    let out = dir.join("twins");
    blindspot::report::write_report(&report, None, &out)?;
    let html = std::fs::read_to_string(out.join("report.html"))?;
    let matrix = &html[html.find("id=\"matrix\"").ok_or("no matrix")?..];
    let matrix = &matrix[..matrix.find("</table>").ok_or("open matrix")?];
    ensure(matrix.matches("<th>Twin</th>").count() == 2, || {
        format!("two methods titled alike share a row: {matrix}")
    })?;
    // `data --png` twice, the second run smaller: only its PNGs remain, and a file of the
    // user's in the folder stays.
    for n in ["4", "2"] {
        let (code, out) = blindspot(
            &dir,
            &["data", "--synthetic", n, "--out", "d", "--png"],
            &[],
        );
        ensure(code == 0, || format!("data: exit {code}: {out}"))?;
        std::fs::write(dir.join("d/png/notes.txt"), "mine")?;
    }
    let pngs = std::fs::read_dir(dir.join("d/png"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .count();
    ensure(pngs == 2 && dir.join("d/png/notes.txt").is_file(), || {
        format!("{pngs} PNGs after a run of 2")
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A shard's report.json is re-derived from its own evidence before merge uses it: every kind
/// of tampering a hostile or careless hand might do (a flipped verdict, a negative std, an
/// interval narrowed past the error rate, a moved closed form, a per-sample value changed, a
/// sign's verdict) is refused with the result it concerns; the untouched shard merges, and so
/// does its JSON, read back.
fn tampered() -> TestResult {
    let text = "name = \"audit\"\nseed = 3\nmethods = [\"gradcam\", \"eigencam\"]\n\
                [[checks]]\ncheck = \"wall\"\nmodel = \"builtin:small-vgg\"\n\
                data = { synthetic = 6 }\nlooks = 1\n\
                [[checks]]\ncheck = \"theorem\"\nfilters = [64]\nmin_draws = 64\nmax_draws = 64\n\
                [[checks]]\ncheck = \"class-sensitivity\"\nmodel = \"builtin:small-vgg\"\n\
                data = { synthetic = 4 }\nlooks = 1\n\
                [[checks]]\ncheck = \"randomization\"\nmodel = \"builtin:small-vgg\"\n\
                data = { synthetic = 4 }\nlooks = 1\ndraws = 2\nlayers = 1\n\
                [[checks]]\ncheck = \"efficient-mprt\"\nmodel = \"builtin:small-vgg\"\n\
                data = { synthetic = 4 }\nlooks = 1\ndraws = 2\n\
                [[checks]]\ncheck = \"prop-wall\"\ncases = 3\n";
    // Every built-in check splits into units (docs/sharding.md), so a shard's results sit in its
    // evidence; a check that does not split (a user's) is carried as whole results, which is
    // what the unsharded report marked as shard 1/1 looks like.
    let suite = crate::common::suite(text, "audit.toml")?;
    let split = suite.run(Device::Cpu, Some((1, 1)))?.report;
    let mut shard = suite.run(Device::Cpu, None)?.report;
    shard.shard = Some("1/1".into());
    for report in [&shard, &split] {
        let reread: blindspot::report::Report = serde_json::from_str(&report.to_json())?;
        crate::common::merge(vec![reread])?;
    }
    // In the evidence: a theorem configuration's closed form moved, a method's verdict flipped
    // (Efficient MPRT's re-derived from the threshold its findings record).
    let flipped = [
        ("theorem", "closed form"),
        ("wall", "give"),
        ("efficient-mprt", "against the threshold > 0 give"),
    ];
    for (check, what) in flipped {
        let mut report = split.clone();
        let e = report
            .evidence
            .iter()
            .position(|e| e.check == check)
            .ok_or(format!("no {check} units"))?;
        let value = &mut report.evidence[e].records[0].evidence;
        let one = if value.is_array() {
            &mut value[0]
        } else {
            value
        };
        let mut result: blindspot::check::CheckResult = serde_json::from_value(one.clone())?;
        let fields = result.findings.fields();
        let registry = blindspot::check::Registry::builtin();
        result.findings =
            blindspot::check::result::FindingsDecoder::decode_findings(&registry, check, fields)?;
        match result.findings.get_mut::<TheoremFindings>() {
            Some(t) => t.closed_form *= 10.0,
            None => {
                result.verdict = match result.verdict {
                    Verdict::Pass => Verdict::Fail,
                    _ => Verdict::Pass,
                }
            }
        }
        *one = serde_json::to_value(&result)?;
        let err = crate::common::merge(vec![report])
            .err()
            .ok_or(format!("tampered {check} evidence merged"))?
            .to_string();
        ensure(
            err.contains(what) && err.contains("contradicts its own evidence"),
            || format!("{check}: {err}"),
        )?;
    }
    let find = |check: &str, method: &str| {
        shard
            .results
            .iter()
            .position(|r| r.check == check && r.method == method)
            .ok_or(format!("no {check} {method}"))
    };
    let wall = find("wall", "gradcam")?;
    let theorem = find("theorem", "gradcam")?;
    let signs = find("wall", "eigencam")?;
    let classes = find("class-sensitivity", "gradcam")?;
    let controls = find("randomization", "eigencam")?;
    type Edit = Box<dyn Fn(&mut blindspot::check::CheckResult)>;
    let flip = |v: Verdict| match v {
        Verdict::Pass => Verdict::Fail,
        _ => Verdict::Pass,
    };
    let cases: Vec<(usize, &str, Edit)> = vec![
        (wall, "give", Box::new(move |r| r.verdict = flip(r.verdict))),
        (
            classes,
            "give",
            Box::new(move |r| r.verdict = flip(r.verdict)),
        ),
        (
            wall,
            "negative",
            Box::new(|r| r.summary.std = -r.summary.std - 0.1),
        ),
        (
            wall,
            "not the Student-t bounds",
            Box::new(|r| {
                let s = &mut r.summary;
                s.ci_low = s.mean - (s.mean - s.ci_low) / 10.0;
                s.ci_high = s.mean + (s.ci_high - s.mean) / 10.0;
            }),
        ),
        (
            wall,
            "records no threshold",
            Box::new(move |r| {
                r.threshold = None;
                r.verdict = flip(r.verdict);
            }),
        ),
        (
            wall,
            "not the Student-t bounds",
            Box::new(|r| {
                let s = &mut r.summary;
                (s.ci_low, s.ci_high) = (s.mean - 1e308, s.mean + 1e308);
            }),
        ),
        (
            wall,
            "not the Student-t bounds",
            Box::new(|r| r.summary.ci_level = 0.5),
        ),
        (wall, "looks = 0", Box::new(|r| r.looks = 0)),
        (
            theorem,
            "the target",
            Box::new(|r| {
                if let Some(t) = r.findings.get_mut::<TheoremFindings>() {
                    t.detail.relative_half_width = t.detail.target_relative_half_width * 10.0;
                }
                r.verdict = Verdict::Pass;
            }),
        ),
        (
            wall,
            "per-sample",
            Box::new(|r| r.per_sample[0] = r.per_sample[0].map(|v| v + 0.5)),
        ),
        (
            theorem,
            "closed form",
            Box::new(|r| {
                if let Some(t) = r.findings.get_mut::<TheoremFindings>() {
                    t.closed_form *= 10.0;
                }
            }),
        ),
        (
            signs,
            "sign: verdict",
            Box::new(move |r| {
                let other = flip(r.verdict);
                if let Some(s) = &mut r.signs {
                    s.negated.verdict = other;
                    s.as_computed.verdict = other;
                }
            }),
        ),
        // The issue's edits: a sign's verdict turned with the result's (both signs now agree),
        // and a negative control's, each against its own per-sample values.
        (
            signs,
            "sign: verdict",
            Box::new(move |r| {
                if let Some(s) = &mut r.signs {
                    for sign in [&mut s.negated, &mut s.as_computed] {
                        if sign.verdict == Verdict::Fail {
                            sign.verdict = Verdict::Pass;
                        }
                    }
                }
            }),
        ),
        (
            controls,
            "negative control",
            Box::new(move |r| {
                for c in &mut r.controls {
                    c.verdict = flip(c.verdict);
                }
            }),
        ),
        (
            controls,
            "negative control",
            Box::new(move |r| {
                for c in &mut r.controls {
                    c.ci_low = c.mean - 1e-9;
                    c.ci_high = c.mean + 1e-9;
                }
            }),
        ),
    ];
    ensure(shard.results[signs].signs.is_some(), || {
        "eigencam has no signs".into()
    })?;
    for (at, want, edit) in cases {
        let mut report = shard.clone();
        edit(&mut report.results[at]);
        let what = format!("{} {}", report.results[at].check, report.results[at].method);
        let err = crate::common::merge(vec![report])
            .err()
            .ok_or(format!("tampered {what} ({want}) merged"))?
            .to_string();
        ensure(
            err.contains(want) && err.contains("contradicts its own evidence"),
            || format!("{what}: {err}"),
        )?;
    }
    ensure(!shard.results[controls].controls.is_empty(), || {
        "randomization has no controls".into()
    })?;
    // One result's controls edited, the others' not: every result of a check carries the same.
    let mut report = shard.clone();
    let gradcam = find("randomization", "gradcam")?;
    report.results[gradcam].controls.reverse();
    let err = crate::common::merge(vec![report])
        .err()
        .ok_or("controls that differ between results merged")?
        .to_string();
    ensure(err.contains("negative controls recorded with"), || {
        err.clone()
    })?;
    // A property case turned from fail to pass while its µ stays above the tolerance.
    let mut report = split.clone();
    let e = report
        .evidence
        .iter()
        .position(|e| e.check == "prop-wall")
        .ok_or("no prop-wall units")?;
    let mut turned = false;
    for record in &mut report.evidence[e].records {
        for case in record.evidence["methods"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if case["verdict"] == "fail" {
                case["verdict"] = "pass".into();
                case["upsampling"] = false.into();
                turned = true;
            }
        }
    }
    ensure(turned, || "no failing prop-wall case to turn".into())?;
    let err = crate::common::merge(vec![report])
        .err()
        .ok_or("a turned property case merged")?
        .to_string();
    ensure(err.contains("against the tolerance"), || err.clone())?;
    // The report around the results: a partial merge passed as a shard, a check that lists no
    // result, a check the suite does not have, and shards of two suites that share a name.
    type ReportEdit = Box<dyn Fn(&mut blindspot::report::Report)>;
    let edits: Vec<(&str, ReportEdit)> = vec![
        (
            "not a shard",
            Box::new(|r| r.partial = Some("missing shards 2/2".into())),
        ),
        (
            "lists no result",
            Box::new(|r| {
                let drop = r.checks[0].results;
                r.checks[0].results = 0;
                r.results.drain(..drop);
            }),
        ),
        (
            "the suite does not have",
            Box::new(|r| r.checks.last_mut().unwrap().index = 1_000_000_000_000_000_000),
        ),
    ];
    // A partial merge takes what there is, but only shards that exist: 0/2 and 3/2 name none.
    for label in ["0/2", "3/2", "1/0", "1/99999"] {
        let mut report = shard.clone();
        report.shard = Some(label.into());
        let registry = blindspot::check::Registry::builtin();
        let err = blindspot::check::merge::merge(vec![report], true, &registry)
            .err()
            .ok_or(format!("a shard labelled {label} merged"))?
            .to_string();
        ensure(err.contains("is not a shard"), || format!("{label}: {err}"))?;
    }
    for (want, edit) in edits {
        let mut report = shard.clone();
        edit(&mut report);
        let err = crate::common::merge(vec![report])
            .err()
            .ok_or(format!("a report that {want} merged"))?
            .to_string();
        ensure(err.contains(want), || format!("{want}: {err}"))?;
    }
    let edited = text.replace("synthetic = 4", "synthetic = 6");
    let other = crate::common::suite(&edited, "audit.toml")?;
    let first = crate::common::suite(text, "audit.toml")?;
    let halves = vec![
        first.run(Device::Cpu, Some((1, 2)))?.report,
        other.run(Device::Cpu, Some((2, 2)))?.report,
    ];
    let err = crate::common::merge(halves)
        .err()
        .ok_or("shards of two suites merged")?
        .to_string();
    ensure(err.contains("comes from another suite"), || err.clone())?;
    // The command line refuses the same, exit 2, and writes nothing.
    let dir = scratch("tampered");
    let mut report = shard.clone();
    report.results[wall].summary.std = -1.0;
    std::fs::write(dir.join("s.json"), report.to_json())?;
    let (code, out) = blindspot(&dir, &["merge", "s.json", "--out", "m"], &[]);
    ensure(code == 2 && out.contains("std = -1 is negative"), || {
        format!("exit {code}: {out}")
    })?;
    ensure(!dir.join("m").exists(), || "merge wrote a folder".into())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The memory budget counts what a model file unpacks to (a zip of deflated zeros), what a
/// built-in model's layers hold for a batch, and the theorem's draws at its documented extremes:
/// each refused with one message before anything large is allocated; the same work in a smaller
/// batch runs.
fn memory() -> TestResult {
    use std::io::Write;
    let dir = scratch("memory");
    let budget = Path::new("64M");
    let env = [("BLINDSPOT_MEMORY_BUDGET", budget)];
    // A 128 MiB record deflated into a file of about 128 KiB.
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join("bomb.pt"))?);
    let deflated =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("bomb/data/0", deflated)?;
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        zip.write_all(&zeros)?;
    }
    zip.finish()?;
    let file = std::fs::metadata(dir.join("bomb.pt"))?.len();
    ensure(file < 1 << 20, || format!("the bomb is {file} bytes"))?;
    let x = tch::Tensor::rand([8, 3, 224, 224], (tch::Kind::Float, Device::Cpu));
    blindspot::io::npy::write(&dir.join("x.npy"), &x)?;
    let explain = |model: &str, batch: &str| {
        let args = [
            "explain",
            "--model",
            model,
            "--input",
            "x.npy",
            "--method",
            "gradcam",
            "--out",
            "maps.npy",
            "--batch-size",
            batch,
        ];
        blindspot(&dir, &args, &env)
    };
    for (model, batch, want) in [
        ("bomb.pt", "8", "loading bomb.pt would need 128.1 MiB"),
        (
            "builtin:vgg16-masked",
            "8",
            "running builtin:vgg16-masked on a batch of 8 images of 224x224 would need",
        ),
    ] {
        let (code, out) = explain(model, batch);
        ensure(
            code == 2 && out.contains(want) && out.contains("--batch-size"),
            || format!("{model}: exit {code}: {out}"),
        )?;
        ensure(!dir.join("maps.npy").exists(), || "maps written".into())?;
    }
    let (code, out) = explain("builtin:vgg16-masked", "1");
    ensure(code == 0 && dir.join("maps.npy").is_file(), || {
        format!("batch 1: exit {code}: {out}")
    })?;
    let (code, out) = blindspot(
        &dir,
        &["check", "theorem", "--filters", "65536", "--size", "512"],
        &[],
    );
    ensure(
        code == 2 && out.contains("V = 65536 filters and size 512 would need 510.0 GiB"),
        || format!("theorem: exit {code}: {out}"),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A suite is data: a file it makes blindspot write stays beside it, an expectation of a method
/// the check never judges is refused (a typo would switch a gate off), and two checks of one kind
/// get a report with a badge each. An image folder with something that is not an image file in
/// it is refused, not loaded short.
fn suites() -> TestResult {
    let dir = scratch("suites");
    let prop = "name = \"p\"\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"prop-wall\"\n\
                cases = 1\n";
    let wall = "[[checks]]\ncheck = \"wall\"\nmodel = \"builtin:small-vgg\"\n\
                data = { synthetic = 4 }\nlooks = 1\n";
    let cases = [
        (
            format!("{prop}regressions = \"../outside.txt\"\n"),
            "outside the suite's folder",
        ),
        (
            format!("{prop}regressions = \"/tmp/outside.txt\"\n"),
            "outside the suite's folder",
        ),
        (
            format!(
                "name = \"e\"\nmethods = [\"gradcam\"]\n{wall}expect = {{ gradkam = \"pass\" }}\n"
            ),
            "expects a verdict of `gradkam`",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.join("s.toml"), &text)?;
        let (code, out) = blindspot(&dir, &["run", "--suite", "s.toml", "--out", "o"], &[]);
        ensure(code == 2 && out.contains(want), || {
            format!("{text}: exit {code}: {out}")
        })?;
    }
    ensure(!dir.join("../outside.txt").exists(), || {
        "written outside".into()
    })?;
    // Two walls (two seeds of one model) and a theorem with one setting twice: a badge each.
    let text = format!(
        "name = \"twice\"\nmethods = [\"gradcam\"]\n{wall}{}[[checks]]\ncheck = \"theorem\"\n\
         filters = [64, 64]\ndraws = 16\n",
        wall.replace("looks = 1", "looks = 1\nmodel_seed = 1")
    );
    std::fs::write(dir.join("twice.toml"), &text)?;
    let (code, out) = blindspot(&dir, &["run", "--suite", "twice.toml", "--out", "t"], &[]);
    ensure(code != 2, || format!("two walls: exit {code}: {out}"))?;
    let mut badges: Vec<String> = std::fs::read_dir(dir.join("t/badges"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    badges.sort();
    ensure(
        badges
            == [
                "gradcam-theorem-V64-tau1-scale1-check3.json",
                "gradcam-theorem-V64-tau1-scale1.json",
                "gradcam-wall-check2.json",
                "gradcam-wall.json",
            ],
        || format!("badges: {badges:?}"),
    )?;
    // An image folder holding a subfolder, or a dangling link, is refused by name.
    let (code, out) = blindspot(
        &dir,
        &["data", "--synthetic", "2", "--out", "d", "--png"],
        &[],
    );
    ensure(code == 0, || format!("data: {out}"))?;
    let folder_wall = [
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--data",
        "d/png",
    ];
    std::fs::create_dir(dir.join("d/png/sub"))?;
    let (code, out) = blindspot(&dir, &folder_wall, &[]);
    ensure(code == 2 && out.contains("is a folder"), || {
        format!("subfolder: exit {code}: {out}")
    })?;
    std::fs::remove_dir(dir.join("d/png/sub"))?;
    std::os::unix::fs::symlink(dir.join("nowhere.png"), dir.join("d/png/z.png"))?;
    let (code, out) = blindspot(&dir, &folder_wall, &[]);
    ensure(
        code == 2 && out.contains("a link to nothing readable"),
        || format!("dangling link: exit {code}: {out}"),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// SIGKILL (which no handler sees) in the middle of an external job leaves a staging folder and
/// a job root; the next run removes both — and nothing of a live process or of the user's.
fn sigkill() -> TestResult {
    let dir = scratch("sigkill");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let suite = "name = \"slow\"\nmethods = []\n[[external]]\nname = \"sleeper\"\n\
                 command = \"sleep 60.4242 {job}\"\n[[checks]]\ncheck = \"wall\"\n\
                 model = \"builtin:small-vgg\"\ndata = { synthetic = 2 }\n";
    std::fs::write(dir.join("slow.toml"), suite)?;
    std::fs::create_dir_all(dir.join(".o.partial-1-mine"))?;
    let child = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .current_dir(&dir)
        .args([
            "run",
            "--suite",
            "slow.toml",
            "--out",
            "o",
            "--device",
            "cpu",
        ])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let leftovers = |folder: &Path, prefix: &str| -> Vec<String> {
        std::fs::read_dir(folder)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(prefix))
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = std::time::Instant::now();
    while leftovers(&tmp, "blindspot-external-").is_empty() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait_with_output()?;
    let staging = leftovers(&dir, ".o.partial-");
    ensure(staging.len() == 2, || {
        format!("staging after SIGKILL: {staging:?}")
    })?;
    ensure(leftovers(&tmp, "blindspot-external-").len() == 1, || {
        "no job root left to clean: the test proves nothing".into()
    })?;
    // The sleeping command died with blindspot (its supervisor saw the end of the pipe).
    ensure(
        within(5, || processes_with("sleep 60.4242 ").is_empty()),
        || "the external command outlived blindspot's SIGKILL".into(),
    )?;
    std::fs::write(dir.join("quick.toml"), TINY)?;
    let (code, out) = blindspot(
        &dir,
        &[
            "run",
            "--suite",
            "quick.toml",
            "--out",
            "o",
            "--device",
            "cpu",
        ],
        &[("TMPDIR", &tmp)],
    );
    ensure(code == 0 || code == 1, || format!("exit {code}: {out}"))?;
    // The wall check made no external job: clean the job root with a check that has one.
    let (_, _) = blindspot(
        &dir,
        &[
            "check",
            "wall",
            "--model",
            "builtin:small-vgg",
            "--synthetic",
            "2",
            "--methods",
            "none",
            "--external",
            "x=true",
            "--device",
            "cpu",
        ],
        &[("TMPDIR", &tmp)],
    );
    let staging = leftovers(&dir, ".o.partial-");
    ensure(staging == [".o.partial-1-mine"], || {
        format!("staging left (the user's own must stay): {staging:?}")
    })?;
    let roots = leftovers(&tmp, "blindspot-external-");
    ensure(roots.is_empty(), || format!("job roots left: {roots:?}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The processes whose command line holds `marker` (`sleep 300.MARKER`: the sleepers, not the
/// shell that started them).
fn processes_with(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (text.starts_with("sleep ") && text.contains(marker)).then_some(pid)
        })
        .collect()
}

/// Waits up to `seconds` for `done`.
fn within(seconds: u64, done: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed().as_secs() < seconds {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// An external command that starts a `setsid` child (a session and group of its own), a
/// background child and a foreground one, and hangs: whatever ends blindspot — SIGKILL (which
/// no handler sees), SIGHUP (a closed terminal), SIGQUIT, SIGTERM, SIGINT, or the method's
/// timeout — none of them is left, nor the job folder (but after SIGKILL, until the next
/// start). A SIGKILL to blindspot's whole process group (its supervisors too) leaves the
/// command's children, which the next start reaps. Before the supervisor, the group outlived
/// SIGKILL, SIGHUP and SIGQUIT, and a timeout left the `setsid` child running.
fn orphans() -> TestResult {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let dir = scratch("orphans");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let run = |marker: &str, timeout: &str, own_group: bool| -> std::io::Result<_> {
        let hang = format!("x=setsid sleep 300.{marker} & sleep 300.{marker} & sleep 300.{marker}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_blindspot"));
        command
            .current_dir(&dir)
            .args([
                "check",
                "wall",
                "--model",
                "builtin:small-vgg",
                "--synthetic",
                "2",
            ])
            .args(["--looks", "1", "--methods", "none", "--device", "cpu"])
            .args(["--external", &hang, "--external-timeout", timeout])
            .env("TMPDIR", &tmp)
            .env("BLINDSPOT_QUIET", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if own_group {
            command.process_group(0);
        }
        command.spawn()
    };
    let roots = || {
        std::fs::read_dir(&tmp).map_or(0, |d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("blindspot-external-")
                })
                .count()
        })
    };
    let signals = [
        ("kill", libc::SIGKILL),
        ("hup", libc::SIGHUP),
        ("quit", libc::SIGQUIT),
        ("term", libc::SIGTERM),
        ("int", libc::SIGINT),
    ];
    for (k, (name, signal)) in signals.into_iter().enumerate() {
        let marker = format!("{}{k}", std::process::id());
        let child = run(&marker, "600", false)?;
        ensure(
            within(90, || processes_with(&format!("300.{marker}")).len() == 3),
            || format!("{name}: the command never started its three children"),
        )?;
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let out = child.wait_with_output()?;
        let expected = match signal == libc::SIGKILL {
            true => out.status.signal() == Some(libc::SIGKILL),
            false => out.status.code() == Some(128 + signal),
        };
        ensure(expected, || format!("{name}: {:?}", out.status))?;
        ensure(
            within(5, || processes_with(&format!("300.{marker}")).is_empty()),
            || format!("{name}: left running: {:?}", processes_with(&marker)),
        )?;
        let left = roots();
        ensure(left == usize::from(signal == libc::SIGKILL), || {
            format!("{name}: {left} job folder(s) left")
        })?;
    }
    // The timeout: the error says every process was killed, and it is true.
    let marker = format!("{}5", std::process::id());
    let out = run(&marker, "3", false)?.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure(
        out.status.code() == Some(2) && stderr.contains("every process it started"),
        || format!("timeout: {:?} {stderr}", out.status),
    )?;
    ensure(processes_with(&format!("300.{marker}")).is_empty(), || {
        format!("timeout: left running: {:?}", processes_with(&marker))
    })?;
    // SIGKILL to the whole group: the supervisor dies too; the command's leader dies with it
    // (its parent-death signal), its children wait for the next start.
    let marker = format!("{}6", std::process::id());
    let child = run(&marker, "600", true)?;
    ensure(
        within(90, || processes_with(&format!("300.{marker}")).len() == 3),
        || "group: the command never started".to_string(),
    )?;
    // SAFETY: a signal to the group of the child this test started.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    let _ = child.wait_with_output()?;
    ensure(
        within(5, || !processes_with(&format!("300.{marker}")).is_empty()),
        || "group: nothing outlived the group's SIGKILL: the case proves nothing".to_string(),
    )?;
    let marker_next = format!("{}7", std::process::id());
    let _ = run(&marker_next, "1", false)?.wait_with_output()?;
    ensure(
        within(5, || processes_with(&format!("300.{marker}")).is_empty()),
        || format!("group: the next start left {:?}", processes_with(&marker)),
    )?;
    ensure(roots() == 0, || format!("{} job folder(s) left", roots()))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A file a suite names is confined by where it really lies, not by its text: a regressions path
/// through a linked folder, or a regressions file that is itself a link (to a secret), is
/// refused before anything is read or written, and no line of the file is ever shown. Before,
/// the write followed the linked folder out of the suite's, and the link's target was read and
/// its first line printed in the error.
fn suite_links() -> TestResult {
    let dir = scratch("suite-links");
    let outside = scratch("suite-links-outside");
    let prop = "name = \"p\"\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"prop-wall\"\n\
                cases = 1\n";
    std::os::unix::fs::symlink(&outside, dir.join("sub"))?;
    std::fs::write(outside.join("secret.txt"), "SECRET-TOKEN-1234\n")?;
    std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("reg.txt"))?;
    std::fs::write(dir.join("bad.txt"), "# comment\nSECRET-TOKEN-5678\n")?;
    let cases = [
        ("sub/reg.txt", "goes through the link"),
        ("reg.txt", "goes through the link"),
        (
            "bad.txt",
            "line 2 of the regressions file is not a replay string",
        ),
    ];
    for (path, want) in cases {
        std::fs::write(
            dir.join("s.toml"),
            format!("{prop}regressions = \"{path}\"\n"),
        )?;
        let (code, out) = blindspot(&dir, &["run", "--suite", "s.toml", "--out", "o"], &[]);
        ensure(code == 2 && out.contains(want), || {
            format!("{path}: exit {code}: {out}")
        })?;
        ensure(!out.contains("SECRET-TOKEN"), || {
            format!("{path}: the error shows the file's content: {out}")
        })?;
    }
    let written: Vec<PathBuf> = walk(&outside);
    ensure(written == [outside.join("secret.txt")], || {
        format!("written outside the suite's folder: {written:?}")
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
    Ok(())
}

/// Runs blindspot with `env`, killed after `seconds`: (exit code, or None when it had to be
/// killed; its output).
fn bounded(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    seconds: u64,
) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blindspot"));
    command
        .current_dir(dir)
        .args(args)
        .env("BLINDSPOT_QUIET", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("blindspot runs");
    let start = std::time::Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed().as_secs() < seconds {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let finished = child.try_wait().ok().flatten().is_some();
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (
        finished.then(|| out.status.code().unwrap_or(-1)),
        text.into_owned(),
    )
}

/// The model cache is blindspot's, but what lies in it is not trusted: the committed weights'
/// copy replaced by a link to /dev/zero (which grew to 5.5 GB before) or by a FIFO (which blocked
/// forever) is replaced by the real file, and the writability probe never follows a link planted
/// under the names it could take (it truncated the link's target before).
fn cache_files() -> TestResult {
    let dir = scratch("cache-files");
    let cache = dir.join("cache");
    let env = [("BLINDSPOT_CACHE", cache.as_path())];
    let wall = [
        "check",
        "wall",
        "--model",
        "builtin:stack-masked",
        "--synthetic",
        "2",
        "--looks",
        "1",
        "--methods",
        "gradcam",
        "--device",
        "cpu",
    ];
    let (code, out) = bounded(&dir, &wall, &env, 120);
    ensure(code == Some(0), || format!("first run: {code:?}: {out}"))?;
    let committed: Vec<PathBuf> = std::fs::read_dir(cache.join("models"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("committed-"))
        .collect();
    ensure(committed.len() == 1, || {
        format!("committed copies: {committed:?}")
    })?;
    let file = &committed[0];
    for (what, plant) in [
        ("a link to /dev/zero", "zero"),
        ("a FIFO", "fifo"),
        ("a truncated file", "short"),
    ] {
        std::fs::remove_file(file)?;
        match plant {
            "zero" => std::os::unix::fs::symlink("/dev/zero", file)?,
            "fifo" => {
                let c = std::ffi::CString::new(file.to_string_lossy().as_bytes())?;
                // SAFETY: a valid C string naming a path in the test's own folder.
                ensure(unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0, || {
                    "mkfifo".into()
                })?;
            }
            _ => std::fs::write(file, b"safetensors?")?,
        }
        let (code, out) = bounded(&dir, &wall, &env, 120);
        ensure(code == Some(0), || format!("{what}: {code:?}: {out}"))?;
        ensure(std::fs::symlink_metadata(file)?.is_file(), || {
            format!("{what}: not replaced by the weights")
        })?;
    }
    // The probe: links under every name `.probe-PID` the next processes could take.
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me\n")?;
    let last: u64 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")?
        .trim()
        .parse()?;
    let models = cache.join("models");
    for pid in last + 1..last + 3000 {
        std::os::unix::fs::symlink(&victim, models.join(format!(".probe-{pid}")))?;
    }
    let suite = "name = \"probe\"\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"wall\"\n\
                 model = \"builtin:stack-masked\"\ndata = { folder = \"missing\" }\n";
    std::fs::write(dir.join("probe.toml"), suite)?;
    let (code, out) = bounded(
        &dir,
        &["run", "--suite", "probe.toml", "--out", "o"],
        &env,
        60,
    );
    ensure(code == Some(2) && out.contains("missing"), || {
        format!("probe run: {code:?}: {out}")
    })?;
    ensure(std::fs::read_to_string(&victim)? == "keep me\n", || {
        "the probe wrote through a planted link".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A replay string is data, bounded like the command line's parameters: a τ of 1e300 (which
/// crashed with exit 101) or a network larger than any draw (3 x 128 x 128 with 64 channels, which
/// took several times the memory budget) is refused with exit 2, from the command line and from
/// a regressions file alike.
fn replays() -> TestResult {
    let dir = scratch("replays");
    let cases = [
        ("3x8x8/2k1s1p0nr/dense/bottom4/10/1e300", "a τ"),
        ("3x8x8/2k1s1p0nr/dense/bottom4/10/-1", "a τ"),
        ("3x128x128/64k3s1p1nr/dense/bottom4/10/1", "an input size"),
        ("3x64x64/512k3s1p1nr/dense/bottom4/10/1", "blocks"),
        ("3x64x64/8k3s1p1nr/dense/bottom4/100000/1", "a class count"),
    ];
    for (arch, says) in cases {
        let case = format!("prop:wall:seed=0:case=0:arch={arch}");
        let (code, out) = blindspot(&dir, &["prop", "replay", &case, "--method", "gradcam"], &[]);
        ensure(
            code == 2 && out.contains(says) && !out.contains("internal"),
            || format!("{arch}: exit {code}: {out}"),
        )?;
        std::fs::write(dir.join("reg.txt"), format!("{case}\n"))?;
        let suite = "name = \"r\"\nmethods = [\"gradcam\"]\n[[checks]]\ncheck = \"prop-wall\"\n\
                     cases = 1\nregressions = \"reg.txt\"\n";
        std::fs::write(dir.join("r.toml"), suite)?;
        let (code, out) = blindspot(&dir, &["run", "--suite", "r.toml", "--out", "o"], &[]);
        ensure(code == 2 && out.contains(says), || {
            format!("{arch} in a regressions file: exit {code}: {out}")
        })?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Method names and titles, and a suite's description, are checked where they enter, before any
/// work: a name of 210 characters (it failed at the badge's file name after the whole run), a
/// line break (it forged a `GradCAM pass` row) or an escape sequence (a suite's description
/// drove the terminal), and a method of the user's showing a built-in's title.
fn entering_names() -> TestResult {
    let dir = scratch("entering-names");
    let long = "m".repeat(210);
    let wall = [
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--synthetic",
        "2",
    ];
    let cases = [
        (format!("{long}=true"), "has 210 characters"),
        (
            "x\nGradCAM              pass=true".to_string(),
            "control character",
        ),
        ("\u{1b}[31mred=true".to_string(), "control character"),
        (" padded=true".to_string(), "empty name"),
    ];
    for (spec, says) in cases {
        let args: Vec<&str> = wall.iter().copied().chain(["--external", &spec]).collect();
        let (code, out) = blindspot(&dir, &args, &[]);
        ensure(
            code == 2 && (out.contains(says) || says == "empty name"),
            || format!("{spec:?}: exit {code}: {out}"),
        )?;
        ensure(
            !out.contains('\u{1b}') && !out.contains("\nGradCAM "),
            || format!("{spec:?}: the message forged a line or an escape: {out:?}"),
        )?;
    }
    let suite = "name = \"d\"\ndescription = \"\u{1b}[2J cleared\"\nmethods = [\"gradcam\"]\n\
                 [[checks]]\ncheck = \"theorem\"\nfilters = [64]\ndraws = 16\n";
    std::fs::write(dir.join("d.toml"), suite)?;
    let (code, out) = blindspot(&dir, &["run", "--suite", "d.toml", "--out", "o"], &[]);
    ensure(
        code == 2 && out.contains("description") && !out.contains('\u{1b}'),
        || format!("description: exit {code}: {out:?}"),
    )?;
    // A method of the user's code: a line break in its name, and a built-in's title.
    struct Named(&'static str, &'static str);
    impl blindspot::CamMethod for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn title(&self) -> &str {
            self.1
        }
        fn summary(&self) -> &str {
            "a name under test"
        }
        fn raw_map(&self, ctx: &blindspot::CamContext) -> blindspot::Result<tch::Tensor> {
            Ok(ctx.activations.sum_dim_intlist(1, false, tch::Kind::Float))
        }
    }
    let check = blindspot::check::theorem::TheoremCheck {
        filters: vec![64],
        draws: Some(16),
        ..Default::default()
    };
    for (method, says) in [
        (Named("a\nb", "AB"), "control character"),
        (Named("mine", "GradCAM"), "title `GradCAM` of a built-in"),
    ] {
        let err = blindspot::check::runner::run_one(
            "theorem",
            &check,
            vec![Box::new(method)],
            0.01,
            Device::Cpu,
            0,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        ensure(err.contains(says), || format!("{says}: {err:?}"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The file protocol says every job folder holds `model.pt`: a command that reads it from its
/// own folder works on every job, not only on the first of a weight state (before, the later
/// jobs' folders had none and job.json named the first job's).
fn job_models() -> TestResult {
    let dir = scratch("job-models");
    let maps = tch::Tensor::rand([2, 64, 64], (tch::Kind::Float, Device::Cpu));
    blindspot::io::npy::write(&dir.join("maps.npy"), &maps)?;
    let command = format!(
        "x=test -f {{dir}}/model.pt && grep -q \"$BLINDSPOT_JOB_DIR/model.pt\" {{job}} && cp {} \
         {{dir}}/maps.npy",
        dir.join("maps.npy").display()
    );
    let args = [
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--synthetic",
        "4",
        "--looks",
        "1",
        "--batch-size",
        "2",
        "--methods",
        "none",
        "--external",
        &command,
        "--device",
        "cpu",
    ];
    let (code, out) = blindspot(&dir, &args, &[]);
    ensure(code == 0 || code == 1, || format!("exit {code}: {out}"))?;
    // A method declared sign-ambiguous whose maps are >= 0 everywhere (a library's final maps,
    // after its ReLU) has no other sign: one message saying so, not an error verdict.
    let suite = format!(
        "name = \"s\"\nmethods = []\n[[external]]\nname = \"final-maps\"\n\
         command = \"cp {} {{dir}}/maps.npy\"\nsign_ambiguous = true\n[[checks]]\n\
         check = \"wall\"\nmodel = \"builtin:small-vgg\"\ndata = {{ synthetic = 2 }}\nlooks = 1\n",
        dir.join("maps.npy").display()
    );
    std::fs::write(dir.join("s.toml"), suite)?;
    let (code, out) = blindspot(&dir, &["run", "--suite", "s.toml", "--out", "o"], &[]);
    ensure(
        code == 2 && out.contains("its other sign is empty") && out.contains("--signed"),
        || format!("sign-ambiguous final maps: exit {code}: {out}"),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
