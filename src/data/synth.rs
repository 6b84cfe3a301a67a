//! STACK-SYNTH: a deterministic, seeded generator of two-object images, blindspot's embedded
//! stand-in for the paper's STACK-MIX / STACK-GEN (which cannot be downloaded here).
//!
//! Each image holds a *class object* in the upper part, which a masked model sees, and a smaller
//! *distractor* of a random other class in the bottom band, which the model's wall hides. The
//! label is the class object's. The six classes differ in shape, colour and texture at once, and
//! position, size, colour and background are jittered, so a CNN must look at the object.
//! Image `i` depends only on `(seed, i)`: a set of N images is a prefix of the set of N + 1.
use crate::seed::Stream;
use rand::rngs::StdRng;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The classes: name, RGB colour, shape, texture.
pub const CLASSES: [(&str, [f32; 3]); 6] = [
    ("red-disc", [0.90, 0.15, 0.12]),
    ("green-striped-square", [0.15, 0.80, 0.20]),
    ("blue-dotted-triangle", [0.15, 0.30, 0.95]),
    ("yellow-ring", [0.95, 0.85, 0.10]),
    ("magenta-barred-cross", [0.85, 0.15, 0.80]),
    ("cyan-checkered-diamond", [0.10, 0.85, 0.90]),
];

/// Shape of the dataset. The default is 64×64 with the distractor band in rows 48..63.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    pub height: i64,
    pub width: i64,
    /// First row of the distractor band (inclusive); the band runs to the last row.
    pub band_start: i64,
}

impl SynthConfig {
    /// A `size`×`size` set whose distractor band is the bottom quarter.
    pub fn square(size: i64) -> Self {
        SynthConfig {
            height: size,
            width: size,
            band_start: size - size / 4,
        }
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            height: 64,
            width: 64,
            band_start: 48,
        }
    }
}

/// A generated set: images in \[0, 1\], \[N, 3, H, W\]; labels and distractor classes, int64 \[N\];
/// the class objects' boxes.
pub struct StackSynth {
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub config: SynthConfig,
    pub images: Tensor,
    pub labels: Tensor,
    pub distractors: Tensor,
    /// The box of each class object's visible pixels: (x0, y0, x1, y1), inclusive, int64
    /// \[N, 4\] (the ground truth of the localisation checks).
    pub boxes: Tensor,
}

/// Whether the point (u, v), in units of the object's radius around its centre, is inside
/// `class`'s shape.
fn inside(class: usize, u: f32, v: f32) -> bool {
    match class {
        0 => u * u + v * v <= 1.0,
        1 => u.abs() <= 0.85 && v.abs() <= 0.85,
        2 => (-0.95..=0.8).contains(&v) && u.abs() <= (v + 0.95) / 1.75,
        3 => (0.5..=1.0).contains(&(u * u + v * v)),
        4 => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        _ => u.abs() + v.abs() <= 1.0,
    }
}

/// Brightness factor of `class`'s texture at pixel (x, y).
fn texture(class: usize, x: i64, y: i64) -> f32 {
    let on = match class {
        1 => (y / 3) % 2 == 0,
        2 => x % 4 < 2 && y % 4 < 2,
        4 => (x / 2) % 2 == 0,
        5 => (x / 3 + y / 3) % 2 == 0,
        _ => true,
    };
    if on {
        1.0
    } else {
        0.45
    }
}

struct Object {
    class: usize,
    cx: f32,
    cy: f32,
    radius: f32,
    colour: [f32; 3],
}

fn object(rng: &mut StdRng, class: usize, cx: f32, cy: f32, radius: f32) -> Object {
    let base = CLASSES[class].1;
    let colour = base.map(|c| (c + rng.random_range(-0.08f32..0.08)).clamp(0.0, 1.0));
    Object {
        class,
        cx,
        cy,
        radius,
        colour,
    }
}

/// One rendered image: HWC pixels, RGB in [0, 1], its label and distractor class, and the box of
/// the class object's visible pixels (x0, y0, x1, y1, inclusive).
struct Rendered {
    pixels: Vec<f32>,
    label: i64,
    distractor: i64,
    object_box: [i64; 4],
}

