//! Hostile but realistic input, one trial per class of defect: every case gives one clean
//! message and the right exit code (2 for bad input, 1 for an unexpected verdict), never a
//! panic, a hang, an orphan process, a leftover folder or a silently wrong answer. And a soak
//! test: 200 seeded malformed suites and .npy headers.
use crate::common::{ensure, fixture, root, TestResult};
use blindspot::io::npy;
use libtest_mimic::Trial;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    seconds: f64,
}

fn blindspot_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_blindspot"));
    command.args(args).env("BLINDSPOT_QUIET", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("blindspot runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn blindspot(args: &[&str]) -> Outcome {
    blindspot_env(args, &[])
}

/// `blindspot check wall` on the small VGG and 4 STACK-SYNTH images, plus `extra`.
fn small_wall(extra: &[&str]) -> Outcome {
    let base = [
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--synthetic",
        "4",
    ];
    let args: Vec<&str> = base.iter().chain(extra).copied().collect();
    blindspot(&args)
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch_root().join(format!("hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exit 2 with one clean message containing every one of `expected`.
fn refused(out: &Outcome, expected: &[&str]) -> TestResult {
    let e = &out.stderr;
    ensure(out.code == 2, || format!("exit {} (want 2)\n{e}", out.code))?;
    for bad in [
        "panicked",
        "backtrace",
        "internal failure",
        "Exception raised",
    ] {
        ensure(!e.contains(bad), || format!("stderr shows `{bad}`:\n{e}"))?;
    }
    for want in expected {
        ensure(e.contains(want), || format!("stderr lacks `{want}`:\n{e}"))?;
    }
    Ok(())
}

fn suite_file(dir: &Path, text: &str) -> String {
    let path = dir.join("suite.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn run_suite(dir: &Path, text: &str) -> Outcome {
    run_suite_env(dir, text, &[])
}

/// `blindspot run` of the suite `text` on the CPU, with `env` set.
fn run_suite_env(dir: &Path, text: &str, env: &[(&str, &str)]) -> Outcome {
    let suite = suite_file(dir, text);
    let out = dir.join("out").display().to_string();
    blindspot_env(
        &["run", "--suite", &suite, "--out", &out, "--device", "cpu"],
        env,
    )
}

const WALL: &str = "[[checks]]\ncheck = \"wall\"\nmodel = \"builtin:small-vgg\"\n";

pub fn trials() -> Vec<Trial> {
    vec![
        crate::common::slow("hostile::numbers_nobody_validated", numbers),
        Trial::test("hostile::loops_that_could_hang", hangs),
        Trial::test("hostile::sizes_over_the_memory_budget", budgets),
        Trial::test("hostile::no_silent_wrong_answer", silent),
        crate::common::slow("hostile::external_commands_leave_no_orphan", orphans),
        crate::common::slow("hostile::sigterm_kills_the_external_job", sigterm),
        crate::common::slow("hostile::output_folders_tell_the_truth", outputs),
        Trial::test("hostile::merge_refuses_incomplete_or_foreign_shards", merge),
        Trial::test("hostile::cheap_failures_come_first", late),
        Trial::test("hostile::messages_name_the_problem_once", messages),
        Trial::test("hostile::exit_codes_a_ci_can_use", exit_codes),
        Trial::test("hostile::soak_200_malformed_suites_and_headers", soak),
        Trial::test(
            "hostile::a_method_that_writes_its_inputs_changes_nothing_else",
            writes_inputs,
        ),
        Trial::test(
            "hostile::a_method_output_of_the_wrong_shape_is_named",
            wrong_shape,
        ),
    ]
}

/// A method that writes into its inputs in place (the images and the targets): it changes only
/// what it was handed, never what the next method sees (a Python method that did this moved
/// GradCAM's randomization mean from -0.058 to 0.043 before).
struct Vandal;

impl blindspot::CamMethod for Vandal {
    fn name(&self) -> &str {
        "vandal"
    }
    fn title(&self) -> &str {
        "Vandal"
    }
    fn summary(&self) -> &str {
        "zeroes its input images and targets in place, then returns a constant map"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &blindspot::CamContext) -> blindspot::Result<tch::Tensor> {
        let _ = ctx.input.shallow_clone().zero_();
        let _ = ctx.targets.shallow_clone().fill_(1);
        Ok(ctx
            .activations
            .sum_dim_intlist(1, false, tch::Kind::Float)
            .ones_like())
    }
}

fn writes_inputs() -> TestResult {
    use blindspot::check::wall::WallCheck;
    use blindspot::check::{Check, CheckContext, Subject};
    use blindspot::data::DataSpec;
    let subject = Subject {
        looks: 1,
        ..Subject::new(
            "builtin:small-vgg",
            DataSpec::Synthetic {
                synthetic: 6,
                seed: Some(3),
                size: 64,
            },
        )
    };
    let check = WallCheck::new(subject);
    let ctx = || CheckContext::new(tch::Device::Cpu, 3);
    let seeds = blindspot::Seeds::new(3);
    let gradcam = || blindspot::method_named("gradcam", &seeds).expect("gradcam");
    let alone = check.run(&[gradcam()], &ctx())?.results;
    let beside = check.run(&[Box::new(Vandal), gradcam()], &ctx())?.results;
    let (a, b) = (&alone[0], &beside[1]);
    ensure(
        a.per_sample == b.per_sample && a.verdict == b.verdict,
        || {
            format!(
                "GradCAM after a method that wrote its inputs: {:?} against {:?}",
                b.per_sample, a.per_sample
            )
        },
    )
}

/// A method's map of the wrong shape (a user's Rust method returning [N, h]) or type is one
/// message naming the method, what it returned and what a map must be; it panicked inside the
/// pipeline before, in libtorch's words.
fn wrong_shape() -> TestResult {
    struct Flat(&'static str, fn(&blindspot::CamContext) -> tch::Tensor);
    impl blindspot::CamMethod for Flat {
        fn name(&self) -> &str {
            self.0
        }
        fn title(&self) -> &str {
            self.0
        }
        fn summary(&self) -> &str {
            "returns the wrong thing"
        }
        fn raw_map(&self, ctx: &blindspot::CamContext) -> blindspot::Result<tch::Tensor> {
            Ok((self.1)(ctx))
        }
    }
    let model = blindspot::open_model(
        "builtin:small-vgg",
        tch::Device::Cpu,
        &blindspot::ModelOptions::default(),
    )?;
    let x = tch::Tensor::randn([2, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
    let cases: [(&str, fn(&blindspot::CamContext) -> tch::Tensor, &str); 4] = [
        (
            "flat",
            |c| {
                c.activations
                    .sum_dim_intlist([1, 3].as_slice(), false, tch::Kind::Float)
            },
            "a map of shape [2, 8]",
        ),
        (
            "ints",
            |c| c.activations.sum_dim_intlist(1, false, tch::Kind::Int64),
            "a tensor of Int64 values",
        ),
        (
            "short",
            |c| {
                c.activations
                    .sum_dim_intlist(1, false, tch::Kind::Float)
                    .narrow(0, 0, 1)
            },
            "a map of shape [1, 8, 8]",
        ),
        ("none", |_| tch::Tensor::new(), "an undefined tensor"),
    ];
    for (name, make, says) in cases {
        let err = match blindspot::explain(&Flat(name, make), model.as_ref(), &x, None) {
            Ok(_) => return Err(format!("{name}: explained").into()),
            Err(e) => e.to_string(),
        };
        ensure(
            err.contains(&format!("method `{name}` returned {says}")) && err.contains("[N, h, w]"),
            || format!("{name}: {err}"),
        )?;
    }
    Ok(())
}

fn numbers() -> TestResult {
    let dir = scratch("numbers");
    let cases: [(&str, &[&str]); 9] = [
        ("family_wise_error = 1.5\n", &["family_wise_error = 1.5"]),
        ("family_wise_error = nan\n", &["family_wise_error = NaN"]),
        (
            "[[checks]]\ncheck = \"theorem\"\nfilters = [0]\n",
            &["filters = 0 is out of range"],
        ),
        (
            "[[checks]]\ncheck = \"theorem\"\nkernel = 0\n",
            &["kernel = 0 is out of range"],
        ),
        (
            &format!("{WALL}data = {{ synthetic = 4, size = 2 }}\n"),
            &["data.size = 2"],
        ),
        (
            &format!("{WALL}data = {{ synthetic = 4, size = 0 }}\n"),
            &["data.size = 0"],
        ),
        (
            &format!("{WALL}data = {{ synthetic = 4 }}\nthreshold = -1\n"),
            &["threshold = -1"],
        ),
        (
            &format!("{WALL}data = {{ synthetic = 4 }}\nresolution = \"pixels\"\n"),
            &["pixels", "input", "features"],
        ),
        (
            "[[checks]]\ncheck = \"prop-vit-wall\"\ncases = 0\n",
            &["cases = 0 is out of range"],
        ),
    ];
    for (text, expected) in cases {
        let text = if text.starts_with("family") {
            format!("{text}{WALL}data = {{ synthetic = 4 }}\n")
        } else {
            text.to_string()
        };
        refused(&run_suite(&dir, &text), expected)?;
    }
    refused(
        &blindspot(&["certify", "--model", "builtin:rcnn", "--gradient-inputs=-3"]),
        &["--gradient-inputs = -3 is out of range"],
    )?;
    refused(
        &blindspot(&["prop", "vit-wall", "--max-shrink-steps=1001"]),
        &["max_shrink_steps = 1001 is out of range"],
    )?;
    // Issue 24's parameters: no randomization, a noise level or a shift that is not a number,
    // on the command line, where they are flags.
    let check = |name: &str, flag: &str| {
        blindspot(&[
            "check",
            name,
            "--model",
            "builtin:stack-masked",
            "--synthetic",
            "4",
            flag,
        ])
    };
    for (name, flag, expected) in [
        ("randomization", "--draws=0", "draws = 0 is out of range"),
        ("efficient-mprt", "--draws=0", "draws = 0 is out of range"),
        ("smooth-mprt", "--noise=-1", "noise = -1"),
        ("smooth-mprt", "--noise=NaN", "noise = NaN"),
        ("input-invariance", "--shift=inf", "shift = inf"),
        ("randomization", "--layers=0", "layers = 0 is out of range"),
        ("wall", "--resolution=pixels", "pixels"),
    ] {
        refused(&check(name, flag), &[expected])?;
    }
    // One image: no interval, so every image check answers `error` for each method (exit 1),
    // never an internal failure from a Student-t quantile of 0 degrees of freedom.
    let one = dir.join("one.npy");
    npy::write(
        &one,
        &tch::Tensor::rand([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu)),
    )?;
    let one = one.display().to_string();
    for name in [
        "wall",
        "randomization",
        "data-randomization",
        "smooth-mprt",
        "efficient-mprt",
        "class-sensitivity",
        "input-invariance",
    ] {
        let mut args = vec!["check", name, "--model", "builtin:stack-masked"];
        args.extend(["--input", &one, "--methods", "gradcam"]);
        if name == "randomization" || name.ends_with("mprt") {
            args.push("--draws=2");
        }
        let out = blindspot(&args);
        let answered = out.stdout.contains("gradcam: error") && !out.stderr.contains("internal");
        ensure(out.code == 1 && answered, || {
            format!(
                "{name} on one image: exit {}\n{}{}",
                out.code, out.stdout, out.stderr
            )
        })?;
    }
    let path = dir.join("absurd.npy");
    // A shape whose product overflows, and a plausible one that the data does not fill.
    for (shape, want) in [
        (
            "(9223372036854775807, 4, 2, 2)",
            &["too large to index"][..],
        ),
        ("(2, 3, 8, 8)", &["needs", "data bytes"][..]),
    ] {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 64]);
        std::fs::write(&path, bytes)?;
        let out = blindspot(&[
            "explain",
            "--model",
            "builtin:small-vgg",
            "--input",
            path.to_str().unwrap(),
            "--method",
            "gradcam",
            "--out",
            dir.join("m.npy").to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        refused(&out, want)?;
    }
    Ok(())
}

fn hangs() -> TestResult {
    for args in [
        &["check", "theorem", "--filters", "64", "--draws", "0"][..],
        &["check", "theorem", "--filters", "64", "--draws=-5"],
        &[
            "check",
            "theorem",
            "--filters",
            "64",
            "--min-draws",
            "0",
            "--max-draws",
            "0",
        ],
    ] {
        let out = blindspot(args);
        ensure(out.code == 2 && out.seconds < 30.0, || {
            format!("{args:?}: exit {}\n{}", out.code, out.stderr)
        })?;
        ensure(out.stderr.contains("out of range"), || out.stderr.clone())?;
    }
    let out = small_wall(&[
        "--methods",
        "none",
        "--external",
        "x=true",
        "--external-timeout",
        "nan",
    ]);
    refused(&out, &["timeout_seconds = NaN"])
}

fn budgets() -> TestResult {
    let dir = scratch("budgets");
    refused(
        &run_suite(
            &dir,
            &format!("{WALL}data = {{ synthetic = 1000000000000 }}\n"),
        ),
        &["data.synthetic = 1000000000000 is out of range"],
    )?;
    refused(
        &blindspot(&[
            "data",
            "--synthetic",
            "1",
            "--size",
            "10000000",
            "--out",
            dir.to_str().unwrap(),
        ]),
        &["--size = 10000000 is out of range"],
    )?;
    // A tiny budget refuses what fits by default, before allocating.
    let out = run_suite_env(
        &dir,
        &format!("{WALL}data = {{ synthetic = 64 }}\n"),
        &[("BLINDSPOT_MEMORY_BUDGET", "1M")],
    );
    refused(&out, &["over the budget", "BLINDSPOT_MEMORY_BUDGET"])?;
    // A resize bomb: a small PNG of 1 x 4000 pixels, refused from its header.
    let images = dir.join("images");
    std::fs::create_dir_all(&images)?;
    image::RgbImage::new(4000, 1).save(images.join("strip.png"))?;
    let out = blindspot(&[
        "check",
        "wall",
        "--model",
        "builtin:small-vgg",
        "--data",
        images.to_str().unwrap(),
        "--size",
        "64",
        "--preprocess",
        "resize-crop",
        "--device",
        "cpu",
    ]);
    refused(&out, &["strip.png", "aspect ratio"])
}

fn silent() -> TestResult {
    let dir = scratch("silent");
    // Finite but huge inputs overflow in the model: an error naming the stage, no maps written.
    let x = blindspot::model::init::Init::new(0, tch::Device::Cpu).normal(&[2, 3, 64, 64], 1.0);
    let x = (x * 1e38).clamp(-3e38, 3e38);
    let input = dir.join("huge.npy");
    npy::write(&input, &x)?;
    let maps = dir.join("maps.npy");
    let out = blindspot(&[
        "explain",
        "--model",
        "builtin:small-vgg",
        "--input",
        input.to_str().unwrap(),
        "--method",
        "gradcam",
        "--out",
        maps.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    refused(&out, &["NaN or Inf", "overflowed"])?;
    ensure(!maps.exists(), || "maps were written".into())?;
    // A family-wise error at the edge of its range is refused, not an infinite bound.
    for edge in ["0", "1"] {
        let out = blindspot(&[
            "check",
            "theorem",
            "--filters",
            "64",
            "--draws",
            "32",
            "--family-wise-error",
            edge,
        ]);
        refused(&out, &["--family-wise-error"])?;
    }
    // Certification on no evidence is refused, not a model certified blind everywhere.
    let out = blindspot(&[
        "certify",
        "--model",
        "builtin:rcnn-baseline",
        "--gradient-inputs",
        "0",
    ]);
    refused(&out, &["--gradient-inputs = 0"])
}

/// A command that starts a grandchild writing its pid, then sleeps past the timeout.
fn sleeper(dir: &Path) -> String {
    let pid = dir.join("grandchild.pid");
    format!(
        "sh -c 'echo $$ > {}; exec sleep 60' & sleep 60",
        pid.display()
    )
}

/// Whether the process whose pid `pid_file` holds is running (a zombie, killed but not reaped
/// by a container's init, counts as dead).
fn alive(pid_file: &Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // The state follows the parenthesised command name: `12 (sleep) S ...`.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    !pid.trim().is_empty() && matches!(state, Some(s) if s != "Z" && s != "X")
}

/// The external job folders process `pid` created.
fn external_folders(pid: u32) -> usize {
    let mine = format!("blindspot-external-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
                .count()
        })
        .unwrap_or(0)
}

fn orphans() -> TestResult {
    let dir = scratch("orphans");
    let external = format!("slow={}", sleeper(&dir));
    let out = small_wall(&[
        "--methods",
        "none",
        "--external",
        &external,
        "--external-timeout",
        "2",
        "--device",
        "cpu",
    ]);
    refused(&out, &["did not finish within 2 s", "--keep-jobs"])?;
    std::thread::sleep(Duration::from_millis(300));
    ensure(!alive(&dir.join("grandchild.pid")), || {
        "the grandchild survived the timeout".into()
    })?;
    ensure(!out.stderr.contains("/tmp/blindspot-external"), || {
        format!("the message points at a removed folder:\n{}", out.stderr)
    })
}

fn sigterm() -> TestResult {
    let dir = scratch("sigterm");
    let external = format!("slow={}", sleeper(&dir));
    let mut child = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .args([
            "check",
            "wall",
            "--model",
            "builtin:small-vgg",
            "--synthetic",
            "4",
        ])
        .args([
            "--methods",
            "none",
            "--external",
            &external,
            "--device",
            "cpu",
        ])
        .env("BLINDSPOT_QUIET", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid_file = dir.join("grandchild.pid");
    let start = Instant::now();
    while !alive(&pid_file) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure(alive(&pid_file), || {
        "the external command never started".into()
    })?;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait()?;
    std::thread::sleep(Duration::from_millis(300));
    ensure(status.code() == Some(128 + libc::SIGTERM), || {
        format!("exit {status}")
    })?;
    ensure(!alive(&pid_file), || {
        "the external command survived SIGTERM".into()
    })?;
    ensure(external_folders(child.id()) == 0, || {
        "a job folder was left behind".into()
    })
}

fn outputs() -> TestResult {
    let dir = scratch("outputs");
    let out = dir.join("out");
    let tiny = "[[checks]]\ncheck = \"theorem\"\nfilters = [64]\ndraws = 16\n";
    for methods in ["[\"gradcam\", \"hirescam\"]", "[\"gradcam\"]"] {
        let suite = suite_file(
            &dir,
            &format!("methods = {methods}\n{WALL}data = {{ synthetic = 4 }}\n{tiny}"),
        );
        let r = blindspot(&[
            "run",
            "--suite",
            &suite,
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        ensure(r.code == 0 || r.code == 1, || r.stderr.clone())?;
    }
    ensure(!out.join("badges/hirescam-wall.json").exists(), || {
        "a stale badge survived".into()
    })?;
    ensure(out.join("badges/gradcam-wall.json").exists(), || {
        "the new badge is missing".into()
    })?;
    let leftovers: Vec<_> = std::fs::read_dir(&dir)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    ensure(leftovers.is_empty(), || {
        "a staging folder was left behind".into()
    })?;
    // An output path that is not a regular file is refused, not replaced.
    let r = blindspot(&[
        "check",
        "theorem",
        "--filters",
        "64",
        "--draws",
        "16",
        "--json",
        dir.to_str().unwrap(),
    ]);
    refused(&r, &["not a regular file"])?;
    // Method names: unique and non-empty across built-ins and externals; an external method
    // never takes a built-in's name, selected or not.
    let r = small_wall(&["--external", "gradcam=true"]);
    refused(&r, &["built-in method name `gradcam`"])?;
    let r = small_wall(&["--methods", "none", "--external", "GradCAM=true"]);
    refused(&r, &["built-in method name `GradCAM`"])?;
    let r = small_wall(&["--external", "e=true", "--external", "e=false"]);
    refused(&r, &["two methods are named `e`"])?;
    let r = small_wall(&["--external", "=true"]);
    refused(&r, &["empty name"])
}

fn merge() -> TestResult {
    let dir = scratch("merge");
    let suite = suite_file(
        &dir,
        concat!(
            "[[checks]]\ncheck = \"theorem\"\nfilters = [64]\ndraws = 16\n",
            "[[checks]]\ncheck = \"theorem\"\nfilters = [256]\ndraws = 16\n",
        ),
    );
    for k in 1..=2 {
        let out = dir.join(format!("s{k}"));
        let shard = format!("{k}/2");
        let r = blindspot(&[
            "run",
            "--suite",
            &suite,
            "--shard",
            &shard,
            "--out",
            out.to_str().unwrap(),
        ]);
        ensure(r.code != 2, || r.stderr.clone())?;
    }
    let one = dir.join("s1/report.json");
    let merged = dir.join("merged");
    let r = blindspot(&[
        "merge",
        one.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    refused(&r, &["shards 2/2 are missing", "--allow-partial"])?;
    let r = blindspot(&[
        "merge",
        one.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "--allow-partial",
    ]);
    ensure(r.code != 2 && r.stdout.contains("PARTIAL"), || {
        r.stderr.clone()
    })?;
    let json = std::fs::read_to_string(merged.join("report.json"))?;
    ensure(json.contains("\"partial\": \"missing shards 2/2\""), || {
        json.clone()
    })?;
    let foreign = dir.join("old.json");
    std::fs::write(
        &foreign,
        json.replace(blindspot::report::SCHEMA, "blindspot-report/1"),
    )?;
    let r = blindspot(&[
        "merge",
        foreign.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    refused(
        &r,
        &["schema `blindspot-report/1`", blindspot::report::SCHEMA],
    )
}

fn late() -> TestResult {
    let dir = scratch("late");
    // An unwritable output fails before any work.
    let suite = suite_file(&dir, &format!("{WALL}data = {{ synthetic = 4 }}\n"));
    let r = blindspot(&[
        "run",
        "--suite",
        &suite,
        "--out",
        "/proc/blindspot/out",
        "--device",
        "cpu",
    ]);
    refused(&r, &["/proc/blindspot"])?;
    // A cache that is a file fails before any training.
    let cache = dir.join("cache-file");
    std::fs::write(&cache, b"not a folder")?;
    let text = "[[checks]]\ncheck = \"wall\"\nmodel = \"builtin:stack-masked\"\n";
    let r = run_suite_env(
        &dir,
        &format!("{text}data = {{ synthetic = 4 }}\n"),
        &[("BLINDSPOT_CACHE", cache.to_str().unwrap())],
    );
    refused(&r, &["model cache"])?;
    // A later check's missing input is found before the first check runs.
    let text = format!(
        "{WALL}data = {{ synthetic = 4 }}\n[[checks]]\ncheck = \"randomization\"\n\
         model = \"builtin:small-vgg\"\ndata = {{ folder = \"missing\" }}\n"
    );
    let suite = suite_file(&dir, &text);
    let out = dir.join("out").display().to_string();
    let args = ["run", "--suite", &suite, "--out", &out, "--device", "cpu"];
    let r = blindspot_env(&args, &[("BLINDSPOT_QUIET", "0")]);
    refused(&r, &["missing does not exist"])?;
    ensure(!r.stderr.contains("wall check on"), || {
        "the first check ran before the refusal".into()
    })
}

fn messages() -> TestResult {
    let r = blindspot(&[
        "explain",
        "--model",
        "/nonexistent/m.pt",
        "--input",
        "/nonexistent/x.npy",
        "--method",
        "gradcam",
        "--out",
        "/tmp/m.npy",
    ]);
    refused(&r, &["does not exist"])?;
    let r = blindspot(&[
        "merge",
        "/nonexistent/report.json",
        "--out",
        "/tmp/blindspot-merge-x",
    ]);
    refused(&r, &["No such file"])?;
    ensure(r.stderr.matches("No such file").count() == 1, || {
        format!("OS error twice:\n{}", r.stderr)
    })?;
    let dir = scratch("messages");
    refused(
        &run_suite(&dir, &format!("{WALL}data = {{ synthtic = 4 }}\n")),
        &["synthtic"],
    )?;
    refused(
        &run_suite(
            &dir,
            &format!("methods = 3\n{WALL}data = {{ synthetic = 4 }}\n"),
        ),
        &["\"all\", \"none\", or a list"],
    )?;
    let r = blindspot(&["check", "wal", "--model", "builtin:small-vgg"]);
    ensure(
        r.code == 2 && r.stderr.contains("wall") && !r.stderr.contains("error: error"),
        || r.stderr.clone(),
    )
}

fn exit_codes() -> TestResult {
    let dir = scratch("exit");
    let base = concat!(
        "methods = [\"hirescam\", \"gradcam\"]\n[[checks]]\ncheck = \"wall\"\n",
        "model = \"builtin:stack-masked\"\ndata = { synthetic = 16 }\n"
    );
    let met = run_suite(
        &dir,
        &format!("{base}[checks.expect]\nhirescam = \"pass\"\ngradcam = \"fail\"\n"),
    );
    ensure(met.code == 0, || {
        format!("expectations met: exit {}\n{}", met.code, met.stderr)
    })?;
    let unmet = run_suite(&dir, &format!("{base}[checks.expect]\n\"*\" = \"pass\"\n"));
    ensure(
        unmet.code == 1 && unmet.stdout.contains("unexpected verdicts"),
        || format!("exit {}", unmet.code),
    )?;
    let suite = suite_file(&dir, base);
    let out = dir.join("o").display().to_string();
    let r = blindspot(&["run", "--suite", &suite, "--out", &out, "--expect-pass"]);
    ensure(r.code == 1, || {
        format!("--expect-pass with a failing method: exit {}", r.code)
    })?;
    let r = blindspot(&["run", "--suite", &suite, "--out", &out]);
    ensure(r.code == 0, || format!("no expectation: exit {}", r.code))?;
    let r = blindspot(&["run", "--no-such-flag"]);
    ensure(r.code == 2, || format!("usage error: exit {}", r.code))
}

fn soak() -> TestResult {
    // Seeded fuzzing of a valid suite's keys, types and numbers, and of .npy headers: every
    // result must be Ok or Err — no panic, no hang (each parse is bounded by construction), no
    // abort (sizes go through the budget).
    let base = std::fs::read_to_string(root().join("checks/default.toml"))?;
    let numbers = [
        "0",
        "-1",
        "1e308",
        "nan",
        "inf",
        "-0.0",
        "18446744073709551615",
        "2",
        "\"x\"",
        "[]",
        "{}",
    ];
    let mut rng = StdRng::seed_from_u64(12);
    let mut panics = Vec::new();
    for case in 0..200 {
        let mut lines: Vec<String> = base.lines().map(String::from).collect();
        for _ in 0..rng.random_range(1..4usize) {
            let i = rng.random_range(0..lines.len());
            let line = lines[i].clone();
            lines[i] = match rng.random_range(0..4) {
                0 => match line.split_once('=') {
                    Some((k, _)) => format!("{k}= {}", numbers[rng.random_range(0..numbers.len())]),
                    None => line,
                },
                1 => line.replacen(|c: char| c.is_ascii_lowercase(), "q", 1),
                2 => String::new(),
                _ => format!(
                    "{line}\nsynthetic = {}",
                    numbers[rng.random_range(0..numbers.len())]
                ),
            };
        }
        let text = lines.join("\n");
        let parsed =
            std::panic::catch_unwind(|| crate::common::suite(&text, "fuzz.toml").map(|_| ()));
        if parsed.is_err() {
            panics.push(format!("suite case {case}:\n{text}"));
        }
    }
    let dir = scratch("soak");
    for case in 0..200 {
        let dims: Vec<String> = (0..rng.random_range(0..6usize))
            .map(|_| match rng.random_range(0..3) {
                0 => rng.random_range(0..5u64).to_string(),
                1 => u64::MAX.to_string(),
                _ => (rng.random::<u32>() as u64).to_string(),
            })
            .collect();
        let descr = ["<f4", "<f8", "<i8", "|b1", "<c8", "zz"][rng.random_range(0..6)];
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, ), }}",
            dims.join(", ")
        );
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(vec![0u8; rng.random_range(0..256)]);
        let path = dir.join(format!("h{case}.npy"));
        std::fs::write(&path, bytes)?;
        let read = std::panic::catch_unwind(|| npy::read(&path).map(|a| a.to_tensor().numel()));
        if read.is_err() {
            panics.push(format!("npy case {case}: {header}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = fixture("");
    ensure(panics.is_empty(), || {
        format!("{} panics:\n{}", panics.len(), panics.join("\n"))
    })
}
