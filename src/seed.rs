//! One seed policy: every random stream of blindspot derives from one root seed and a name.
//!
//! A run (a suite, `blindspot check`, a harness trial) has one root seed, `--seed`. Whatever
//! draws random numbers asks for a [`Stream`] by a name from [`streams`] — the one place that
//! lists them (docs/architecture.md repeats the table) — and, where it draws many independent
//! things (Monte Carlo draws, randomization steps), for sub-streams by index with
//! [`Stream::at`]. A model's own seed (`--model-seed`: initialisation, training) is a second,
//! independent root with its own names ([`streams::MODEL_INIT`], …).
//!
//! Derivation: `stream(root, name) = splitmix64(splitmix64(root) ^ fnv1a64(name))` and
//! `at(s, i) = splitmix64(s ^ splitmix64(i + 1))`. Written here rather than taken from a crate
//! because it must never change: a report names its seed, and the same seed has to replay the
//! same numbers with every future version of rand (whose `seed_from_u64` expansion is only
//! promised within a major version). The stream values seed `rand`'s `StdRng` where a generator
//! is needed.
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The names of every random stream, in one place.
pub mod streams {
    /// STACK-SYNTH images of a check whose data does not fix its own seed (every check of a run
    /// reads the same image stream, so a set of N images is a prefix of a set of N + 1).
    pub const DATA: &str = "data/stack-synth";
    /// Random inputs and noise of a wall certification.
    pub const CERTIFY: &str = "wall/certify";
    /// Resamples of the wall check's percentile bootstrap.
    pub const WALL_BOOTSTRAP: &str = "wall/bootstrap";
    /// The Theorem 1 input image (one image for every configuration, so the scaling rows differ
    /// only in τ and the input scale).
    pub const THEOREM_INPUT: &str = "theorem/input";
    /// Theorem 1 weight draws: sub-stream V, then sub-stream i for draw i (common random numbers
    /// across τ and input scale at one V).
    pub const THEOREM_DRAWS: &str = "theorem/draws";
    /// Replacement weights of model randomization: sub-stream s for step s.
    pub const RANDOMIZATION_WEIGHTS: &str = "randomization/weights";
    /// Smooth MPRT's input noise: sub-stream k for the k-th noisy copy of the images.
    pub const SMOOTH_NOISE: &str = "smooth-mprt/noise";
    /// The other class of each image in the random-logit test.
    pub const OTHER_CLASS: &str = "class-sensitivity/other-class";
    /// The channel factors and permutation of the implementation-invariance check.
    pub const REPARAMETERISATION: &str = "implementation-invariance/reparameterisation";
    /// The localisation checks' blurred random map (their negative control).
    pub const RANDOM_MAP: &str = "localisation/random-map";
    /// Tie-breaking permutations of the faithfulness checks: sub-stream i for image i.
    pub const TIES: &str = "faithfulness/ties";
    /// ROAD's imputation noise: sub-stream i for image i.
    pub const ROAD_NOISE: &str = "road/noise";
    /// RandomCAM's channel weights.
    pub const RANDOMCAM: &str = "method/randomcam";
    /// SmoothGrad's input noise.
    pub const SMOOTHGRAD: &str = "method/smoothgrad";
    /// Property cases: sub-stream i for case i (its architecture, weights and inputs).
    pub const PROP_WALL: &str = "prop/wall";
    pub const PROP_THEOREM: &str = "prop/theorem";
    pub const PROP_POSITIVITY: &str = "prop/positivity";
    pub const PROP_VIT_WALL: &str = "prop/vit-wall";
    /// Model seed: initial weights of a built-in model (trained or not).
    pub const MODEL_INIT: &str = "model/init";
    /// Model seed: the order of training batches and dropout.
    pub const TRAIN_ORDER: &str = "train/order";
    /// Model seed: the label permutation of a random-label model.
    pub const TRAIN_PERMUTATION: &str = "train/permutation";

    /// Every name above, for the test that they stay distinct and for the docs.
    #[cfg(feature = "internals")]
    pub const ALL: [&str; 21] = [
        DATA,
        CERTIFY,
        WALL_BOOTSTRAP,
        THEOREM_INPUT,
        THEOREM_DRAWS,
        RANDOMIZATION_WEIGHTS,
        SMOOTH_NOISE,
        OTHER_CLASS,
        REPARAMETERISATION,
        RANDOM_MAP,
        TIES,
        ROAD_NOISE,
        RANDOMCAM,
        SMOOTHGRAD,
        PROP_WALL,
        PROP_THEOREM,
        PROP_POSITIVITY,
        PROP_VIT_WALL,
        MODEL_INIT,
        TRAIN_ORDER,
        TRAIN_PERMUTATION,
    ];
}

/// SplitMix64's output function (Steele, Lea & Flood, OOPSLA 2014): a bijection of u64 whose
/// outputs for neighbouring inputs are unrelated.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits, of a name.
fn fnv1a64(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The root of a run's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    root: u64,
}

impl Seeds {
    /// The streams of run seed `root`.
    pub fn new(root: u64) -> Self {
        Seeds { root }
    }

    /// The root seed (what reports print).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The stream called `name` (each use of randomness has its own name).
    pub fn stream(&self, name: &str) -> Stream {
        Stream(splitmix64(splitmix64(self.root) ^ fnv1a64(name)))
    }
}

/// A named random stream: a 64-bit seed with sub-streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream(u64);

impl Stream {
    /// A stream from a seed given explicitly (a dataset's own seed).
    pub fn from_seed(seed: u64) -> Stream {
        Stream(seed)
    }

    /// The stream's seed.
    pub fn seed(self) -> u64 {
        self.0
    }

    /// Sub-stream `index` (draw i, step s, configuration V).
    pub fn at(self, index: u64) -> Stream {
        Stream(splitmix64(self.0 ^ splitmix64(index.wrapping_add(1))))
    }

    /// A generator seeded with this stream.
    pub fn rng(self) -> StdRng {
        StdRng::seed_from_u64(self.0)
    }
}
