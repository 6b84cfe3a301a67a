//! blindspot: a sanity-check testing framework for saliency maps.
//!
//! * [`model`]: split models (`features` / `head`), the built-in zoo, TorchScript models.
//! * [`cam`]: CAM methods, one file each, and the shared pytorch-grad-cam-exact pipeline.
//! * [`io`]: `.npy` arrays and atomic writes.
//! * [`cli`]: the `blindspot` command line.
pub mod cam;
pub mod cli;
pub mod device;
pub mod error;
pub mod io;
pub mod model;

pub use cam::{CamContext, CamMethod, Explanation};
pub use error::{Error, Result};
pub use model::SplitModel;
