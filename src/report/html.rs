//! report.html: one self-contained page (inline SVG and PNG, no network, no framework) for a
//! person to click through a run — the verdict matrix (method × check, each cell linking to its
//! result), one section per check with its parameters, charts and a table of the statistics
//! behind every verdict (n, mean, std, interval, the rule), the wall check's Figure 1 and a
//! gallery of each method's worst images, the Theorem 1 table, the models and the run's settings.
//! A ten-line script counts images that failed to decode into `data-broken-images` on the body,
//! for the browser test.
use crate::chart::number;
use super::figures::{data_uri, escape, panel_png, verdict_colour};
use super::{Drawn, Report};
use crate::check::{CheckResult, CheckRun, Findings, Gallery, Verdict};
use crate::error::Result;
use std::fmt::Write;

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 1rem 2rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.matrix td { text-align: center; }
.matrix td a { display: block; color: white; text-decoration: none; padding: .2rem .4rem;
            border-radius: 4px; font-weight: 600; }
.pass { background: #1a7f37; } .fail { background: #cf222e; }
.inconclusive { background: #9a6700; } .error { background: #6e7781; }
.unexpected { outline: 3px solid #0969da; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; }
.gallery figure { margin: 0; } .gallery img { width: 112px; height: 112px;
       image-rendering: pixelated; border: 1px solid #d0d7de; }
.gallery figcaption { font-size: .8rem; text-align: center; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; font-size: .8rem; }
.reason { color: #57606a; font-size: .85rem; }
.banner { padding: .6rem 1rem; border-radius: 6px; font-weight: 600; color: white; }
.banner.ok { background: #1a7f37; } .banner.bad { background: #cf222e; }
.filters input { margin-left: 1rem; } td.outcome { white-space: nowrap; }
#show-unexpected:checked ~ table tr.as-expected,
#show-expected:checked ~ table tr.not-expected,
#show-pass:checked ~ table tr.row:not(.v-pass),
#show-fail:checked ~ table tr.row:not(.v-fail),
#show-inconclusive:checked ~ table tr.row:not(.v-inconclusive),
#show-error:checked ~ table tr.row:not(.v-error) { display: none; }
";

const SCRIPT: &str = "
window.addEventListener('load', function () {
  var broken = 0;
  document.querySelectorAll('img').forEach(function (img) {
    if (!img.complete || img.naturalWidth === 0) { broken += 1; }
  });
  document.body.dataset.brokenImages = String(broken);
  document.body.dataset.images = String(document.querySelectorAll('img').length);
});
";

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Error => "error",
    }
}

/// The anchor of result `i`.
fn anchor(i: usize) -> String {
    format!("r{i}")
}

/// Each check as run with its results and the position of its first result in the report.
fn runs_at(report: &Report) -> Vec<(&CheckRun, &[CheckResult], usize)> {
    let mut offset = 0;
    report
        .runs()
        .map(|(run, results)| {
            let at = offset;
            offset += results.len();
            (run, results, at)
        })
        .collect()
}

/// The page, from the report, its drawn charts and, for the first wall check, Figure 1 and the
/// gallery of its worst images.
pub fn render(
    report: &Report,
    charts: &[Drawn],
    wall: Option<(&Drawn, &Gallery)>,
) -> Result<String> {
    let mut out = String::new();
    let title = format!("blindspot report: {}", report.check);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<p>blindspot {} · seed {} · device {} · precision {} · {}</p>",
        escape(&report.blindspot),
        report.seed,
        escape(&report.device),
        report.precision.mode.as_str(),
        escape(&report.error_control.describe())
    );
    if let Some(partial) = &report.partial {
        let _ = writeln!(
            out,
            "<p><strong>Partial report:</strong> {}</p>",
            escape(partial)
        );
    }
    outcomes(report, &mut out);
    matrix(report, &mut out);
    for (run, results, offset) in runs_at(report) {
        let wall = wall.filter(|(figure1, _)| figure1.run == run.index);
        section(run, results, offset, charts, wall, &mut out)?;
    }
    models(report, &mut out);
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    Ok(out)
}

/// The banner (every verdict as expected, or how many were not) and every result in one table,
/// the unexpected first, with a filter by outcome and by verdict (radio buttons and CSS: no
/// script).
fn outcomes(report: &Report, out: &mut String) {
    let unexpected = report.unexpected();
    let _ = writeln!(
        out,
        "<p class=\"banner {}\" id=\"outcome\">{}</p>",
        if unexpected.is_empty() { "ok" } else { "bad" },
        escape(&report.expectation_summary())
    );
    let count = |v: Verdict| report.results.iter().filter(|r| r.verdict == v).count();
    let total = report.results.len();
    // Open when something needs a look; folded when every verdict is as expected.
    let _ = writeln!(
        out,
        "<details{}><summary>every verdict, the unexpected first</summary>",
        if unexpected.is_empty() { "" } else { " open" }
    );
    out.push_str("<div class=\"filters\">\n");
    let mut filter = |id: &str, label: String, checked: bool| {
        let _ = writeln!(
            out,
            "<input type=\"radio\" name=\"outcome-filter\" id=\"show-{id}\"{}>\
             <label for=\"show-{id}\">{label}</label>",
            if checked { " checked" } else { "" }
        );
    };
    filter("all", format!("all ({total})"), true);
    filter(
        "unexpected",
        format!("not as expected ({})", unexpected.len()),
        false,
    );
    filter(
        "expected",
        format!("as expected ({})", total - unexpected.len()),
        false,
    );
    for v in [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Inconclusive,
        Verdict::Error,
    ] {
        filter(class(v), format!("{v} ({})", count(v)), false);
    }
    out.push_str(
        "<table>\n<tr><th>outcome</th><th>check</th><th>method</th><th>verdict</th>\
         <th>expected</th><th>reason</th></tr>\n",
    );
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by_key(|&i| report.results[i].as_expected());
    for i in order {
        let r = &report.results[i];
        let config = r
            .configuration()
            .map(|c| format!(" <small>{}</small>", escape(&c)))
            .unwrap_or_default();
        let (row, outcome) = match r.as_expected() {
            true => ("as-expected", "as expected"),
            false => ("not-expected", "<b>not as expected</b>"),
        };
        let expected = r.expected.map_or("—".into(), |v| v.to_string());
        let _ = writeln!(
            out,
            "<tr class=\"row {row} v-{}\"><td class=\"outcome\">{outcome}</td><td>{}{config}</td>\
             <td><a href=\"#{}\">{}</a></td><td><span style=\"color:{}\"><b>{}</b></span></td>\
             <td>{expected}</td><td class=\"reason\">{}</td></tr>",
            class(r.verdict),
            escape(&r.check),
            anchor(i),
            escape(&r.title),
            verdict_colour(r.verdict),
            r.verdict,
            escape(&r.reason)
        );
    }
    out.push_str("</table>\n</div>\n</details>\n");
}

/// Method × check: each cell the verdict (the worst of a check's configurations, with their
/// count), linking to the method's first result of that check.
fn matrix(report: &Report, out: &mut String) {
    // Rows by the method's unique name (two methods may share a display name), shown by title.
    let mut methods: Vec<(&str, &str)> = Vec::new();
    for r in &report.results {
        if !methods.iter().any(|(name, _)| *name == r.method) {
            methods.push((&r.method, &r.title));
        }
    }
    out.push_str("<h2 id=\"verdicts\">Verdicts</h2>\n<table class=\"matrix\" id=\"matrix\">\n");
    out.push_str("<tr><th>method</th>");
    let runs = runs_at(report);
    for (run, _, _) in &runs {
        let _ = write!(
            out,
            "<th><a href=\"#check-{}\">{}</a></th>",
            run.index,
            escape(&run.check)
        );
    }
    out.push_str("</tr>\n");
    for (method, title) in methods {
        let _ = write!(out, "<tr><th>{}</th>", escape(title));
        for (_, results, at) in &runs {
            let mine: Vec<(usize, &CheckResult)> = results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.method == method)
                .map(|(i, r)| (at + i, r))
                .collect();
            match mine.first() {
                None => out.push_str("<td>—</td>"),
                Some((first, _)) => {
                    let worst = mine
                        .iter()
                        .map(|(_, r)| r.verdict)
                        .fold(Verdict::Pass, Verdict::worse);
                    let unexpected = mine.iter().any(|(_, r)| !r.as_expected());
                    let count = match mine.len() {
                        1 => String::new(),
                        n => format!(" ({n})"),
                    };
                    let _ = write!(
                        out,
                        "<td><a class=\"{}{}\" href=\"#{}\" title=\"{}\">{}{count}</a></td>",
                        class(worst),
                        if unexpected { " unexpected" } else { "" },
                        anchor(*first),
                        escape(&mine[0].1.reason),
                        worst
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</table>\n<p class=\"reason\">A cell is the worst verdict of the method's results \
         for that check (their number in parentheses); an outlined cell is not the verdict the \
         suite expects. Click a cell for the statistics behind it.</p>\n",
    );
}

fn section(
    run: &CheckRun,
    results: &[CheckResult],
    offset: usize,
    charts: &[Drawn],
    wall: Option<(&Drawn, &Gallery)>,
    out: &mut String,
) -> Result<()> {
    let _ = writeln!(
        out,
        "<section id=\"check-{}\">\n<h2>{}. {}</h2>",
        run.index,
        run.index,
        escape(&run.check)
    );
    if let Some(rule) = results.first().map(|r| &r.rule) {
        let _ = writeln!(out, "<p><strong>Rule:</strong> {}</p>", escape(rule));
    }
    let findings = Findings::of_run(results);
    if let Some(note) = findings.and_then(|f| f.rule_note()) {
        let _ = writeln!(out, "<p>{}</p>", escape(&note));
    }
    let params = serde_json::to_string_pretty(&run.params).unwrap_or_default();
    let _ = writeln!(
        out,
        "<details><summary>parameters</summary><pre>{}</pre></details>",
        escape(&params)
    );
    for chart in charts.iter().filter(|c| c.run == run.index) {
        let _ = writeln!(
            out,
            "<figure id=\"figure-{}\">{}<figcaption>figures/{}.svg</figcaption></figure>",
            chart.stem, chart.svg, chart.stem
        );
    }
    if let Some((figure1, _)) = wall {
        let _ = writeln!(
            out,
            "<figure id=\"figure-1\">{}<figcaption>Figure 1 (figures/figure1.svg): the first \
             images, the certified wall in red, each method's map over the grey \
             input.</figcaption></figure>",
            figure1.svg
        );
    }
    out.push_str(
        "<table>\n<tr><th>method</th><th>verdict</th><th>n</th><th>mean</th><th>std</th>\
         <th>interval</th><th>statistic</th><th>reason</th></tr>\n",
    );
    for (i, r) in results.iter().enumerate() {
        let s = &r.summary;
        let config = r
            .configuration()
            .map(|c| format!(" <small>{}</small>", escape(&c)))
            .unwrap_or_default();
        let undefined = match r.undefined {
            0 => String::new(),
            u => format!(" ({u} undefined)"),
        };
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><td>{}{config}</td><td><span style=\"color:{}\"><b>{}</b></span>\
             </td><td class=\"num\">{}{undefined}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">[{}, {}] <small>{}</small></td>\
             <td>{}</td><td class=\"reason\">{}</td></tr>",
            anchor(offset + i),
            escape(&r.title),
            verdict_colour(r.verdict),
            r.verdict,
            s.n,
            number(s.mean),
            number(s.std),
            number(s.ci_low),
            number(s.ci_high),
            escape(&s.interval),
            escape(&r.statistic),
            escape(&r.reason)
        );
    }
    out.push_str("</table>\n");
    // The check's own section (the theorem's table, the certified walls), escaped by it.
    if let Some(section) = findings.and_then(|f| f.html_section(results)) {
        out.push_str(&section);
    }
    if let Some((_, gallery)) = wall {
        worst_gallery(gallery, out)?;
    }
    out.push_str("</section>\n");
    Ok(())
}

/// Each method's worst images: its map over the image, the wall outlined, µ under each.
fn worst_gallery(gallery: &Gallery, out: &mut String) -> Result<()> {
    out.push_str(
        "<h3>Where each method leaked most</h3>\n<p class=\"reason\">The three images with the \
         largest µ (share of the map behind the certified wall) per method; the wall is the \
         band between the red lines.</p>\n",
    );
    for worst in &gallery.worst {
        let _ = write!(
            out,
            "<h4>{}</h4>\n<div class=\"gallery\">",
            escape(&worst.title)
        );
        for (k, (index, mu)) in worst.indices.iter().zip(&worst.mu).enumerate() {
            let png = panel_png(&worst.images.get(k as i64), Some(&worst.maps.get(k as i64)))?;
            let h = worst.images.size()[2] as f64;
            let band = gallery
                .wall_rows
                .map(|(a, b)| {
                    format!(
                        "<div style=\"position:absolute;left:0;right:0;top:{:.1}%;\
                         height:{:.1}%;border:2px solid #ff0000;box-sizing:border-box\"></div>",
                        100.0 * a as f64 / h,
                        100.0 * (b - a + 1) as f64 / h
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<figure><div style=\"position:relative;width:114px;height:114px\">\
                 <img alt=\"image {index}\" src=\"{}\">{band}</div>\
                 <figcaption>image {index}: µ = {}%</figcaption></figure>",
                data_uri(&png),
                number(100.0 * mu)
            );
        }
        out.push_str("</div>\n");
    }
    Ok(())
}

/// The models (with their SHA-256 and certified walls) and the run's settings.
fn models(report: &Report, out: &mut String) {
    out.push_str("<h2 id=\"models\">Models</h2>\n");
    if report.models.is_empty() {
        out.push_str("<p>No model file was read (the checks built their own).</p>\n");
    } else {
        out.push_str("<table>\n<tr><th>model</th><th>SHA-256</th><th>of</th></tr>\n");
        for m in &report.models {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&m.spec),
                escape(&m.sha256),
                escape(&m.of)
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(
        out,
        "<h2 id=\"settings\">Settings</h2>\n<table>\n\
         <tr><th>run</th><td>{}</td></tr>\n<tr><th>seed</th><td>{}</td></tr>\n\
         <tr><th>device</th><td>{}</td></tr>\n<tr><th>precision</th><td>{}</td></tr>\n\
         <tr><th>error control</th><td>{}</td></tr>\n<tr><th>schema</th><td>{}</td></tr>\n\
         </table>",
        escape(&report.check),
        report.seed,
        escape(&report.device),
        escape(&report.precision.summary()),
        escape(&report.error_control.describe()),
        escape(&report.schema)
    );
}
