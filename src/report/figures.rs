//! Figure PNGs, drawn directly with the image crate: the paper's Figure 1 layout (input with the
//! wall drawn, then each method's heatmap over it), the Theorem 1 sweep (estimate with interval,
//! closed form and bound readings versus V) and the randomization curves (similarity versus
//! randomization depth per method).
use super::font;
use super::Report;
use crate::check::randomization::RandomizationDetail;
use crate::check::theorem::TheoremFindings;
use crate::check::{CheckResult, Findings, Gallery};
use crate::error::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;
use tch::Kind;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GREY: Rgb<u8> = Rgb([200, 200, 200]);
const PALETTE: [[u8; 3]; 13] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [0, 0, 128],
    [128, 0, 0],
    [0, 128, 128],
];

/// A drawing surface with the few primitives the figures need.
pub struct Canvas {
    pub img: RgbImage,
}

impl Canvas {
    pub fn new(w: u32, h: u32) -> Self {
        Canvas {
            img: RgbImage::from_pixel(w, h, WHITE),
        }
    }

    fn put(&mut self, x: i64, y: i64, c: Rgb<u8>) {
        if x >= 0 && y >= 0 && (x as u32) < self.img.width() && (y as u32) < self.img.height() {
            self.img.put_pixel(x as u32, y as u32, c);
        }
    }

    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb<u8>) {
        for (i, ch) in s.chars().enumerate() {
            let g = font::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.put(
                                    x + (i as i64 * 6 + col) * scale + dx,
                                    y + row as i64 * scale + dy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb<u8>, thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for s in 0..=steps {
            let x = x0 + (x1 - x0) * s / steps;
            let y = y0 + (y1 - y0) * s / steps;
            for d in 0..thick {
                self.put(x, y + d - thick / 2, c);
                self.put(x + d - thick / 2, y, c);
            }
        }
    }

    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb<u8>, thick: i64) {
        self.line((x0, y0), (x1, y0), c, thick);
        self.line((x0, y1), (x1, y1), c, thick);
        self.line((x0, y0), (x0, y1), c, thick);
        self.line((x1, y0), (x1, y1), c, thick);
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        self.img
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .map_err(|e| Error::io("encode", path, std::io::Error::other(e.to_string())))?;
        crate::io::write_atomic(path, &bytes)
    }
}

/// The jet colour map for t in [0, 1].
fn jet(t: f32) -> [f32; 3] {
    let f = |x: f32| x.clamp(0.0, 1.0);
    [
        f(1.5 - (4.0 * t - 3.0).abs()),
        f(1.5 - (4.0 * t - 2.0).abs()),
        f(1.5 - (4.0 * t - 1.0).abs()),
    ]
}

/// Figure 1: one row per image — the input with the wall outlined in red, then each method's map
/// (jet, half transparent) over the grey input, from the wall check's [`Gallery`].
pub fn figure1(gallery: &Gallery, path: &Path) -> Result<()> {
    let Gallery {
        images,
        titles,
        maps,
        wall_rows: wall,
    } = gallery;
    let (n, _, h, w) = images
        .size4()
        .map_err(|e| Error::torch("reading the images' shape", e))?;
    let scale = (192 / h.max(1)).max(1);
    let (cw, ch) = ((w * scale) as u32, (h * scale) as u32);
    let header = 30u32;
    let width = (cw + 6) * (titles.len() as u32 + 1) + 6;
    let mut canvas = Canvas::new(width, header + (ch + 6) * n as u32 + 6);
    canvas.text(6, 10, "INPUT + WALL", 1, BLACK);
    for (m, t) in titles.iter().enumerate() {
        let title: String = t.to_uppercase().chars().take((cw / 6) as usize).collect();
        canvas.text(6 + ((m as u32 + 1) * (cw + 6)) as i64, 10, &title, 1, BLACK);
    }
    let rgb = Vec::<f32>::try_from(
        images
            .to_kind(Kind::Float)
            .clamp(0.0, 1.0)
            .permute([0, 2, 3, 1])
            .contiguous()
            .flatten(0, -1),
    )
    .expect("pixels");
    let maps: Vec<Vec<f32>> = maps
        .iter()
        .map(|m| Vec::<f32>::try_from(m.to_kind(Kind::Float).flatten(0, -1)).expect("maps"))
        .collect();
    for i in 0..n {
        let y0 = header + 6 + i as u32 * (ch + 6);
        for col in 0..=maps.len() {
            let x0 = 6 + col as u32 * (cw + 6);
            for py in 0..ch {
                for px in 0..cw {
                    let (sy, sx) = ((py as i64 / scale), (px as i64 / scale));
                    let at = ((i * h + sy) * w + sx) as usize;
                    let p = [rgb[at * 3], rgb[at * 3 + 1], rgb[at * 3 + 2]];
                    let colour = if col == 0 {
                        p
                    } else {
                        let g = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                        let j = jet(maps[col - 1][at]);
                        [
                            0.5 * g + 0.5 * j[0],
                            0.5 * g + 0.5 * j[1],
                            0.5 * g + 0.5 * j[2],
                        ]
                    };
                    canvas.img.put_pixel(
                        x0 + px,
                        y0 + py,
                        Rgb(colour.map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)),
                    );
                }
            }
            if let Some((first, last)) = *wall {
                let (a, b) = (
                    y0 as i64 + first * scale,
                    y0 as i64 + (last + 1) * scale - 1,
                );
                canvas.rect(x0 as i64, a, (x0 + cw - 1) as i64, b, Rgb([255, 0, 0]), 2);
            }
        }
    }
    canvas.save(path)
}

