//! Figure 1 and the wall check's gallery, as SVG: every panel is a PNG (the input, or a method's
//! map in the jet colour map over the grey input) embedded as a data URI, so the file stands
//! alone; titles, µ and verdicts are SVG text, which any viewer renders at any size; the
//! certified wall is an outlined rectangle; a colour bar gives the maps' scale. The panels are
//! composed with tensor operations. The charts are the checks' own ([`crate::chart`]).
use crate::chart::number;
use crate::check::{CheckResult, Gallery, Verdict};
use crate::error::{Error, Result};
use base64::Engine;
use std::fmt::Write;
use tch::{Kind, Tensor};

/// Side of a panel in Figure 1, in SVG pixels.
const PANEL: i64 = 112;
const GAP: i64 = 6;
/// Title and subtitle above a row of panels.
const HEADER: i64 = 54;
/// The colour bar's column.
const BAR: i64 = 90;
/// Images shown per method, and method tiles per row.
const IMAGES_PER_TILE: i64 = 2;
const TILES_PER_ROW: i64 = 4;

/// The jet colour map of `t` in [0, 1] ([..] → [3, ..]).
fn jet(t: &Tensor) -> Tensor {
    let channel = |offset: f64| ((t * 4.0 - offset).abs() * -1.0 + 1.5).clamp(0.0, 1.0);
    Tensor::stack(&[channel(3.0), channel(2.0), channel(1.0)], 0)
}

/// A panel as PNG bytes: `image` [3, H, W] in [0, 1], with `map` [H, W] in [0, 1] drawn over
/// its grey version (half and half) when given.
pub fn panel_png(image: &Tensor, map: Option<&Tensor>) -> Result<Vec<u8>> {
    let image = image.to_kind(Kind::Float).clamp(0.0, 1.0);
    let rgb = match map {
        None => image,
        Some(map) => {
            let weights = Tensor::from_slice(&[0.299f32, 0.587, 0.114]).view([3, 1, 1]);
            let grey = (&image * weights).sum_dim_intlist(0, true, Kind::Float);
            grey * 0.5 + jet(&map.to_kind(Kind::Float).clamp(0.0, 1.0)) * 0.5
        }
    };
    let (h, w) = (rgb.size()[1], rgb.size()[2]);
    let bytes = Vec::<u8>::try_from(
        (rgb * 255.0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
            .permute([1, 2, 0])
            .contiguous()
            .flatten(0, -1),
    )
    .map_err(|e| Error::torch("reading a panel's pixels", e))?;
    let picture = image::RgbImage::from_raw(w as u32, h as u32, bytes)
        .expect("the buffer holds H × W × 3 bytes");
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    Ok(png)
}

/// `data:image/png;base64,…`.
pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// XML-escaped text.
pub fn escape(text: &str) -> String {
    super::escape::xml(text)
}

/// The colour a verdict is written in.
pub fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "#1a7f37",
        Verdict::Fail => "#cf222e",
        Verdict::Inconclusive => "#9a6700",
        Verdict::Error => "#6e7781",
    }
}

/// One panel: the picture, scaled without smoothing, and the wall's rows outlined in red.
fn panel(out: &mut String, (x, y): (i64, i64), png: &[u8], height: i64, wall: Option<(i64, i64)>) {
    let _ = write!(
        out,
        "<image x=\"{x}\" y=\"{y}\" width=\"{PANEL}\" height=\"{PANEL}\" \
         preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"{}\"/>",
        data_uri(png)
    );
    if let Some((first, last)) = wall {
        let scale = PANEL as f64 / height as f64;
        let top = y as f64 + first as f64 * scale;
        let tall = (last - first + 1) as f64 * scale;
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{top:.1}\" width=\"{PANEL}\" height=\"{tall:.1}\" fill=\"none\" \
             stroke=\"#ff0000\" stroke-width=\"2.5\"/>"
        );
    }
    out.push('\n');
}

