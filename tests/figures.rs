//! Figures and report.html: the charts' data hides nothing (a value beyond the axis is marked with
//! its true number, every series has its own marker, the randomization axis names the layers and
//! the undefined correlations are counted), report.html stands alone (every link resolves, every
//! image is inline, nothing is fetched), and a real headless browser renders it.
use crate::common::{ensure, root, TestResult};
use blindspot::chart::{number, Chart, XAxis, MARKERS};
use blindspot::check::randomization::RandomizationFindings;
use blindspot::check::theorem::TheoremFindings;
use blindspot::report::Report;
use libtest_mimic::Trial;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use tch::Device;

/// Theorem at V = 64 (where the linear reading is negative) and 4096 (where it is far above the
/// closed form), a wall check with its gallery, a randomization check with a constant-map method.
const SUITE: &str = r#"
name = "figures"
seed = 3
methods = ["gradcam", "hirescam", "randomcam", "eigencam"]

[[checks]]
check = "wall"
model = "builtin:stack-masked"
data = { synthetic = 8 }
looks = 1

[[checks]]
check = "theorem"
filters = [64, 512, 4096]
min_draws = 32
max_draws = 32

[[checks]]
check = "randomization"
model = "builtin:small-vgg"
data = { synthetic = 4 }
"#;

/// The suite's report, written once with its figures and report.html, and its gallery's shape.
struct Fixture {
    report: Report,
    dir: PathBuf,
    images: usize,
    titles: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let suite = crate::common::suite(SUITE, "figures.toml").expect("the suite parses");
        let run = suite.run(Device::Cpu, None).expect("the suite runs");
        let dir = crate::common::scratch_root().join(format!("figures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let gallery = run
            .galleries
            .first()
            .expect("the wall check makes a gallery");
        blindspot::report::write_report(&run.report, Some(gallery), &dir)
            .expect("the report is written");
        Fixture {
            images: gallery.images.size()[0] as usize,
            titles: gallery.titles.clone(),
            report: run.report,
            dir,
        }
    })
}

pub fn trials() -> Vec<Trial> {
    let browser = chromium();
    let missing = browser.is_none();
    if missing {
        eprintln!(
            "slow::figures::a_browser_renders_the_report is ignored: no chromium here (install \
             Debian's `chromium`, or set BLINDSPOT_CHROMIUM to a Chromium binary)"
        );
    }
    vec![
        crate::common::slow(
            "figures::theorem_chart_marks_values_beyond_its_axis",
            theorem,
        ),
        crate::common::slow(
            "figures::randomization_chart_names_layers_and_counts",
            randomization,
        ),
        crate::common::slow("figures::report_html_stands_alone", html),
        crate::common::slow(
            "figures::figure1_has_titles_scores_wall_and_colour_bar",
            figure1,
        ),
        crate::common::slow("figures::a_browser_renders_the_report", move || {
            rendered(browser.as_deref().expect("not ignored without a browser"))
        })
        .with_ignored_flag(missing),
    ]
}

/// Every value of a chart is either inside its y range or listed as off-scale with its exact
/// value; the SVG writes every off-scale value's number.
fn nothing_clamped(chart: &Chart) -> TestResult {
    let (low, high) = chart.y_range;
    let off = chart.off_scale();
    for (s, series) in chart.series.iter().enumerate() {
        for p in &series.points {
            let ends = p.interval.map(|(a, b)| vec![a, b]).unwrap_or_default();
            for v in std::iter::once(p.y).chain(ends) {
                let inside = (low..=high).contains(&v);
                let listed = off
                    .iter()
                    .any(|o| o.series == s && o.x == p.x && o.value == v);
                ensure(inside != listed, || {
                    format!(
                        "{}: {v} at x = {} inside {inside}, listed {listed}",
                        series.name, p.x
                    )
                })?;
            }
        }
    }
    let svg = chart.svg()?;
    for o in &off {
        ensure(svg.contains(&number(o.value)), || {
            format!(
                "{}: no label {} for an off-scale value",
                chart.stem,
                number(o.value)
            )
        })?;
    }
    Ok(())
}

fn distinct_markers(chart: &Chart) -> TestResult {
    for (i, a) in chart.series.iter().enumerate() {
        for b in &chart.series[..i] {
            ensure(a.marker != b.marker, || {
                format!("{} and {} share a marker", a.name, b.name)
            })?;
        }
    }
    Ok(())
}