/// Axes on a canvas: maps data coordinates to pixels.
struct Axes {
    x0: i64,
    y0: i64,
    w: i64,
    h: i64,
    xr: (f64, f64),
    yr: (f64, f64),
}

impl Axes {
    fn px(&self, x: f64, y: f64) -> (i64, i64) {
        let fx = (x - self.xr.0) / (self.xr.1 - self.xr.0);
        let fy = (y - self.yr.0) / (self.yr.1 - self.yr.0);
        (
            self.x0 + (fx * self.w as f64).round() as i64,
            self.y0 + self.h - (fy * self.h as f64).round() as i64,
        )
    }

    fn frame(
        &self,
        c: &mut Canvas,
        yticks: &[f64],
        xticks: &[(f64, String)],
        title: &str,
        xlabel: &str,
    ) {
        c.rect(
            self.x0,
            self.y0,
            self.x0 + self.w,
            self.y0 + self.h,
            BLACK,
            1,
        );
        for &t in yticks {
            let (_, y) = self.px(self.xr.0, t);
            c.line((self.x0, y), (self.x0 + self.w, y), GREY, 1);
            c.text(self.x0 - 48, y - 3, &format!("{t:.2}"), 1, BLACK);
        }
        for (t, label) in xticks {
            let (x, _) = self.px(*t, self.yr.0);
            c.line((x, self.y0 + self.h), (x, self.y0 + self.h + 4), BLACK, 1);
            c.text(
                x - 3 * label.len() as i64,
                self.y0 + self.h + 8,
                label,
                1,
                BLACK,
            );
        }
        c.text(self.x0, self.y0 - 24, title, 2, BLACK);
        c.text(
            self.x0 + self.w / 2 - 3 * xlabel.len() as i64,
            self.y0 + self.h + 22,
            xlabel,
            1,
            BLACK,
        );
    }
}

fn legend(c: &mut Canvas, x: i64, y: i64, items: &[(String, Rgb<u8>)]) {
    for (i, (label, colour)) in items.iter().enumerate() {
        let yy = y + i as i64 * 14;
        c.line((x, yy + 3), (x + 18, yy + 3), *colour, 3);
        c.text(x + 24, yy, label, 1, BLACK);
    }
}

/// The Theorem 1 sweep: the estimate with its interval, the closed form and the three bound
/// readings (per unit ‖m‖) against V (log scale), for the τ = 1, scale 1 configurations.
pub fn theorem_plot(results: &[(&CheckResult, &TheoremFindings)], path: &Path) -> Result<()> {
    let rows: Vec<&(&CheckResult, &TheoremFindings)> = results
        .iter()
        .filter(|(_, t)| t.tau == 1.0 && t.input_scale == 1.0)
        .collect();
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let v = |t: &TheoremFindings| (t.filters as f64).log2();
    let top = rows
        .iter()
        .map(|(r, t)| r.summary.ci_high.max(t.closed_form))
        .fold(0.0, f64::max)
        * 1.6;
    let mut c = Canvas::new(760, 460);
    let xr = (v(first.1) - 0.5, v(last.1) + 0.5);
    let ax = Axes {
        x0: 70,
        y0: 50,
        w: 470,
        h: 340,
        xr,
        yr: (0.0, top),
    };
    let yt: Vec<f64> = (0..=4).map(|i| top * i as f64 / 4.0).collect();
    let xt: Vec<(f64, String)> = rows
        .iter()
        .map(|(_, t)| (v(t), t.filters.to_string()))
        .collect();
    ax.frame(
        &mut c,
        &yt,
        &xt,
        "THEOREM 1: E[GC]/|M| VS V",
        "V (FILTERS, LOG SCALE)",
    );
    let colours = [
        ("CLOSED FORM", Rgb([31, 119, 180])),
        ("BOUND LINEAR", Rgb([214, 39, 40])),
        ("BOUND OVER_SQRT", Rgb([255, 127, 14])),
        ("BOUND SQRT", Rgb([44, 160, 44])),
    ];
    let series = |t: &TheoremFindings, k: usize| -> Option<f64> {
        match k {
            0 => Some(t.closed_form),
            1 => t.bounds.linear.value,
            2 => t.bounds.over_sqrt.value,
            _ => t.bounds.sqrt.value,
        }
    };
    for (k, (_, colour)) in colours.iter().enumerate() {
        let pts: Vec<(i64, i64)> = rows
            .iter()
            .filter_map(|(_, t)| series(t, k).map(|y| ax.px(v(t), y.clamp(0.0, top))))
            .collect();
        for pair in pts.windows(2) {
            c.line(pair[0], pair[1], *colour, 2);
        }
    }
    for (r, t) in &rows {
        let (x, lo) = ax.px(v(t), r.summary.ci_low);
        let (_, hi) = ax.px(v(t), r.summary.ci_high);
        let (_, m) = ax.px(v(t), r.summary.mean);
        c.line((x, lo), (x, hi), BLACK, 2);
        c.rect(x - 3, m - 3, x + 3, m + 3, BLACK, 2);
    }
    let mut items: Vec<(String, Rgb<u8>)> = vec![("MONTE CARLO 95% CI".into(), BLACK)];
    items.extend(colours.iter().map(|(l, c)| (l.to_string(), *c)));
    legend(&mut c, 560, 60, &items);
    c.save(path)
}

