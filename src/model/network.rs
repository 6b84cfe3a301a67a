//! The built-in architectures that blindspot trains ([`crate::train`]): a [`Network`] is a split
//! model with its parameters in a `VarStore`, a forward pass in training mode, and weights it
//! saves and loads; an [`Architecture`] names one and builds it.
use super::vgg::{Vgg, VggConfig};
use super::vit::{Vit, VitConfig};
use super::SplitModel;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// A trainable built-in model.
pub trait Network: SplitModel {
    /// Its parameters, which the optimiser updates.
    fn var_store(&self) -> &VarStore;
    /// Logits in training mode (`train`: dropout on, BatchNorm batch statistics) or eval mode.
    fn logits_t(&self, x: &Tensor, train: bool) -> Tensor;
    /// Re-imposes a wall that an optimiser step could breach (the VGG's masked dense weights);
    /// nothing for a wall in the structure (the ViT's attention masks).
    fn enforce_wall(&self) {}
    /// Writes every parameter and buffer (safetensors).
    fn save_to(&self, path: &Path) -> Result<()>;
    /// Reads them back.
    fn load_from(&mut self, path: &Path) -> Result<()>;
    /// The largest |weight| that reads behind a wall kept by [`Network::enforce_wall`] (0 for an
    /// intact wall), or None where the wall is in the structure or there is none.
    #[cfg(feature = "internals")]
    fn wall_weight_max(&self) -> Option<f64> {
        None
    }
}

/// A built-in architecture's configuration. Untagged: a VGG's configuration serialises as it
/// always has (the committed models' records and the cache keys stay those), and each variant
/// refuses the other's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Architecture {
    Vgg(VggConfig),
    Vit(VitConfig),
}

impl Architecture {
    /// A randomly initialised network (model seed `seed`).
    pub fn build(&self, label: &str, seed: u64, device: Device) -> Box<dyn Network> {
        match self {
            Architecture::Vgg(c) => Box::new(Vgg::new(c.clone(), label, seed, device)),
            Architecture::Vit(c) => Box::new(Vit::new(c.clone(), label, seed, device)),
        }
    }

    /// A network whose weights are about to be loaded.
    pub fn for_loading(&self, label: &str, device: Device) -> Box<dyn Network> {
        match self {
            Architecture::Vgg(c) => Box::new(Vgg::for_loading(c.clone(), label, device)),
            Architecture::Vit(c) => Box::new(Vit::for_loading(c.clone(), label, device)),
        }
    }
}

impl Network for Vgg {
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn logits_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.head_t(&self.features_t(x, train), train)
    }
    fn enforce_wall(&self) {
        Vgg::enforce_wall(self)
    }
    #[cfg(feature = "internals")]
    fn wall_weight_max(&self) -> Option<f64> {
        Vgg::wall_weight_max(self)
    }
    fn save_to(&self, path: &Path) -> Result<()> {
        self.save(path)
    }
    fn load_from(&mut self, path: &Path) -> Result<()> {
        self.load(path)
    }
}

impl Network for Vit {
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    /// The ViT has no dropout or BatchNorm: training and eval compute the same.
    fn logits_t(&self, x: &Tensor, _train: bool) -> Tensor {
        self.head_t(&self.features_t(x))
    }
    fn save_to(&self, path: &Path) -> Result<()> {
        self.save(path)
    }
    fn load_from(&mut self, path: &Path) -> Result<()> {
        self.load(path)
    }
}
