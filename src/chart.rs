//! Charts, drawn as SVG with plotters. A check makes its own charts from its findings
//! (`CheckFindings::charts` in check/result.rs: the theorem's sweep, the randomization
//! curves); the report writes them under figures/ and into report.html. Below the checks: it
//! knows no check.
//!
//! A chart is data first ([`Chart`]): its axes, its series with their marks, and — computed, not
//! assumed — the values that lie outside its y range ([`Chart::off_scale`]). That data is what the
//! tests check: no value is clamped (a value beyond the axis is drawn at the edge as an arrow with
//! its true number), and every series has a marker of its own, so equal curves stay visible.
//! [`Chart::svg`] only draws the data.
use crate::io::escape::printable;
use plotters::element::{EmptyElement, PathElement, Polygon, Text};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A marker element at `at` (data coordinates, or pixels for a legend entry): a macro, so that
/// the composed element's type is never named.
macro_rules! mark {
    ($at:expr, $marker:expr, $colour:expr) => {{
        let (fill, [a, b, c]) = parts($marker);
        let stroke = $colour.stroke_width(2);
        EmptyElement::at($at)
            + Polygon::new(fill, $colour.filled())
            + PathElement::new(a, stroke)
            + PathElement::new(b, stroke)
            + PathElement::new(c, stroke)
    }};
}

/// The outline of a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// ●
    Circle,
    /// ■
    Square,
    /// ◆
    Diamond,
    /// ▲
    TriangleUp,
    /// ▼
    TriangleDown,
    /// ×
    Cross,
    /// +
    Plus,
    /// ✱
    Star,
}

/// A marker: a shape, filled or hollow (strokes are neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Its outline.
    pub shape: Shape,
    /// Filled with the series' colour, or hollow.
    pub filled: bool,
}

const fn marker(shape: Shape, filled: bool) -> Marker {
    Marker { shape, filled }
}

/// Thirteen distinct markers, one per built-in method.
pub const MARKERS: [Marker; 13] = [
    marker(Shape::Circle, true),
    marker(Shape::Square, true),
    marker(Shape::TriangleUp, true),
    marker(Shape::Diamond, true),
    marker(Shape::TriangleDown, true),
    marker(Shape::Circle, false),
    marker(Shape::Square, false),
    marker(Shape::TriangleUp, false),
    marker(Shape::Diamond, false),
    marker(Shape::TriangleDown, false),
    marker(Shape::Cross, false),
    marker(Shape::Plus, false),
    marker(Shape::Star, false),
];

/// Colours (tab10 and three more), one per series.
pub const PALETTE: [(u8, u8, u8); 13] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 0, 0),
    (0, 128, 128),
];

/// One value of a series, with an optional interval (drawn as an error bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Where on the x axis (V, or a category's index).
    pub x: f64,
    /// The value.
    pub y: f64,
    /// Its interval (low, high), drawn as an error bar.
    pub interval: Option<(f64, f64)>,
}

impl Point {
    /// A point without an interval.
    pub fn at(x: f64, y: f64) -> Self {
        Point {
            x,
            y,
            interval: None,
        }
    }
}

/// A named series: its marks, and a line through them when `line`. Series are drawn last to
/// first, so the first one's marks lie on top.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// Written after the name in the legend (e.g. "3/40 ρ undefined"): what the marks cannot
    /// show, said once instead of beside every mark, where such notes overlap.
    pub note: Option<String>,
    /// Its marker (distinct per series, so that equal curves stay visible).
    pub marker: Marker,
    /// Its colour, RGB.
    pub colour: (u8, u8, u8),
    /// A line through the marks.
    pub line: bool,
    /// Its values.
    pub points: Vec<Point>,
}

