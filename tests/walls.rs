//! Walls: certification with known answers, refusal of walls that leak, post-hoc masking.
use crate::common::{ensure, fixture, TestResult};
use blindspot::cam::{explain, hirescam::HiResCam};
use blindspot::model::rcnn::{Rcnn, RcnnConfig};
use blindspot::model::torchscript::TorchScriptModel;
use blindspot::model::vgg::{Vgg, VggConfig};
use blindspot::model::wall::{certify, CertifyOptions, RowRange, Walled};
use blindspot::{Result, SplitModel};
use libtest_mimic::Trial;
use tch::{Device, Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "walls::rcnn_notebook_instance_certifies_rows_15_to_28",
            || {
                let model = Rcnn::new(RcnnConfig::default(), 0, Device::Cpu);
                expect_rows(&model, 1, 29, 29, 15, 28)
            },
        ),
        Trial::test("walls::rcnn_baseline_has_no_wall", || {
            let model = Rcnn::new(
                RcnnConfig {
                    masked: false,
                    ..RcnnConfig::default()
                },
                0,
                Device::Cpu,
            );
            let err = certify(&model, 1, 29, 29, &CertifyOptions::default())
                .err()
                .ok_or("a wall-less model was certified")?;
            ensure(err.to_string().contains("no input pixel"), || {
                err.to_string()
            })
        }),
        crate::common::slow(
            "walls::vgg16_masked_at_224_certifies_rows_170_to_223",
            || {
                let model = Vgg::new(
                    VggConfig::vgg16_masked(true),
                    "vgg16-masked",
                    0,
                    Device::Cpu,
                );
                let options = CertifyOptions {
                    gradient_inputs: 2,
                    noise_trials: 4,
                    seed: 0,
                };
                let cert = certify(&model, 3, 224, 224, &options)?;
                ensure(
                    cert.rows
                        == Some(RowRange {
                            first: 170,
                            last: 223,
                        }),
                    || format!("certified {}", cert.describe()),
                )
            },
        ),
        Trial::test("walls::small_vgg_certifies_rows_47_to_63", || {
            let model = Vgg::new(VggConfig::small(6, Some((4, 8))), "small", 0, Device::Cpu);
            expect_rows(&model, 3, 64, 64, 47, 63)
        }),
        Trial::test("walls::torchscript_masked_post_hoc", || {
            // The residual fixture (stride-2 stem, two 3x3 convs, 19 feature rows for 37 input
            // rows): masking feature rows 10.. leaves live row 9, whose receptive field ends at
            // input row 2*9 + 1 + 2*2 = 23, so rows 24..36 are blind.
            let inner = TorchScriptModel::load(&fixture("resnet/model.pt"), Device::Cpu)?;
            let model = Walled::new(Box::new(inner), RowRange::parse("10..")?);
            expect_rows(&model, 3, 37, 29, 24, 36)?;
            // HiResCAM's raw map is exactly zero on the dead feature rows.
            let x = blindspot::model::init::Init::new(1, Device::Cpu).normal(&[3, 3, 37, 29], 1.0);
            let e = explain(&HiResCam, &model, &x, None)?;
            let dead = e.raw.narrow(1, 10, 9).abs().max().double_value(&[]);
            ensure(dead == 0.0, || format!("HiResCAM on dead rows: {dead}"))
        }),
        Trial::test("walls::leaky_wall_is_refused", || {
            let err = certify(&Leaky, 1, 8, 8, &CertifyOptions::default())
                .err()
                .ok_or("a leaky wall was certified")?;
            ensure(err.to_string().contains("fails certification"), || {
                err.to_string()
            })
        }),
        Trial::test("walls::row_range_parsing", || {
            ensure(
                RowRange::parse("5..13")? == RowRange { first: 5, last: 13 },
                || "5..13".into(),
            )?;
            ensure(RowRange::parse("4..")?.clipped(8) == (4..8), || {
                "4..".into()
            })?;
            ensure(
                RowRange::parse("7..3").is_err() && RowRange::parse("x").is_err(),
                || "bad ranges accepted".into(),
            )
        }),
    ]
}

fn expect_rows(
    model: &dyn SplitModel,
    c: i64,
    h: i64,
    w: i64,
    first: i64,
    last: i64,
) -> TestResult {
    let cert = certify(model, c, h, w, &CertifyOptions::default())?;
    ensure(cert.rows == Some(RowRange { first, last }), || {
        format!(
            "certified {} instead of rows {first}..{last}",
            cert.describe()
        )
    })?;
    ensure(cert.blind_pixels == (last - first + 1) * w, || {
        format!("{} blind pixels", cert.blind_pixels)
    })?;
    let mask = cert.mask();
    ensure(
        mask.sum(Kind::Int64).int64_value(&[]) == cert.blind_pixels,
        || "mask and count disagree".into(),
    )
}

/// A model whose bottom half only matters for inputs above 6: the gradient at random N(0, 1)
/// inputs is zero there, but noise reaches it. The input-gradient support alone would call it
/// blind; the noise proof must refuse it.
struct Leaky;

impl SplitModel for Leaky {
    fn name(&self) -> String {
        "leaky".into()
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let rows: Vec<f32> = (0..8).map(|r| if r < 4 { 0.0 } else { 6.0 }).collect();
        Ok((x - Tensor::from_slice(&rows).view([1, 1, 8, 1])).relu())
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        Ok(a.flatten(1, -1).sum_dim_intlist(1, true, Kind::Float))
    }
}
