//! Gates that tell the truth: the cargo-test harness names a trial after a method only when that
//! method's maps decide it, a failing property trial prints a replay its user can run, JUnit,
//! the terminal, report.md and report.html judge verdicts against the expectations exactly as
//! the exit code does, a suite that needs trained weights refuses to run without them, and the
//! figures show the sign a sign-ambiguous method was judged on. (the README's Rust gate crate and the
//! Python library's workflow are run by `make test` after the cargo tests: tests/*.py.)
use crate::common::{ensure, TestResult};
use crate::property::{ActivationEnergy, GradientTimesInput};
use blindspot::cam::gradcam::GradCam;
use blindspot::cam::{CamContext, CamMethod, Origin};
use blindspot::check::property::replay_command;
use blindspot::check::suite::Suite;
use blindspot::check::wall::WallFindings;
use blindspot::check::{CheckContext, Registry};
use blindspot::harness::SanityHarness;
use libtest_mimic::Trial;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("gates::harness_lists_only_what_the_method_decides", decides),
        Trial::test(
            "gates::checks_about_gradcam_never_call_the_method",
            never_called,
        ),
        Trial::test("gates::replays_name_what_rebuilds_the_method", replays),
        Trial::test(
            "gates::junit_and_reports_agree_with_the_exit_code",
            expectations,
        ),
        Trial::test("gates::paper_suite_refuses_untrained_weights", untrained),
        Trial::test("gates::figures_show_the_judged_sign", judged_sign),
        Trial::test("gates::an_expectation_that_names_no_trial_fails", typo),
    ]
}

/// `.expect("::wal::", …)` (a typo of `::wall::`) names no trial: the gate gets a failing trial
/// saying so instead of ignoring it; the right pattern adds none.
fn typo() -> TestResult {
    let gate = |pattern: &str| {
        names(
            &SanityHarness::new(Counting(Arc::default()))
                .suite("default")
                .expect(pattern, blindspot::Verdict::Fail),
        )
    };
    let (typo, right) = (gate("::wal::"), gate("::wall::"));
    ensure(
        typo.iter().any(|n| n == "expect::::wal::")
            && !right.iter().any(|n| n.starts_with("expect::")),
        || format!("with the typo: {typo:?}\nwithout: {right:?}"),
    )?;
    let outcome = SanityHarness::new(Counting(Arc::default()))
        // Its one check is about GradCAM, left out of this method's gate: no trial runs.
        .suite_toml(
            "tiny.toml",
            "name = \"tiny\"\n[[checks]]\ncheck = \"theorem\"\n",
        )
        .expect("::wal::", blindspot::Verdict::Fail)
        .outcomes();
    ensure(
        outcome.len() == 1
            && outcome[0]
                .result
                .as_ref()
                .is_err_and(|e| e.contains("matches no trial of this gate")),
        || format!("{outcome:?}"),
    )
}

/// A method of "your own" code that counts the maps it is asked for (GradCAM's formula).
struct Counting(Arc<AtomicUsize>);

impl CamMethod for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn title(&self) -> &str {
        "Counting"
    }
    fn summary(&self) -> &str {
        "GradCAM that counts its calls"
    }
    fn raw_map(&self, ctx: &CamContext) -> blindspot::Result<Tensor> {
        self.0.fetch_add(1, Ordering::SeqCst);
        GradCam.raw_map(ctx)
    }
}

const ABOUT_GRADCAM: [&str; 3] = ["::theorem::", "::prop-theorem::", "::prop-positivity::"];

fn names(harness: &SanityHarness) -> Vec<String> {
    harness
        .trials()
        .iter()
        .map(|t| t.name().to_string())
        .collect()
}

/// The default suite gated for a method of the user's: every trial carries its name and none is
/// about GradCAM; the harness says which checks it left out. GradCAM's own gate keeps them.
fn decides() -> TestResult {
    let mine = SanityHarness::new(Counting(Arc::default())).suite("default");
    let listed = names(&mine);
    ensure(!listed.is_empty(), || "no trials".into())?;
    for name in &listed {
        ensure(name.ends_with("::counting"), || format!("trial {name}"))?;
        ensure(!ABOUT_GRADCAM.iter().any(|a| name.contains(a)), || {
            format!("{name} is about GradCAM, not the method")
        })?;
    }
    let left = mine.left_out();
    ensure(
        left.len() == 3 && left.iter().all(|l| l.ends_with("(about gradcam)")),
        || format!("left out {left:?}"),
    )?;
    let gradcam = names(&SanityHarness::new(GradCam).suite("default"));
    for about in ABOUT_GRADCAM {
        ensure(gradcam.iter().any(|n| n.contains(about)), || {
            format!("GradCAM's gate lost {about}: {gradcam:?}")
        })?;
    }
    ensure(gradcam.len() > listed.len(), || {
        format!("{} vs {} trials", gradcam.len(), listed.len())
    })
}