fn theorem() -> TestResult {
    let charts: Vec<Chart> = blindspot::report::write::charts(&fixture().report)
        .into_iter()
        .filter(|c| c.stem.starts_with("theorem"))
        .collect();
    ensure(charts.len() == 1, || {
        format!("{} theorem charts", charts.len())
    })?;
    let chart = &charts[0];
    ensure(matches!(chart.x, XAxis::Log2 { .. }), || {
        "V is on a log axis".into()
    })?;
    nothing_clamped(chart)?;
    distinct_markers(chart)?;
    // The linear reading is negative at V = 64 and above the closed form several times over at
    // V = 4096: both lie beyond the axis, which holds the estimates and the closed form.
    let linear = chart
        .series
        .iter()
        .position(|s| s.name.contains("linear"))
        .ok_or("no linear reading")?;
    let off: Vec<_> = chart
        .off_scale()
        .into_iter()
        .filter(|o| o.series == linear)
        .collect();
    ensure(
        off.iter().any(|o| o.x == 64.0 && !o.above && o.value < 0.0),
        || format!("the negative reading at V = 64 is not marked below: {off:?}"),
    )?;
    ensure(off.iter().any(|o| o.x == 4096.0 && o.above), || {
        format!("the reading at V = 4096 is not marked above: {off:?}")
    })?;
    let svg = chart.svg()?;
    ensure(
        svg.contains("‖m‖") && svg.contains("V, filters"),
        || "axis labels with their symbols".into(),
    )?;
    // The interval drawn is the verdict's, and the legend says at which level.
    let estimate = &chart.series[0];
    let theorem: Vec<_> = fixture()
        .report
        .results
        .iter()
        .filter_map(|r| Some((r, r.findings.get::<TheoremFindings>()?)))
        .collect();
    let level = blindspot::check::stats::percent(theorem[0].0.summary.ci_level);
    ensure(
        estimate.name == format!("Monte Carlo mean, {level} interval"),
        || format!("legend `{}`, the verdicts' level {level}", estimate.name),
    )?;
    for ((r, _), p) in theorem.iter().zip(&estimate.points) {
        ensure(
            p.interval == Some((r.summary.ci_low, r.summary.ci_high)),
            || format!("interval {:?}, verdict's {:?}", p.interval, r.summary),
        )?;
    }
    // The Monte Carlo marks are drawn last, over the closed form's (black after blue).
    let last = |colour: &str| svg.rfind(&format!("fill=\"{colour}\"")).unwrap_or(0);
    ensure(last("#000000") > last("#1F77B4"), || {
        "the closed form's marks cover the Monte Carlo means".into()
    })?;
    no_text_overlaps(&chart.stem, &svg)
}

