//! Random walled vision transformers for `prop-vit-wall`: a shape drawn from a seeded stream
//! (image side, patch side, heads, head width, depth, MLP width, wall row), its text form for
//! replay strings, and its one-step simplifications for shrinking. The network itself is the
//! built-in [`super::vit::Vit`] with fresh weights.
use super::vit::VitConfig;
use crate::error::{Error, Result};
use rand::rngs::StdRng;
use rand::RngExt;

/// The shape of a random walled ViT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomVit {
    /// Image side S (S×S RGB).
    pub side: i64,
    /// Patch side p: a (S/p)×(S/p) token grid.
    pub patch: i64,
    pub heads: i64,
    /// Channels per head: D = heads × head_width.
    pub head_width: i64,
    pub depth: i64,
    pub mlp: i64,
    /// Token rows from this one down are behind the wall.
    pub wall_row: i64,
}

impl RandomVit {
    /// A shape from `rng`: side 32 or 64, patch 4, 8 or 16 (at least 2 token rows), 1, 2 or 4
    /// heads of 2..8 channels, 1..3 blocks, an MLP of 4..64, the wall at any token row but the
    /// first.
    pub fn draw(rng: &mut StdRng) -> RandomVit {
        let side = [32, 64][rng.random_range(0..2)];
        let patches: Vec<i64> = [4, 8, 16]
            .into_iter()
            .filter(|p| side / p >= 2)
            .collect();
        let patch = patches[rng.random_range(0..patches.len())];
        let rows = side / patch;
        RandomVit {
            side,
            patch,
            heads: [1, 2, 4][rng.random_range(0..3)],
            head_width: rng.random_range(2..9),
            depth: rng.random_range(1..4),
            mlp: rng.random_range(4..65),
            wall_row: rng.random_range(1..rows),
        }
    }

    /// The built-in ViT's configuration of this shape (4 classes).
    pub fn config(&self) -> VitConfig {
        VitConfig {
            in_channels: 3,
            height: self.side,
            width: self.side,
            patch: self.patch,
            dim: self.heads * self.head_width,
            depth: self.depth,
            heads: self.heads,
            mlp: self.mlp,
            classes: 4,
            wall_from_row: Some(self.wall_row),
        }
    }

    /// Whether the shape is buildable: the patches tile the image, the wall leaves rows on both
    /// sides, and tokens have at least 2 channels (a LayerNorm over one channel outputs its
    /// shift whatever its input: the network would be constant).
    pub fn valid(&self) -> bool {
        let positive = [self.side, self.patch, self.heads, self.head_width, self.depth, self.mlp];
        positive.iter().all(|&v| v >= 1)
            && self.heads * self.head_width >= 2
            && self.side % self.patch == 0
            && (1..self.side / self.patch).contains(&self.wall_row)
    }

    /// `s64p8h2w4d2m32r5`: side, patch, heads, head width, depth, MLP, wall row.
    pub fn encode(&self) -> String {
        format!(
            "s{}p{}h{}w{}d{}m{}r{}",
            self.side,
            self.patch,
            self.heads,
            self.head_width,
            self.depth,
            self.mlp,
            self.wall_row
        )
    }

    /// The shape [`RandomVit::encode`] wrote; an error naming the text otherwise.
    pub fn decode(text: &str) -> Result<RandomVit> {
        let bad = || {
            Error::input(
                format!("`{text}` is not a random ViT's shape"),
                "the replay string's arch",
                "copy the replay string as a run printed it (arch=s64p8h2w4d2m32r5)",
            )
        };
        let mut values = Vec::new();
        let mut rest = text;
        for key in ['s', 'p', 'h', 'w', 'd', 'm', 'r'] {
            rest = rest.strip_prefix(key).ok_or_else(bad)?;
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let value: i64 = rest[..digits].parse().map_err(|_| bad())?;
            if value > 4096 {
                return Err(bad());
            }
            values.push(value);
            rest = &rest[digits..];
        }
        let shape = RandomVit {
            side: values[0],
            patch: values[1],
            heads: values[2],
            head_width: values[3],
            depth: values[4],
            mlp: values[5],
            wall_row: values[6],
        };
        match rest.is_empty() && shape.valid() {
            true => Ok(shape),
            false => Err(bad()),
        }
    }

    /// The valid one-step simplifications, simplest first: fewer blocks, fewer heads, narrower
    /// heads, a narrower MLP, a smaller image, larger patches (the wall row scaled with them).
    pub fn shrinks(&self) -> Vec<(String, RandomVit)> {
        let mut out = Vec::new();
        let mut push = |step: String, s: RandomVit| {
            if s.valid() && s != *self {
                out.push((step, s));
            }
        };
        push(
            "one block fewer".into(),
            RandomVit {
                depth: self.depth - 1,
                ..self.clone()
            },
        );
        push(
            "half the heads".into(),
            RandomVit {
                heads: self.heads / 2,
                ..self.clone()
            },
        );
        push(
            "narrower heads".into(),
            RandomVit {
                head_width: self.head_width - 1,
                ..self.clone()
            },
        );
        push(
            "half the MLP".into(),
            RandomVit {
                mlp: self.mlp / 2,
                ..self.clone()
            },
        );
        push(
            "half the image".into(),
            RandomVit {
                side: self.side / 2,
                wall_row: self.wall_row / 2,
                ..self.clone()
            },
        );
        push(
            "twice the patch".into(),
            RandomVit {
                patch: self.patch * 2,
                wall_row: self.wall_row / 2,
                ..self.clone()
            },
        );
        out
    }
}
