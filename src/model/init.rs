//! Seeded parameter initialisation. Weights are drawn with a Rust RNG from an explicit seed, never
//! from libtorch's global generator, so the same seed gives the same model on every thread,
//! device and run.
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};
use tch::{Device, Kind, Tensor};

/// A seeded source of parameter tensors.
pub struct Init {
    rng: StdRng,
    device: Device,
}

impl Init {
    pub fn new(seed: u64, device: Device) -> Self {
        Init {
            rng: StdRng::seed_from_u64(seed),
            device,
        }
    }

    /// i.i.d. N(0, std²) entries.
    pub fn normal(&mut self, shape: &[i64], std: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let mut data = vec![0.0f32; n as usize];
        self.fill_normal(&mut data, std);
        Tensor::from_slice(&data)
            .reshape(shape)
            .to_device(self.device)
    }

    /// i.i.d. U(-bound, bound) entries.
    /// Fills `out` with N(0, std²) values: the same values, in the same order, as
    /// [`Init::normal`] of `out.len()` elements.
    pub fn fill_normal(&mut self, out: &mut [f32], std: f64) {
        let dist = Normal::new(0.0f32, std as f32).expect("finite std");
        out.iter_mut().for_each(|x| *x = dist.sample(&mut self.rng));
    }

    pub fn uniform(&mut self, shape: &[i64], bound: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let dist = Uniform::new_inclusive(-bound as f32, bound as f32).expect("finite bound");
        let data: Vec<f32> = (0..n).map(|_| dist.sample(&mut self.rng)).collect();
        Tensor::from_slice(&data)
            .reshape(shape)
            .to_device(self.device)
    }

    /// Kaiming-normal for a ReLU network with fan-out mode (torchvision's VGG conv init).
    pub fn kaiming_fan_out(&mut self, shape: &[i64]) -> Tensor {
        let fan_out = shape[0] * shape[2..].iter().product::<i64>();
        self.normal(shape, (2.0 / fan_out as f64).sqrt())
    }

    pub fn zeros(&self, shape: &[i64]) -> Tensor {
        Tensor::zeros(shape, (Kind::Float, self.device))
    }

    pub fn ones(&self, shape: &[i64]) -> Tensor {
        Tensor::ones(shape, (Kind::Float, self.device))
    }
}