/// Randomization curves of one check: mean Spearman(abs) per method against the number of
/// layers randomized (0 = the trained model, similarity 1), titled with the check's mode.
pub fn randomization_plot(
    results: &[(&CheckResult, &RandomizationDetail)],
    path: &Path,
) -> Result<()> {
    let Some((_, first)) = results.first() else {
        return Ok(());
    };
    let steps = first.curve.len();
    if steps == 0 {
        return Ok(());
    }
    let mut c = Canvas::new(820, 460);
    let ax = Axes {
        x0: 70,
        y0: 50,
        w: 500,
        h: 340,
        xr: (-0.2, steps as f64 + 0.2),
        yr: (-1.0, 1.05),
    };
    let xt: Vec<(f64, String)> = (0..=steps).map(|s| (s as f64, s.to_string())).collect();
    let title = format!("MODEL RANDOMIZATION ({:?})", first.mode).to_uppercase();
    ax.frame(
        &mut c,
        &[-1.0, -0.5, 0.0, 0.5, 1.0],
        &xt,
        &title,
        "LAYERS RANDOMIZED FROM THE TOP",
    );
    let (_, y) = ax.px(0.0, 0.5);
    c.line((ax.x0, y), (ax.x0 + ax.w, y), Rgb([255, 0, 0]), 1);
    let mut items = Vec::new();
    for (i, (r, detail)) in results.iter().enumerate() {
        let colour = Rgb(PALETTE[i % PALETTE.len()]);
        let mut pts = vec![ax.px(0.0, 1.0)];
        for (s, point) in detail.curve.iter().enumerate() {
            if let Some(m) = point.spearman_abs.mean {
                pts.push(ax.px(s as f64 + 1.0, m));
            }
        }
        for pair in pts.windows(2) {
            c.line(pair[0], pair[1], colour, 2);
        }
        items.push((r.title.to_uppercase(), colour));
    }
    legend(&mut c, 590, 60, &items);
    c.save(path)
}

/// Writes the theorem figure and one randomization figure per randomization check
/// (`randomization.png`, then `randomization-INDEX.png` for further checks).
pub fn report_figures(report: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    let theorem: Vec<(&CheckResult, &TheoremFindings)> = report
        .results
        .iter()
        .filter_map(|r| match &r.findings {
            Findings::Theorem(t) => Some((r, t)),
            _ => None,
        })
        .collect();
    if !theorem.is_empty() {
        let p = dir.join("figures/theorem.png");
        theorem_plot(&theorem, &p)?;
        written.push(p);
    }
    let mut plotted = 0;
    for (run, results) in report.runs() {
        let curves: Vec<(&CheckResult, &RandomizationDetail)> = results
            .iter()
            .filter_map(|r| match &r.findings {
                Findings::Randomization(f) => Some((r, &f.detail)),
                _ => None,
            })
            .collect();
        if curves.is_empty() {
            continue;
        }
        let name = match plotted {
            0 => "figures/randomization.png".to_string(),
            _ => format!("figures/randomization-{}.png", run.index),
        };
        let p = dir.join(name);
        randomization_plot(&curves, &p)?;
        written.push(p);
        plotted += 1;
    }
    Ok(written)
}