/// The x axis: V on a log₂ scale, or named categories at 0, 1, 2, ….
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// Numbers on a log₂ scale (V, filters).
    Log2 {
        /// The axis label.
        label: String,
    },
    /// Named categories at 0, 1, 2, … (the randomized layers).
    Categories {
        /// The axis label.
        label: String,
        /// The categories' names, in order.
        names: Vec<String>,
    },
}

/// A chart's data. `y_range` is chosen to hold the values of interest (estimates and their
/// intervals); a value outside it is listed by [`Chart::off_scale`] and drawn as an arrow.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The file stem under `figures/` (`theorem`, `randomization-2`).
    pub stem: String,
    /// The index of the check (in the suite) whose results it draws.
    pub run: usize,
    /// The title above the plot.
    pub title: String,
    /// The x axis.
    pub x: XAxis,
    /// The y axis label.
    pub y_label: String,
    /// The y axis range (low, high).
    pub y_range: (f64, f64),
    /// A horizontal reference line (a decision threshold) and its label.
    pub reference: Option<(f64, String)>,
    /// The series, the first drawn on top.
    pub series: Vec<Series>,
}

/// A value beyond the y axis: drawn at the edge as an arrow pointing out, with its number.
#[derive(Debug, Clone, PartialEq)]
pub struct OffScale {
    /// The index of its series.
    pub series: usize,
    /// Where on the x axis.
    pub x: f64,
    /// Its true value.
    pub value: f64,
    /// Above the range (else below).
    pub above: bool,
}

/// The SVG's width in pixels.
pub const WIDTH: u32 = 1120;
/// The SVG's height in pixels.
pub const HEIGHT: u32 = 520;
/// The legend's column, right of the plot.
const LEGEND: u32 = 300;

impl Chart {
    /// Every value (mark or interval end) outside the y range.
    pub fn off_scale(&self) -> Vec<OffScale> {
        let (low, high) = self.y_range;
        let mut out = Vec::new();
        for (s, series) in self.series.iter().enumerate() {
            for p in &series.points {
                let ends = p.interval.map(|(a, b)| [a, b]);
                for value in std::iter::once(p.y).chain(ends.into_iter().flatten()) {
                    if value < low || value > high {
                        out.push(OffScale {
                            series: s,
                            x: p.x,
                            value,
                            above: value > high,
                        });
                    }
                }
            }
        }
        out
    }