/// A text of a chart's SVG as plotters writes it, with its box estimated at 0.55 em a character.
#[derive(Debug)]
struct TextBox {
    text: String,
    x: (f64, f64),
    y: (f64, f64),
    rotated: bool,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

fn text_boxes(svg: &str) -> Vec<TextBox> {
    let mut boxes = Vec::new();
    for piece in svg.split("<text").skip(1) {
        let (Some(end), Some(close)) = (piece.find('>'), piece.find("</text>")) else {
            continue;
        };
        let (tag, text) = (&piece[..end], piece[end + 1..close].trim().to_string());
        if text.is_empty() {
            continue;
        }
        let number = |name: &str| attribute(tag, name).and_then(|v| v.parse::<f64>().ok());
        let (Some(x), Some(y), Some(size)) = (number("x"), number("y"), number("font-size")) else {
            continue;
        };
        let width = 0.55 * size * text.chars().count() as f64;
        let x = match attribute(tag, "text-anchor").as_deref() {
            Some("middle") => (x - width / 2.0, x + width / 2.0),
            Some("end") => (x - width, x),
            _ => (x, x + width),
        };
        let y = match attribute(tag, "dy").as_deref() {
            Some("0.76em") => (y, y + size),
            Some("-0.5ex") => (y - size, y),
            _ => (y - size / 2.0, y + size / 2.0),
        };
        let rotated = tag.contains("rotate(");
        boxes.push(TextBox {
            text,
            x,
            y,
            rotated,
        });
    }
    boxes
}

/// No two texts of a chart overlap, and a rotated axis label fits in the picture's height.
fn no_text_overlaps(stem: &str, svg: &str) -> TestResult {
    let boxes = text_boxes(svg);
    ensure(boxes.len() > 10, || {
        format!("{stem}: {} texts parsed", boxes.len())
    })?;
    let apart = |a: (f64, f64), b: (f64, f64)| a.1 <= b.0 + 1.0 || b.1 <= a.0 + 1.0;
    for (i, a) in boxes.iter().enumerate() {
        if a.rotated {
            let (centre, half) = ((a.y.0 + a.y.1) / 2.0, (a.x.1 - a.x.0) / 2.0);
            let height = blindspot::chart::HEIGHT as f64;
            ensure(centre - half >= 0.0 && centre + half <= height, || {
                format!(
                    "{stem}: `{}` is cut ({half} px either side of {centre})",
                    a.text
                )
            })?;
            continue;
        }
        for b in boxes[..i].iter().filter(|b| !b.rotated) {
            ensure(apart(a.x, b.x) || apart(a.y, b.y), || {
                format!("{stem}: `{}` overlaps `{}` ({a:?} {b:?})", a.text, b.text)
            })?;
        }
    }
    Ok(())
}

fn randomization() -> TestResult {
    let report = &fixture().report;
    let charts: Vec<Chart> = blindspot::report::write::charts(report)
        .into_iter()
        .filter(|c| c.stem.starts_with("randomization"))
        .collect();
    ensure(charts.len() == 1, || {
        format!("{} randomization charts", charts.len())
    })?;
    let chart = &charts[0];
    distinct_markers(chart)?;
    nothing_clamped(chart)?;
    let details: Vec<_> = report
        .results
        .iter()
        .filter_map(|r| Some((r, &r.findings.get::<RandomizationFindings>()?.detail)))
        .collect();
    let XAxis::Categories { names, .. } = &chart.x else {
        return Err("the randomization axis is not categorical".into());
    };
    let mut want = vec!["trained".to_string()];
    want.extend(details[0].1.curve.iter().map(|s| s.step.clone()));
    ensure(names == &want, || {
        format!("x names {names:?}, steps {want:?}")
    })?;
    let svg = chart.svg()?;
    for name in &want {
        ensure(svg.contains(name.as_str()), || {
            format!("layer {name} not on the axis")
        })?;
    }
    ensure(svg.contains("cascading"), || {
        "the title names the mode".into()
    })?;
    // The undefined correlations are counted once per method in the legend, and a step with
    // none defined has no mark.
    for (series, (r, detail)) in chart.series.iter().zip(&details) {
        let undefined: usize = detail.curve.iter().map(|s| s.spearman_abs.undefined).sum();
        let n = r.summary.n.max(r.per_sample.len()) * detail.curve.len();
        match &series.note {
            Some(note) => {
                ensure(
                    note.starts_with(&format!("{undefined}/{n} ρ undefined")),
                    || format!("{}: note {note}, {undefined}/{n} undefined", series.name),
                )?;
                ensure(svg.contains(note.as_str()), || {
                    format!("`{note}` not drawn")
                })?;
            }
            None => ensure(undefined == 0, || {
                format!("{}: {undefined} undefined, no note", series.name)
            })?,
        }
        for (s, step) in detail.curve.iter().enumerate() {
            let point = series.points.iter().find(|p| p.x == s as f64 + 1.0);
            ensure(point.is_some() == step.spearman_abs.mean.is_some(), || {
                format!("{} step {s}: mark {point:?}", series.name)
            })?;
        }
    }
    no_text_overlaps(&chart.stem, &svg)?;
    let ms: Vec<_> = MARKERS.iter().collect();
    ensure(
        (0..ms.len()).all(|i| (0..i).all(|j| ms[i] != ms[j])),
        || "13 distinct markers".into(),
    )
}

fn html() -> TestResult {
    let dir = &fixture().dir;
    let page = std::fs::read_to_string(dir.join("report.html"))?;
    let report = &fixture().report;
    ensure(page.contains("id=\"matrix\""), || {
        "no verdict matrix".into()
    })?;
    // Every result has its row, and every link of the matrix lands on one.
    ensure(
        page.matches("<tr id=\"r").count() == report.results.len(),
        || "one row per result".into(),
    )?;
    for link in page.split("href=\"#").skip(1) {
        let target = &link[..link.find('"').ok_or("unclosed link")?];
        ensure(page.contains(&format!("id=\"{target}\"")), || {
            format!("the link #{target} leads nowhere")
        })?;
    }
    // Self-contained: images are inline, nothing is fetched.
    for img in page.split("<img ").skip(1) {
        ensure(img.contains("src=\"data:image/png;base64,"), || {
            format!("an image that is not inline: {}", &img[..img.len().min(80)])
        })?;
    }
    let fetched = page
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "");
    ensure(
        !fetched.contains("http://") && !fetched.contains("https://"),
        || "report.html refers to the network".into(),
    )?;
    for section in [
        "id=\"figure-theorem\"",
        "id=\"figure-randomization\"",
        "id=\"figure-1\"",
    ] {
        ensure(page.contains(section), || format!("{section} missing"))?;
    }
    ensure(page.contains("Where each method leaked most"), || {
        "no gallery of the worst images".into()
    })?;
    let md = std::fs::read_to_string(dir.join("report.md"))?;
    for link in [
        "(report.html)",
        "(figures/figure1.svg)",
        "(figures/theorem.svg)",
        "(figures/randomization.svg)",
    ] {
        ensure(md.contains(link), || {
            format!("report.md does not link {link}")
        })?;
        let file = &link[1..link.len() - 1];
        ensure(dir.join(file).is_file(), || format!("{file} missing"))?;
    }
    Ok(())
}