/// The jet colour bar, 0 at the bottom, 1 at the top.
fn colour_bar(out: &mut String, x: i64, y: i64, height: i64) {
    out.push_str("<defs><linearGradient id=\"jet\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (stop, colour) in [
        (0.0, "#000080"),
        (0.125, "#0000ff"),
        (0.375, "#00ffff"),
        (0.625, "#ffff00"),
        (0.875, "#ff0000"),
        (1.0, "#800000"),
    ] {
        let _ = write!(out, "<stop offset=\"{stop}\" stop-color=\"{colour}\"/>");
    }
    out.push_str("</linearGradient></defs>\n");
    let _ = writeln!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"16\" height=\"{height}\" fill=\"url(#jet)\" \
         stroke=\"#333\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\">1</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\">0</text>\
         <text transform=\"translate({} {}) rotate(-90)\" font-size=\"12\" \
         text-anchor=\"middle\">map (normalised)</text>",
        x + 20,
        y + 10,
        x + 20,
        y + height,
        x + 48,
        y + height / 2
    );
}

/// Figure 1 as a grid of tiles, four to a row so that the titles stay readable at a README's
/// width: first the input tile (the first images, the certified wall outlined), then one tile per
/// method — its title, its mean µ behind the wall and its verdict (`results`: the wall check's
/// results, matched by title), and its maps of the same images over the grey input.
pub fn figure1_svg(gallery: &Gallery, results: &[&CheckResult]) -> Result<String> {
    let (n, _, h, _) = gallery
        .images
        .size4()
        .map_err(|e| Error::torch("reading the images' shape", e))?;
    let shown = n.min(IMAGES_PER_TILE);
    let tile = shown * (PANEL + GAP) + 2 * GAP;
    let tiles = gallery.titles.len() as i64 + 1;
    let rows = (tiles + TILES_PER_ROW - 1) / TILES_PER_ROW;
    let row_height = HEADER + PANEL + 2 * GAP;
    let width = TILES_PER_ROW.min(tiles) * tile + BAR;
    let height = rows * row_height;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, Helvetica, Arial, \
         sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for t in 0..tiles {
        let (x0, y0) = ((t % TILES_PER_ROW) * tile, (t / TILES_PER_ROW) * row_height);
        let centre = x0 + tile / 2;
        let (title, subtitle, colour, maps) = match t {
            0 => (
                "input".to_string(),
                "certified wall in red".to_string(),
                "#cf222e",
                None,
            ),
            _ => {
                let m = (t - 1) as usize;
                let title = gallery.titles[m].clone();
                let (subtitle, colour) = match results.iter().find(|r| r.title == title) {
                    Some(r) => {
                        // A sign-ambiguous method is judged on its worse sign; the maps shown
                        // are as computed, so say when µ is the other sign's.
                        let negated = r.signs.as_ref().is_some_and(|s| {
                            s.negated.mean == r.summary.mean && s.as_computed.mean != r.summary.mean
                        });
                        let sign = if negated { " (negated map)" } else { "" };
                        let mu = number(100.0 * r.summary.mean);
                        (
                            format!("µ = {mu}%{sign} · {}", r.verdict),
                            verdict_colour(r.verdict),
                        )
                    }
                    None => (String::new(), "#000000"),
                };
                (title, subtitle, colour, Some(&gallery.maps[m]))
            }
        };
        let _ = writeln!(
            out,
            "<text x=\"{centre}\" y=\"{}\" font-size=\"17\" font-weight=\"bold\" \
             text-anchor=\"middle\">{}</text>\
             <text x=\"{centre}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\" \
             fill=\"{colour}\">{}</text>",
            y0 + 22,
            escape(&title),
            y0 + 44,
            escape(&subtitle)
        );
        for i in 0..shown {
            let image = gallery.images.get(i);
            let png = panel_png(&image, maps.map(|m| m.get(i)).as_ref())?;
            let at = (x0 + GAP + i * (PANEL + GAP), y0 + HEADER);
            panel(&mut out, at, &png, h, gallery.wall_rows);
        }
    }
    colour_bar(&mut out, width - BAR + 10, HEADER, PANEL);
    out.push_str("</svg>\n");
    Ok(out)
}

/// A figure drawn once as SVG: written to `figures/STEM.svg` and inlined in report.html, in the
/// section of check `run` (its index in the suite).
pub struct Drawn {
    /// Its file stem under figures/.
    pub stem: String,
    /// The index of its check run.
    pub run: usize,
    /// The SVG text.
    pub svg: String,
}