    fn x_range(&self) -> (f64, f64) {
        match &self.x {
            XAxis::Categories { names, .. } => (-0.5, names.len().max(1) as f64 - 0.5),
            XAxis::Log2 { .. } => {
                let xs = self
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.x));
                let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(x), b.max(x))
                });
                if lo.is_finite() {
                    (lo.log2().floor() - 0.5, hi.log2().ceil() + 0.5)
                } else {
                    (0.0, 1.0)
                }
            }
        }
    }

    /// The x coordinate a value is drawn at (log₂ V on a log axis).
    fn x_at(&self, x: f64) -> f64 {
        match self.x {
            XAxis::Log2 { .. } => x.log2(),
            XAxis::Categories { .. } => x,
        }
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> std::result::Result<String, String> {
        let mut text = String::new();
        self.draw(&mut text).map_err(|e| e.to_string())?;
        Ok(text)
    }

    /// Long: one plotters drawing in painting order (frame, reference line, series, error bars,
    /// arrows, legend), every part on the chart's one coordinate mapping.
    fn draw(&self, out: &mut String) -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let (x0, x1) = self.x_range();
        let (y0, y1) = self.y_range;
        let mut chart = ChartBuilder::on(&plot)
            .caption(printable(&self.title), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(70)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let (x_label, names) = match &self.x {
            XAxis::Log2 { label } => (label.clone(), None),
            XAxis::Categories { label, names } => (label.clone(), Some(names.clone())),
        };
        let ticks = (x1 - x0).round() as usize;
        let format_x = |x: &f64| -> String {
            let k = x.round();
            if (x - k).abs() > 1e-6 {
                return String::new();
            }
            match &names {
                // Category names are drawn below, staggered when they would touch.
                Some(_) => String::new(),
                None => format!("{}", 2f64.powi(k as i32)),
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(self.y_label.as_str())
            .x_labels(ticks.max(2))
            .x_label_formatter(&format_x)
            .y_labels(8)
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        if let Some(names) = &names {
            // Two rows of names when one row's would touch (about 0.6 em a character).
            let (width, _) = chart.plotting_area().dim_in_pixel();
            let spacing = width as f64 / (x1 - x0);
            let widest = names.iter().map(|n| n.chars().count()).max();
            let widest = widest.unwrap_or_default();
            let rows = if widest as f64 * 0.6 * 14.0 > spacing - 6.0 {
                2
            } else {
                1
            };
            let anchor = Pos::new(HPos::Center, VPos::Top);
            for (k, name) in names.iter().enumerate() {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((k as f64, y0))
                        + Text::new(
                            printable(name),
                            (0, 8 + 16 * (k % rows) as i32),
                            ("sans-serif", 14).into_font().color(&BLACK).pos(anchor),
                        ),
                ))?;
            }
        }
        // The legend, in its own column: one row per series, its marker and its name.
        let font = ("sans-serif", 13).into_font();
        let mut row = 60;
        if let Some((y, label)) = &self.reference {
            let red = RGBColor(200, 0, 0);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x0, *y), (x1, *y)],
                red.stroke_width(1),
            )))?;
            legend.draw(&PathElement::new(
                vec![(6, row), (26, row)],
                red.stroke_width(2),
            ))?;
            legend.draw(&Text::new(label.clone(), (34, row - 7), font.clone()))?;
            row += 22;
        }
        for series in &self.series {
            let (r, g, b) = series.colour;
            let colour = RGBColor(r, g, b);
            if series.line {
                legend.draw(&PathElement::new(
                    vec![(4, row), (28, row)],
                    colour.stroke_width(2),
                ))?;
            }
            legend.draw(&mark!((16, row), series.marker, colour))?;
            let name = match &series.note {
                Some(note) => format!("{} ({note})", series.name),
                None => series.name.clone(),
            };
            let name = printable(&name);
            legend.draw(&Text::new(name, (34, row - 7), font.clone()))?;
            row += 22;
        }
        for series in self.series.iter().rev() {
            let (r, g, b) = series.colour;
            let colour = RGBColor(r, g, b);
            let inside: Vec<&Point> = series
                .points
                .iter()
                .filter(|p| p.y >= y0 && p.y <= y1)
                .collect();
            if series.line {
                // The line runs through every value, off-scale ones included; plotters clips it
                // at the plotting area's edge, so its slope stays true.
                let path: Vec<(f64, f64)> = series
                    .points
                    .iter()
                    .map(|p| (self.x_at(p.x), p.y))
                    .collect();
                chart.draw_series(std::iter::once(PathElement::new(
                    path,
                    colour.stroke_width(2),
                )))?;
            }
            for p in &series.points {
                if let Some((lo, hi)) = p.interval {
                    let x = self.x_at(p.x);
                    let (a, b) = (lo.max(y0), hi.min(y1));
                    if a <= b {
                        chart.draw_series(std::iter::once(PathElement::new(
                            vec![(x, a), (x, b)],
                            colour.stroke_width(2),
                        )))?;
                    }
                }
            }
            let m = series.marker;
            chart.draw_series(
                inside
                    .iter()
                    .map(|p| mark!((self.x_at(p.x), p.y), m, colour)),
            )?;
        }
        // An off-scale value: an arrow inside the plot whose tip touches the edge it lies
        // beyond, its true value beside the shaft; arrows at the same x and edge stack inwards,
        // so nothing is drawn over the title or the tick labels.
        let mut stacked: Vec<(f64, bool, i32)> = Vec::new();
        for off in self.off_scale() {
            let series = &self.series[off.series];
            let (r, g, b) = series.colour;
            let colour = RGBColor(r, g, b);
            let x = self.x_at(off.x);
            let k = match stacked
                .iter_mut()
                .find(|(at, above, _)| *at == x && *above == off.above)
            {
                Some((_, _, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    stacked.push((x, off.above, 0));
                    0
                }
            };
            let at = (x, if off.above { y1 } else { y0 });
            let inward = if off.above { 1 } else { -1 };
            let head = vec![(0, 0), (-6, 10 * inward), (6, 10 * inward)];
            let anchor = Pos::new(HPos::Left, VPos::Center);
            chart.draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Polygon::new(head, colour.filled())
                    + PathElement::new(vec![(0, 0), (0, 20 * inward)], colour.stroke_width(2))
                    + Text::new(
                        number(off.value),
                        (8, (8 + 15 * k) * inward),
                        ("sans-serif", 12).into_font().color(&colour).pos(anchor),
                    ),
            ))?;
        }
        root.present()?;
        Ok(())
    }
}

