//! The gate: `cargo test -p abs-gradcam` runs one trial per check of tests/gate.toml.
use abs_gradcam::AbsGradCam;
use blindspot::{SanityHarness, Verdict};

fn main() {
    SanityHarness::new(AbsGradCam)
        .suite(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gate.toml"))
        // Non-negative channel weights paint the activations behind the wall: the wall check
        // must fail this method.
        .expect("::wall::", Verdict::Fail)
        // |gradient| discards the sign that tells one class from another: the maps of two
        // classes are nearly the same (mean SSIM 0.91 measured), so the random-logit test fails.
        .expect("::class-sensitivity::", Verdict::Fail)
        // On random walled networks it leaks too: the trial fails with the smallest network
        // it found and the command that replays it; asserted here.
        .property("wall", 12)
        .expect("::prop-wall::", Verdict::Fail)
        // Its channel weights |gradient| are never negative: with the output layer randomized it
        // weighs the same activation maps by other non-negative numbers and ranks the pixels
        // nearly alike (Spearman 0.978 measured), so model randomization fails it, as it fails
        // LayerCAM (docs/checks.md).
        .expect("::randomization::", Verdict::Fail)
        .device(tch::Device::Cpu)
        .run();
}
