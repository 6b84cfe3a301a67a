//! The command line on good and bad input. Every bad input must give one clear message naming
//! the problem, a non-zero exit, no panic or backtrace, and no output file left behind.
use crate::common::{ensure, ensure_close, fixture, load_npy, TestResult};
use blindspot::io::npy;
use libtest_mimic::Trial;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Kind, Tensor};

fn blindspot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .args(args)
        .output()
        .expect("blindspot runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch_root().join(format!("cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save(path: &Path, t: &Tensor) {
    npy::write(path, t).unwrap();
}

/// `blindspot reliability` on a small suite under 3 seeds: one row per verdict with a verdict per
/// seed, the agreement counted from them, the exit code saying whether all agreed; fewer than 2
/// seeds is refused with nothing written.
fn reliability() -> TestResult {
    let dir = scratch("reliability");
    let suite = dir.join("small.toml");
    std::fs::write(
        &suite,
        "name = \"small\"\nmethods = [\"gradcam\", \"sobel\"]\n[[checks]]\n\
         check = \"input-invariance\"\nmodel = \"builtin:stack-masked\"\n\
         data = { synthetic = 4 }\nlooks = 1\n[[checks]]\ncheck = \"class-sensitivity\"\n\
         model = \"builtin:stack-masked\"\ndata = { synthetic = 4 }\nlooks = 1\n",
    )?;
    let out = dir.join("out");
    let (s, o) = (suite.display().to_string(), out.display().to_string());
    let args = [
        "reliability",
        "--suite",
        &s,
        "--seeds",
        "3",
        "--first-seed",
        "7",
        "--out",
        &o,
    ];
    let (code, stdout, stderr) = blindspot(&args);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("reliability.json"))?)?;
    ensure(json["seeds"] == serde_json::json!([7, 8, 9]), || {
        format!("{json}")
    })?;
    let rows = json["rows"].as_array().ok_or("no rows")?;
    ensure(rows.len() == 4, || format!("{} rows: {json}", rows.len()))?;
    let mut unanimous = true;
    for row in rows {
        let verdicts = row["verdicts"].as_array().ok_or("no verdicts")?;
        let modal = &row["modal"];
        let agreeing = verdicts.iter().filter(|v| *v == modal).count();
        ensure(verdicts.len() == 3 && row["agreeing"] == agreeing, || {
            format!("{row}")
        })?;
        unanimous &= agreeing == 3;
    }
    ensure(code == if unanimous { 0 } else { 1 }, || {
        format!("exit {code} for unanimous = {unanimous}\n{stderr}")
    })?;
    ensure(
        stdout.contains("| # | check | method | seed 7 | seed 8 | seed 9 |"),
        || stdout.clone(),
    )?;
    ensure(
        std::fs::read_to_string(out.join("reliability.md"))? == stdout_table(&stdout),
        || "reliability.md is not the printed table".into(),
    )?;
    let refused = dir.join("refused");
    let r = refused.display().to_string();
    let (code, _, stderr) = blindspot(&["reliability", "--suite", &s, "--seeds", "1", "--out", &r]);
    ensure(
        code == 2 && stderr.contains("--seeds") && !refused.exists(),
        || format!("exit {code}: {stderr}"),
    )
}

/// The table part of `blindspot reliability`'s output (before the line naming the files).
fn stdout_table(stdout: &str) -> String {
    stdout
        .split("\nwrote reliability.json")
        .next()
        .unwrap_or("")
        .to_string()
}