/// Each check that declares itself about GradCAM really never calls the methods it is given.
fn never_called() -> TestResult {
    let registry = Registry::builtin();
    let tiny = [
        (
            "theorem",
            "filters = [64]\nmin_draws = 16\nmax_draws = 16\n",
        ),
        ("prop-theorem", "cases = 1\n"),
        ("prop-positivity", "cases = 1\ndraws = 8\n"),
    ];
    for (name, params) in tiny {
        let text = format!("name = \"t\"\n[[checks]]\ncheck = \"{name}\"\n{params}");
        let suite = Suite::parse(&text, "tiny.toml", Path::new("."), &registry)?;
        let check = &suite.checks[0].check;
        ensure(check.fixed_method() == Some("gradcam"), || {
            format!("{name} does not say it is about GradCAM")
        })?;
        let calls = Arc::new(AtomicUsize::new(0));
        let methods: Vec<Box<dyn CamMethod>> = vec![Box::new(Counting(Arc::clone(&calls)))];
        check.run(&methods, &CheckContext::new(Device::Cpu, 0))?;
        ensure(calls.load(Ordering::SeqCst) == 0, || {
            format!("{name} called the method it says it ignores")
        })?;
    }
    Ok(())
}

/// A counterexample's replay: the CLI for built-in and external methods, the harness call for a
/// method in Rust code — and that call replays it (the leak fails there, a non-leak holds).
fn replays() -> TestResult {
    let case = "prop:wall:seed=0:case=3";
    let builtin = replay_command(case, &GradCam);
    ensure(
        builtin == format!("blindspot prop replay {case} --method gradcam"),
        || builtin.clone(),
    )?;
    let external =
        blindspot::cam::external::ExternalMethod::parse("ext=python3 a'b.py {job}", 5.0)?;
    ensure(
        external.origin() == Origin::External("ext=python3 a'b.py {job}".into()),
        || format!("{:?}", external.origin()),
    )?;
    let text = replay_command(case, &external);
    ensure(
        text.ends_with(r#"--external 'ext=python3 a'\''b.py {job}'"#),
        || text.clone(),
    )?;
    // The leak's gate fails with its counterexample and the call that replays it.
    let failed = SanityHarness::new(ActivationEnergy)
        .device(Device::Cpu)
        .property("wall", 2)
        .outcomes();
    let message = match failed.as_slice() {
        [one] => one.result.clone().err().ok_or("the leak passed")?,
        _ => return Err(format!("{failed:?}").into()),
    };
    let at = message
        .find(".replay(\"")
        .ok_or_else(|| format!("no replay call in: {message}"))?
        + 9;
    let replayed = &message[at..at + message[at..].find('"').ok_or("unclosed")?];
    ensure(!message.contains("blindspot prop replay"), || {
        format!("a CLI replay for a Rust method: {message}")
    })?;
    let leak = SanityHarness::new(ActivationEnergy)
        .device(Device::Cpu)
        .replay(replayed)
        .outcomes();
    ensure(
        leak.len() == 1
            && leak[0].name == format!("replay::{replayed}::energy")
            && leak[0]
                .result
                .as_ref()
                .is_err_and(|e| e.contains("behind the wall")),
        || format!("replaying the leak: {leak:?}"),
    )?;
    let clean = SanityHarness::new(GradientTimesInput)
        .device(Device::Cpu)
        .replay(replayed)
        .outcomes();
    ensure(clean.len() == 1 && clean[0].result.is_ok(), || {
        format!("replaying the non-leak: {clean:?}")
    })?;
    // The command line takes an external method for a replay.
    let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .args([
            "prop",
            "replay",
            case,
            "--external",
            "x=true {job}",
            "--device",
            "cpu",
        ])
        .env("BLINDSPOT_QUIET", "1")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2) && stderr.contains("x") && !stderr.contains("unexpected"),
        || format!("exit {:?}: {stderr}", out.status.code()),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch_root().join(format!("gates-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// `blindspot run` on a small wall suite with `expect`: its exit code, its last line, junit.xml,
/// report.md and report.html all say the same.
fn expectations() -> TestResult {
    let dir = scratch("expect");
    let suite = |expect: &str| {
        format!(
            "name = \"gate\"\nseed = 1\nmethods = [\"gradcam\", \"hirescam\"]\n[[checks]]\n\
             check = \"wall\"\nmodel = \"builtin:small-vgg\"\ndata = {{ synthetic = 4 }}\n\
             expect = {{ {expect} }}\n"
        )
    };
    // GradCAM fails the wall (leaks), HiResCAM passes (exactly 0 behind it).
    for (label, expect, code, unexpected) in [
        ("met", "gradcam = \"fail\", hirescam = \"pass\"", 0, 0),
        ("unmet", "gradcam = \"fail\", hirescam = \"fail\"", 1, 1),
    ] {
        let path = dir.join(format!("{label}.toml"));
        std::fs::write(&path, suite(expect))?;
        let out_dir = dir.join(label);
        let run = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .args(["run", "--device", "cpu", "--suite"])
            .arg(&path)
            .arg("--out")
            .arg(&out_dir)
            .env("BLINDSPOT_QUIET", "1")
            .output()?;
        let stdout = String::from_utf8_lossy(&run.stdout);
        ensure(run.status.code() == Some(code), || {
            format!("{label}: exit {:?}\n{stdout}", run.status.code())
        })?;
        let last = stdout.lines().last().unwrap_or_default().to_string();
        let want = match unexpected {
            0 => "all 2 verdicts as expected (1 an expected fail or inconclusive)".to_string(),
            n => format!("{n} of 2 verdicts not as expected"),
        };
        ensure(last == want, || format!("{label}: last line `{last}`"))?;
        let junit = std::fs::read_to_string(out_dir.join("junit.xml"))?;
        ensure(
            junit.contains(&format!("failures=\"{unexpected}\""))
                && junit.matches("<failure").count() == unexpected
                && junit.contains("<property name=\"verdict\" value=\"fail\"/>"),
            || format!("{label}: {junit}"),
        )?;
        if unexpected > 0 {
            ensure(junit.contains("type=\"unexpected-pass\""), || junit.clone())?;
        }
        let md = std::fs::read_to_string(out_dir.join("report.md"))?;
        ensure(md.contains(&format!("**{want}**")), || {
            format!("{label}: {md}")
        })?;
        let html = std::fs::read_to_string(out_dir.join("report.html"))?;
        let banner = if unexpected == 0 {
            "banner ok"
        } else {
            "banner bad"
        };
        ensure(html.contains(banner) && html.contains(&want), || {
            format!("{label}: no `{banner}` banner saying `{want}`")
        })?;
        // The table of every verdict lists the unexpected first, and can show only them.
        let first = html.find("<tr class=\"row ").ok_or("no outcome rows")?;
        let first_row = &html[first..first + 60];
        let kind = if unexpected == 0 {
            "as-expected"
        } else {
            "not-expected"
        };
        ensure(first_row.contains(kind), || format!("{label}: {first_row}"))?;
        ensure(html.contains("id=\"show-unexpected\""), || {
            "no filter".into()
        })?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The paper suite without `--weights` (or `--data`) is refused before anything runs, with one
/// message naming both flags and docs/models.md, and nothing written.
fn untrained() -> TestResult {
    let dir = scratch("paper");
    let images = dir.join("images");
    std::fs::create_dir_all(&images)?;
    for (args, names_folder) in [(vec![], true), (vec!["--data", "images"], false)] {
        let run = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .current_dir(&dir)
            .args(["run", "--suite", "paper", "--device", "cpu", "--out", "out"])
            .args(&args)
            .output()?;
        let stderr = String::from_utf8_lossy(&run.stderr);
        ensure(run.status.code() == Some(2), || {
            format!("{args:?}: exit {:?}: {stderr}", run.status.code())
        })?;
        ensure(
            stderr.contains("no trained weights")
                && stderr.contains("--data")
                && stderr.contains("--weights")
                && stderr.contains("docs/models.md")
                && stderr.contains("image folder") == names_folder,
            || format!("{args:?}: {stderr}"),
        )?;
        ensure(!dir.join("out").exists(), || format!("{args:?} wrote out/"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// EigenGradCAM is judged on the worse of its two signs; the gallery then shows that sign: the
/// µ of every map it draws is the µ the verdict used, and its worst images are the verdict's.
fn judged_sign() -> TestResult {
    let text = "name = \"sign\"\nseed = 0\nmethods = [\"eigengradcam\"]\n[[checks]]\n\
                check = \"wall\"\nmodel = \"builtin:stack-masked\"\ndata = { synthetic = 16 }\n\
                looks = 1\n";
    let run = crate::common::suite(text, "sign.toml")?.run(Device::Cpu, None)?;
    let r = &run.report.results[0];
    let signs = r.signs.as_ref().ok_or("no signs recorded")?;
    let negated = signs.negated.mean == r.summary.mean && signs.as_computed.mean != r.summary.mean;
    ensure(negated, || {
        format!("the negated map is no longer the worse sign here: {signs:?}")
    })?;
    let gallery = run.galleries.first().ok_or("no gallery")?;
    let (first, last) = gallery.wall_rows.ok_or("no wall rows")?;
    let maps = &gallery.maps[0];
    for k in 0..maps.size()[0] {
        let map = maps.get(k).to_kind(Kind::Double);
        let behind = map.narrow(0, first, last - first + 1);
        let mu = behind.square().sum(Kind::Double).sqrt().double_value(&[])
            / map.square().sum(Kind::Double).sqrt().double_value(&[]);
        let judged = r.per_sample[k as usize].unwrap_or(0.0);
        ensure((mu - judged).abs() < 1e-5, || {
            format!("image {k}: the figure's map has µ {mu}, the verdict's {judged}")
        })?;
    }
    let worst = &gallery.worst[0];
    let largest = r.per_sample.iter().flatten().cloned().fold(0.0, f64::max);
    ensure(
        (worst.mu[0] - largest).abs() < 1e-9 && worst.title.contains("negated"),
        || {
            format!(
                "worst {:?} `{}`, largest µ {largest}",
                worst.mu, worst.title
            )
        },
    )?;
    ensure(r.findings.get::<WallFindings>().is_some(), || {
        "a wall result".into()
    })
}