fn figure1() -> TestResult {
    let f = fixture();
    let svg = std::fs::read_to_string(f.dir.join("figures/figure1.svg"))?;
    // Two images per tile: the input tile and one tile per method.
    let (n, methods) = (f.images.min(2), f.titles.len());
    ensure(svg.matches("<image ").count() == n * (methods + 1), || {
        format!(
            "{} panels for {n} images × {} tiles",
            svg.matches("<image ").count(),
            methods + 1
        )
    })?;
    for title in &f.titles {
        ensure(svg.contains(&format!(">{title}</text>")), || {
            format!("no title {title}")
        })?;
    }
    // µ and verdict per column, as the wall check computed them.
    let wall = f.report.results.iter().filter(|r| r.check == "wall");
    for r in wall {
        let mu = number(100.0 * r.summary.mean);
        let negated = r.signs.as_ref().is_some_and(|s| {
            s.negated.mean == r.summary.mean && s.as_computed.mean != r.summary.mean
        });
        let sign = if negated { " (negated map)" } else { "" };
        let line = format!("µ = {mu}%{sign} · {}", r.verdict);
        ensure(svg.contains(&line), || format!("{}: no `{line}`", r.title))?;
    }
    let walls = svg.matches("stroke=\"#ff0000\"").count();
    ensure(walls == n * (methods + 1), || {
        format!("{walls} wall outlines")
    })?;
    ensure(svg.contains("linearGradient id=\"jet\""), || {
        "no colour bar".into()
    })
}

/// A Chromium binary: BLINDSPOT_CHROMIUM, or Debian's `chromium` on PATH.
fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("BLINDSPOT_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

/// Opens report.html in headless Chromium: the DOM after load has the verdict matrix and no
/// broken image, the console logged no error, and the screenshot (kept in
/// target/test-artefacts/report.png) is a real rendering.
fn rendered(browser: &str) -> TestResult {
    let page = fixture().dir.join("report.html");
    let url = format!("file://{}", page.display());
    let artefacts = root().join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts)?;
    let screenshot = artefacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = crate::common::scratch_root().join(format!("chromium-{}", std::process::id()));
    let common = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--hide-scrollbars".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", profile.display()),
        "--virtual-time-budget=5000".into(),
    ];
    let dom = Command::new(browser)
        .args(&common)
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom", &url])
        .output()?;
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    ensure(dom.status.success(), || {
        format!("chromium exited {}: {log}", dom.status)
    })?;
    ensure(html.contains("id=\"matrix\""), || {
        "the DOM has no verdict matrix".into()
    })?;
    ensure(html.contains("data-broken-images=\"0\""), || {
        let at = html.find("<body").unwrap_or(0);
        format!(
            "broken images, or the check never ran: {}",
            &html[at..(at + 200).min(html.len())]
        )
    })?;
    ensure(!html.contains("data-images=\"0\""), || {
        "no image on the page".into()
    })?;
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Error") || l.contains("error")))
        .collect();
    ensure(errors.is_empty(), || {
        format!("console errors:\n{}", errors.join("\n"))
    })?;
    let shot = Command::new(browser)
        .args(&common)
        .args([
            "--window-size=1280,2000".to_string(),
            format!("--screenshot={}", screenshot.display()),
            url,
        ])
        .output()?;
    ensure(shot.status.success(), || {
        format!(
            "chromium screenshot: {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    })?;
    let _ = std::fs::remove_dir_all(&profile);
    let img = image::open(&screenshot)?.to_rgb8();
    ensure(img.width() == 1280 && img.height() == 2000, || {
        format!("screenshot {}x{}", img.width(), img.height())
    })?;
    // A rendered page has the matrix' green or red cells, not one blank colour.
    let coloured = img
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            (r, g, b) == (0x1a, 0x7f, 0x37) || (r, g, b) == (0xcf, 0x22, 0x2e)
        })
        .count();
    ensure(coloured > 200, || {
        format!("{coloured} verdict-coloured pixels")
    })
}