/// Renders one image.
fn render(config: &SynthConfig, seed: u64, index: u64) -> Rendered {
    let mut rng = Stream::from_seed(seed).at(index).rng();
    let (h, w) = (config.height, config.width);
    let k = CLASSES.len();
    let label = rng.random_range(0..k);
    let distractor = (label + rng.random_range(1..k)) % k;
    let visible = config.band_start as f32;
    // Class object: within the rows above the band, with a margin.
    let radius = rng.random_range(0.17f32..0.24) * visible;
    let cy = rng.random_range(radius + 1.0..(visible - radius - 3.0).max(radius + 1.5));
    let cx = rng.random_range(radius + 1.0..(w as f32 - radius - 1.0));
    let main = object(&mut rng, label, cx, cy, radius);
    // Distractor: centred in the band, fully inside it.
    let band = (h - config.band_start) as f32;
    let d_radius = band * rng.random_range(0.36f32..0.46);
    let d_cy = config.band_start as f32 + band / 2.0 - 0.5;
    let d_cx = rng.random_range(d_radius + 1.0..(w as f32 - d_radius - 1.0));
    let other = object(&mut rng, distractor, d_cx, d_cy, d_radius);
    let background: [f32; 3] = [
        rng.random_range(0.05..0.35),
        rng.random_range(0.05..0.35),
        rng.random_range(0.05..0.35),
    ];
    let mut pixels = vec![0f32; (h * w * 3) as usize];
    let mut object_box = [w, h, -1, -1];
    for y in 0..h {
        for x in 0..w {
            let mut rgb =
                background.map(|c| (c + rng.random_range(-0.06f32..0.06)).clamp(0.0, 1.0));
            let mut shown = None;
            for (k, o) in [&main, &other].into_iter().enumerate() {
                let (u, v) = ((x as f32 - o.cx) / o.radius, (y as f32 - o.cy) / o.radius);
                if inside(o.class, u, v) {
                    let t = texture(o.class, x, y);
                    rgb = o.colour.map(|c| c * t);
                    shown = Some(k);
                }
            }
            if shown == Some(0) {
                object_box = [
                    object_box[0].min(x),
                    object_box[1].min(y),
                    object_box[2].max(x),
                    object_box[3].max(y),
                ];
            }
            let at = ((y * w + x) * 3) as usize;
            pixels[at..at + 3].copy_from_slice(&rgb);
        }
    }
    Rendered {
        pixels,
        label: label as i64,
        distractor: distractor as i64,
        object_box,
    }
}

impl StackSynth {
    /// Generates images `first..first + n` of the stream defined by `seed`.
    pub fn generate(config: &SynthConfig, n: i64, seed: u64, first: u64) -> StackSynth {
        let (h, w) = (config.height, config.width);
        let mut data = Vec::with_capacity((n * h * w * 3) as usize);
        let (mut labels, mut distractors, mut boxes) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n as u64 {
            let image = render(config, seed, first + i);
            data.extend_from_slice(&image.pixels);
            labels.push(image.label);
            distractors.push(image.distractor);
            boxes.extend_from_slice(&image.object_box);
        }
        let images = Tensor::from_slice(&data)
            .view([n, h, w, 3])
            .permute([0, 3, 1, 2])
            .contiguous();
        StackSynth {
            config: config.clone(),
            images,
            labels: Tensor::from_slice(&labels),
            distractors: Tensor::from_slice(&distractors),
            boxes: Tensor::from_slice(&boxes).view([n, 4]),
        }
    }

    /// The images normalised with ImageNet's statistics, as models consume them.
    pub fn normalized(&self) -> Tensor {
        super::normalize(&self.images)
    }

    pub fn len(&self) -> i64 {
        self.images.size()[0]
    }

    #[cfg(feature = "internals")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i` as 8-bit RGB bytes (HWC).
    pub fn rgb8(&self, i: i64) -> Vec<u8> {
        let img = (self.images.get(i).permute([1, 2, 0]) * 255.0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
            .contiguous();
        let mut out = vec![0u8; img.numel()];
        img.copy_data(&mut out, img.numel());
        out
    }
}