/// Runs `explain` expecting failure, with `expected` somewhere in stderr.
fn expect_failure(name: &str, build: impl Fn(&Path) -> Vec<String>, expected: &str) -> TestResult {
    let dir = scratch(name);
    let out = dir.join("maps.npy");
    let mut args = build(&dir);
    args.extend(["--out".to_string(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = blindspot(&args);
    ensure(code != 0, || {
        format!("exit code 0 for bad input; stderr: {stderr}")
    })?;
    ensure(stderr.contains(expected), || {
        format!("stderr does not say `{expected}`:\n{stderr}")
    })?;
    ensure(stderr.starts_with("error: "), || {
        format!("message does not start with `error: `:\n{stderr}")
    })?;
    for bad in [
        "panicked",
        "stack backtrace",
        "RUST_BACKTRACE",
        "Exception raised from",
    ] {
        ensure(!stderr.contains(bad), || {
            format!("stderr shows `{bad}`:\n{stderr}")
        })?;
    }
    ensure(!out.exists(), || {
        "a partial output file was left behind".into()
    })?;
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    ensure(leftovers.is_empty(), || {
        "a temporary file was left behind".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn plain_args(input: &str) -> Vec<String> {
    [
        "explain",
        "--model",
        &fixture("plain/model.pt").display().to_string(),
        "--input",
        input,
        "--method",
        "gradcam",
        "--device",
        "cpu",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn plain_input() -> String {
    fixture("plain/inputs.npy").display().to_string()
}

/// The most common verdict and its count; a tie reports the worse verdict.
fn tally() -> TestResult {
    use blindspot::check::reliability::{tally, Agreement};
    use blindspot::Verdict::{Fail, Inconclusive, Pass};
    assert_eq!(tally(&[Pass, Pass, Inconclusive]), (Pass, 2));
    assert_eq!(tally(&[Fail, Fail, Fail]), (Fail, 3));
    assert_eq!(tally(&[Pass, Fail, Inconclusive]), (Fail, 1));
    assert_eq!(tally(&[Inconclusive, Pass]), (Inconclusive, 1));
    let row = Agreement {
        index: 0,
        check: "wall".into(),
        configuration: None,
        method: "gradcam".into(),
        verdicts: vec![Pass, Pass, Inconclusive],
        modal: Pass,
        agreeing: 2,
        expected: Some(Pass),
    };
    assert_eq!((row.unanimous(), row.as_expected()), (false, Some(2)));
    Ok(())
}

/// `blindspot run --data/--preprocess/--weights` change the suite a merge compares: shards run
/// with other images never merge, and weights no check takes are refused, never ignored.
fn overrides() -> TestResult {
    use blindspot::check::suite::Suite;
    let registry = blindspot::Registry::builtin();
    let open = || Suite::open("default", &registry);
    let plain = open()?;
    let (mut a, mut b, mut c) = (open()?, open()?, open()?);
    a.override_inputs(Some(Path::new("images-a")), None, None)?;
    b.override_inputs(Some(Path::new("images-b")), None, None)?;
    c.override_inputs(Some(Path::new("images-a")), None, None)?;
    ensure(
        a.fingerprint != plain.fingerprint
            && a.fingerprint != b.fingerprint
            && a.fingerprint == c.fingerprint,
        || "the fingerprint does not follow --data".into(),
    )?;
    let err = open()?
        .override_inputs(None, None, Some(Path::new("w.safetensors")))
        .err()
        .ok_or("weights no check takes were accepted")?;
    ensure(
        err.to_string()
            .contains("no check of the suite `default` takes --weights"),
        || err.to_string(),
    )?;
    let mut paper = Suite::open("paper", &registry)?;
    paper.override_inputs(None, None, Some(Path::new("w.safetensors")))?;
    let took = paper
        .checks
        .iter()
        .filter_map(|e| e.check.subject())
        .all(|s| s.weights.as_deref() == Some(Path::new("w.safetensors")));
    ensure(took, || {
        "the paper suite's wall check did not take --weights".into()
    })
}

pub fn trials() -> Vec<Trial> {
    let mut t = vec![
        Trial::test("cli::explain_writes_maps_matching_the_library", explain_ok),
        Trial::test("cli::methods_lists_every_method", methods_list),
        Trial::test(
            "cli::guided_methods_on_a_torchscript_model_say_why",
            guided_on_torchscript,
        ),
        Trial::test("cli::reliability_reruns_a_suite_under_seeds", reliability),
        Trial::test("cli::reliability_tallies_the_modal_verdict", tally),
        Trial::test("cli::overrides_enter_the_suite_fingerprint", overrides),
        Trial::test("cli::bad_input::missing_model_file", || {
            expect_failure(
                "missing-model",
                |_| {
                    let mut a = plain_args(&plain_input());
                    a[2] = "/nonexistent/model.pt".into();
                    a
                },
                "does not exist",
            )
        }),
        Trial::test("cli::bad_input::corrupt_model_file", || {
            expect_failure(
                "corrupt-model",
                |dir| {
                    let path = dir.join("model.pt");
                    std::fs::write(&path, b"this is not a zip archive").unwrap();
                    let mut a = plain_args(&plain_input());
                    a[2] = path.display().to_string();
                    a
                },
                "is not a loadable TorchScript module",
            )
        }),
        Trial::test("cli::bad_input::torchscript_without_features_head", || {
            expect_failure(
                "no-methods",
                |_| {
                    let mut a = plain_args(&plain_input());
                    a[2] = fixture("no-split-methods.pt").display().to_string();
                    a
                },
                "has no method `features`",
            )
        }),
        Trial::test("cli::bad_input::wrong_rank", || {
            expect_failure(
                "rank",
                |dir| {
                    let p = dir.join("x.npy");
                    save(
                        &p,
                        &Tensor::zeros([3, 32, 32], (Kind::Float, tch::Device::Cpu)),
                    );
                    plain_args(&p.display().to_string())
                },
                "expected 4 dimensions",
            )
        }),
        Trial::test("cli::bad_input::wrong_dtype", || {
            expect_failure(
                "dtype",
                |dir| {
                    let p = dir.join("x.npy");
                    save(
                        &p,
                        &Tensor::zeros([2, 3, 32, 32], (Kind::Double, tch::Device::Cpu)),
                    );
                    plain_args(&p.display().to_string())
                },
                "holds float64 values; expected float32",
            )
        }),
        Trial::test("cli::bad_input::wrong_channel_count", || {
            expect_failure(
                "channels",
                |dir| {
                    let p = dir.join("x.npy");
                    save(
                        &p,
                        &Tensor::zeros([2, 1, 64, 64], (Kind::Float, tch::Device::Cpu)),
                    );
                    let mut a = plain_args(&p.display().to_string());
                    a[2] = "builtin:small-vgg".into();
                    a
                },
                "has 1 channel(s); builtin:small-vgg expects 3",
            )
        }),
        Trial::test("cli::bad_input::wrong_channel_count_torchscript", || {
            expect_failure(
                "channels-ts",
                |dir| {
                    let p = dir.join("x.npy");
                    save(
                        &p,
                        &Tensor::zeros([2, 1, 32, 32], (Kind::Float, tch::Device::Cpu)),
                    );
                    plain_args(&p.display().to_string())
                },
                "`features` of",
            )
        }),
        Trial::test("cli::bad_input::nan_in_input", || {
            expect_failure(
                "nan",
                |dir| {
                    let p = dir.join("x.npy");
                    let x = load_npy(&fixture("plain/inputs.npy"));
                    let _ = x.get(2).get(1).get(3).get(4).fill_(f64::NAN);
                    save(&p, &x);
                    plain_args(&p.display().to_string())
                },
                "NaN or Inf values (first in image 2)",
            )
        }),
        Trial::test("cli::bad_input::inf_in_input", || {
            expect_failure(
                "inf",
                |dir| {
                    let p = dir.join("x.npy");
                    let x = load_npy(&fixture("plain/inputs.npy"));
                    let _ = x.get(0).get(0).get(0).get(0).fill_(f64::INFINITY);
                    save(&p, &x);
                    plain_args(&p.display().to_string())
                },
                "NaN or Inf values (first in image 0)",
            )
        }),
        Trial::test("cli::bad_input::target_out_of_range", || {
            expect_failure(
                "target",
                |dir| {
                    let p = dir.join("t.npy");
                    save(&p, &Tensor::from_slice(&[0i64, 1, 6, 2]));
                    let mut a = plain_args(&plain_input());
                    a.extend(["--targets".into(), p.display().to_string()]);
                    a
                },
                "target 6 of image 2 is out of range: the model has 6 classes",
            )
        }),
        Trial::test("cli::bad_input::unknown_method", || {
            expect_failure(
                "method",
                |_| {
                    let mut a = plain_args(&plain_input());
                    a[6] = "gradkam".into();
                    a
                },
                "unknown method `gradkam`",
            )
        }),
        Trial::test("cli::bad_input::eigen_smooth_without_channel_maps", || {
            expect_failure(
                "eigen-smooth",
                |_| {
                    let mut a = plain_args(&plain_input());
                    a[6] = "eigencam-eigen-smooth".into();
                    a
                },
                "EigenCAM has no eigen_smooth form",
            )
        }),
        Trial::test("cli::bad_input::cuda_without_gpu", || {
            // On a GPU host ask for a device index that cannot exist instead.
            let (device, expected) = if blindspot::device::cuda_available() {
                ("cuda:99", "CUDA device(s) exist")
            } else {
                ("cuda", "device `cuda` requested, but")
            };
            expect_failure(
                "cuda",
                |_| {
                    let mut a = plain_args(&plain_input());
                    a[8] = device.into();
                    a
                },
                expected,
            )
        }),
        Trial::test("cli::bad_input::cuda_setting", || {
            let mut args = plain_args(&plain_input());
            args[8] = "cuda".into();
            let maps = crate::common::scratch_root().join("cuda-setting.npy");
            args.extend(["--out".into(), maps.display().to_string()]);
            let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
                .args(&args)
                .env("BLINDSPOT_CUDA", "maybe")
                .output()?;
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            ensure(
                out.status.code() == Some(2)
                    && stderr.contains("BLINDSPOT_CUDA=maybe is not one of auto, on, off")
                    && !stderr.contains("panicked"),
                || stderr.clone(),
            )
        }),
        Trial::test("cli::bad_input::not_an_npy_file", || {
            expect_failure(
                "not-npy",
                |dir| {
                    let p = dir.join("x.npy");
                    std::fs::write(&p, b"P6 this is an image").unwrap();
                    plain_args(&p.display().to_string())
                },
                "is not a readable .npy array",
            )
        }),
    ];
    t.push(crate::common::slow(
        "cli::run_writes_every_report_file",
        run_outputs,
    ));
    t.push(Trial::test("cli::cuda_backend_loads_at_run_time", || {
        // In its own process: the backend is loaded once per process.
        let out = Command::new(std::env::current_exe()?)
            .env(CUDA_CHILD, "1")
            .env("BLINDSPOT_CUDA", "on")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure(out.status.success(), || {
            String::from_utf8_lossy(&out.stderr).into_owned()
        })?;
        let lib = std::path::Path::new(env!("BLINDSPOT_LIBTORCH_LIB"));
        if !lib.join("libtorch_cuda.so").exists() {
            return ensure(stdout.contains("status NoBackend"), || stdout.clone());
        }
        // Loaded, and registered with libtorch: without the backend libtorch "could not run
        // 'aten::empty.memory_format' with arguments from the 'CUDA' backend"; with it, it
        // allocates (a GPU) or says why the driver cannot (no GPU).
        ensure(
            stdout.contains("status Loaded")
                && !stdout.contains("Could not run")
                && !stdout.contains("ATen_cuda"),
            || stdout.clone(),
        )
    }));
    t.push(Trial::test(
        "cli::memory_does_not_grow_over_1000_explain_calls",
        || {
            // In its own process (this test binary again, see `memory_child`), so that other
            // trials' allocations do not count.
            let out = Command::new(std::env::current_exe()?)
                .env(MEMORY_CHILD, "1000")
                .output()?;
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            ensure(out.status.success(), || stderr.to_string())?;
            let value = |key: &str| {
                stdout.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
            };
            let growth = value("growth_mb").ok_or_else(|| format!("no growth line in {stdout}"))?;
            // A leak of the smallest tensor of a call, the 1x64x8x8 activations (16 KiB), would
            // add 16 MB.
            ensure(growth < 8.0, || {
                format!("RSS grew by {growth:.1} MB over 1000 calls:\n{stdout}")
            })
        },
    ));
    t.push(Trial::test(
        "cli::bad_input::paper_suite_without_data",
        || {
            let (code, _, stderr) = blindspot(&[
                "run",
                "--suite",
                "paper",
                "--data",
                "/nonexistent/STACK-MIX",
                "--device",
                "cpu",
            ]);
            ensure(
                code != 0
                    && stderr.contains("the image folder /nonexistent/STACK-MIX does not exist")
                    && !stderr.contains("panicked"),
                || stderr,
            )
        },
    ));
    t.push(Trial::test("cli::bad_input::bad_shard", || {
        let (code, _, stderr) = blindspot(&["run", "--shard", "4/3", "--device", "cpu"]);
        ensure(code != 0 && stderr.contains("is not a shard"), || stderr)
    }));
    t.push(Trial::test("cli::bad_input::unwritable_output", || {
        let (code, _, stderr) = blindspot(&[
            "explain",
            "--model",
            &fixture("plain/model.pt").display().to_string(),
            "--input",
            &plain_input(),
            "--method",
            "gradcam",
            "--device",
            "cpu",
            "--out",
            "/proc/blindspot-cannot-write/maps.npy",
        ]);
        ensure(
            code != 0 && stderr.contains("cannot") && !stderr.contains("panicked"),
            || format!("code {code}, stderr {stderr}"),
        )
    }));
    t
}

fn explain_ok() -> TestResult {
    let dir = scratch("ok");
    let out = dir.join("maps.npy");
    let targets = fixture("plain/targets.npy").display().to_string();
    let mut args = plain_args(&plain_input());
    args.extend([
        "--targets".into(),
        targets,
        "--out".into(),
        out.display().to_string(),
    ]);
    let (code, _, stderr) = blindspot(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ensure(code == 0, || format!("exit {code}: {stderr}"))?;
    let maps = load_npy(&out);
    ensure_close(
        "CLI maps vs pytorch-grad-cam",
        &maps,
        &load_npy(&fixture("plain/maps/gradcam-targets.npy")),
        1e-4,
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// On a TorchScript model, `all` leaves the guided methods out with a note (the model keeps its
/// ReLUs inside its graph) and the other methods get their verdicts; named, a guided method gets
/// an error verdict that says why, and the others still theirs.
fn guided_on_torchscript() -> TestResult {
    let model = crate::common::fixture("plain/model.pt");
    let inputs = crate::common::fixture("plain/inputs.npy");
    let base = [
        "check",
        "input-invariance",
        "--model",
        model.to_str().unwrap(),
        "--input",
        inputs.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = blindspot(&base);
    ensure(
        code == 0
            && stderr.contains("guided-backprop, guided-gradcam, fullgrad left out of `all` for")
            && stdout.contains("0 errors")
            && !stdout.contains("GuidedBackprop"),
        || format!("all methods: exit {code}\n{stdout}\n{stderr}"),
    )?;
    // The same from a suite that runs `all` (its default).
    let dir = scratch("guided-suite");
    let suite = dir.join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "name = \"ts\"\ndescription = \"all on a TorchScript model\"\nseed = 0\n\n\
             [[checks]]\ncheck = \"input-invariance\"\nmodel = {:?}\ndata = {{ input = {:?} }}\n",
            model.to_str().unwrap(),
            inputs.to_str().unwrap()
        ),
    )?;
    let out = dir.join("out");
    let (code, stdout, stderr) = blindspot(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    ensure(
        code == 0
            && stderr.contains(
                "guided-backprop, guided-gradcam, fullgrad left out of `all` for the \
                 input-invariance check",
            )
            && stdout.contains("0 errors")
            && !stdout.contains("GuidedBackprop"),
        || format!("suite: exit {code}\n{stdout}\n{stderr}"),
    )?;
    // An expectation for a method left out is refused, not switched off in silence.
    let text = std::fs::read_to_string(&suite)?;
    std::fs::write(
        &suite,
        format!("{text}expect = {{ guided-backprop = \"fail\" }}\n"),
    )?;
    let (code, _, stderr) = blindspot(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    ensure(
        code == 2
            && stderr.contains("expects a verdict of `guided-backprop`, a method it does not"),
        || format!("suite expecting a method left out: exit {code}\n{stderr}"),
    )?;
    let mut named = base.to_vec();
    named.extend(["--methods", "saliency,guided-backprop"]);
    let (code, stdout, stderr) = blindspot(&named);
    ensure(
        code == 1
            && stdout.contains("Saliency             pass")
            && stdout.contains("GuidedBackprop       ERROR")
            && stdout.contains("keeps them inside its TorchScript graph"),
        || format!("named: exit {code}\n{stdout}\n{stderr}"),
    )
}

fn methods_list() -> TestResult {
    let (code, stdout, _) = blindspot(&["methods"]);
    ensure(code == 0, || "exit code".into())?;
    for name in crate::common::all_methods() {
        ensure(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name.as_str())),
            || format!("`{name}` missing from:\n{stdout}"),
        )?;
    }
    Ok(())
}

fn run_outputs() -> TestResult {
    let dir = scratch("run");
    let suite = crate::common::root().join("tests/data/tiny-suite.toml");
    let (code, stdout, stderr) = blindspot(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    ensure(code == 0, || format!("exit {code}: {stderr}"))?;
    ensure(
        stdout.contains("wall:") && stdout.contains("theorem:") && stdout.contains("passed"),
        || stdout.clone(),
    )?;
    for file in [
        "report.json",
        "report.md",
        "junit.xml",
        "badges/gradcam-wall.json",
        "badges/gradcam-wall.svg",
        "badges/hirescam-randomization.svg",
    ] {
        ensure(dir.join(file).is_file(), || format!("{file} missing"))?;
    }
    for svg in [
        "figures/figure1.svg",
        "figures/theorem.svg",
        "figures/randomization.svg",
    ] {
        let text = std::fs::read_to_string(dir.join(svg)).map_err(|e| format!("{svg}: {e}"))?;
        ensure(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            || format!("{svg} is not an SVG document"),
        )?;
    }
    let page = std::fs::read_to_string(dir.join("report.html"))?;
    ensure(
        page.contains("id=\"matrix\"") && page.ends_with("</html>\n"),
        || "report.html is not the whole page".into(),
    )?;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json"))?)?;
    ensure(
        report["check"] == "suite:tiny" && report["results"].as_array().map(|r| r.len()) == Some(5),
        || "report.json content".into(),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The environment variable that makes the test binary run [`cuda_child`] instead of the trials.
pub const CUDA_CHILD: &str = "BLINDSPOT_TEST_CUDA_CHILD";

/// Loads libtorch's CUDA backend the way the binaries do (`BLINDSPOT_CUDA=on` skips the driver
/// probe, so this runs on a machine without a GPU too) and prints what became of it: the status,
/// and the first line of libtorch's answer to allocating a tensor on `cuda:0`.
pub fn cuda_child() {
    let status = blindspot::device::cuda_status();
    println!("status {status:?}");
    match tch::Tensor::f_zeros([1], (Kind::Float, tch::Device::Cuda(0))) {
        Ok(_) => println!("allocation ok"),
        Err(e) => println!(
            "allocation error {}",
            blindspot::error::first_line(&e.to_string())
        ),
    }
}

/// The environment variable that makes the test binary run [`memory_child`] instead of the
/// trials.
pub const MEMORY_CHILD: &str = "BLINDSPOT_TEST_MEMORY_CALLS";

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        })
        .map(|pages| pages * 4096.0 / 1e6)
        .unwrap_or(f64::NAN)
}

/// RSS after a tenth of `calls` repeated explain calls (GradCAM, gradients through the head) on
/// the small VGG, and after all of them: allocations that outlive a call would show as growth.
pub fn memory_child(calls: usize) {
    let model = blindspot::open_model("builtin:small-vgg", tch::Device::Cpu, &Default::default())
        .expect("the small VGG opens");
    let x = blindspot::model::init::Init::new(2, tch::Device::Cpu).normal(&[1, 3, 64, 64], 1.0);
    let method =
        blindspot::cam::method_named("gradcam", &blindspot::Seeds::new(0)).expect("gradcam");
    let warm = calls / 10;
    let mut marks = Vec::new();
    for i in 0..calls {
        let e =
            blindspot::cam::explain(method.as_ref(), model.as_ref(), &x, None).expect("explain");
        let _ = e.maps.sum(Kind::Float).double_value(&[]);
        if i + 1 == warm || i + 1 == calls {
            marks.push(rss_mb());
        }
    }
    println!(
        "rss_after_warmup_mb {:.1}\nrss_after_{calls}_calls_mb {:.1}\ngrowth_mb {:.1}",
        marks[0],
        marks[1],
        marks[1] - marks[0]
    );
}