/// Pixel offsets from a marker's centre.
type Polyline = Vec<(i32, i32)>;

/// A marker as pixel offsets from its centre: a filled polygon (empty for a hollow marker) and
/// up to three strokes (a hollow marker's closed outline, a cross's bars). Every marker has this
/// one shape of data, so data marks and legend entries are one element type.
fn parts(m: Marker) -> (Polyline, [Polyline; 3]) {
    let r = 5;
    let outline: Vec<(i32, i32)> = match m.shape {
        Shape::Circle => (0..16)
            .map(|k| {
                let a = std::f64::consts::PI * k as f64 / 8.0;
                (
                    (r as f64 * a.cos()).round() as i32,
                    (r as f64 * a.sin()).round() as i32,
                )
            })
            .collect(),
        Shape::Square => vec![(-r, -r), (r, -r), (r, r), (-r, r)],
        Shape::Diamond => vec![(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
        Shape::TriangleUp => vec![(0, -r - 1), (r + 1, r), (-r - 1, r)],
        Shape::TriangleDown => vec![(0, r + 1), (r + 1, -r), (-r - 1, -r)],
        Shape::Cross | Shape::Plus | Shape::Star => Vec::new(),
    };
    let diagonal = [vec![(-r, -r), (r, r)], vec![(-r, r), (r, -r)]];
    let upright = [vec![(-r - 1, 0), (r + 1, 0)], vec![(0, -r - 1), (0, r + 1)]];
    match m.shape {
        Shape::Cross => (
            Vec::new(),
            [diagonal[0].clone(), diagonal[1].clone(), Vec::new()],
        ),
        Shape::Plus => (
            Vec::new(),
            [upright[0].clone(), upright[1].clone(), Vec::new()],
        ),
        Shape::Star => (
            Vec::new(),
            [diagonal[0].clone(), diagonal[1].clone(), upright[1].clone()],
        ),
        _ if m.filled => (outline, [Vec::new(), Vec::new(), Vec::new()]),
        _ => {
            let mut closed = outline.clone();
            closed.push(outline[0]);
            (Vec::new(), [closed, Vec::new(), Vec::new()])
        }
    }
}

/// Four significant digits (at most 8 decimals), with a true minus sign and no negative zero.
pub fn number(value: f64) -> String {
    let digits = match value != 0.0 && value.is_finite() {
        true => (3 - value.abs().log10().floor() as i32).clamp(0, 8) as usize,
        false => 0,
    };
    crate::io::number::fixed(value, digits).replace('-', "−")
}

/// The y range that holds `values` (and 0 when `with_zero`), padded by 8% of its span.
pub fn range_of(values: impl Iterator<Item = f64>, with_zero: bool) -> (f64, f64) {
    let start = if with_zero {
        (0.0, 0.0)
    } else {
        (f64::INFINITY, f64::NEG_INFINITY)
    };
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold(start, |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad)
}
