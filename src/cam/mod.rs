//! CAM methods: one file per method behind [`CamMethod`], one shared pipeline ([`pipeline`]).
//!
//! A method turns the explained layer's activations `A` ([N, V, h, w]), the gradients
//! `g = ∂y_c/∂A` and, for perturbation methods, the model itself into a raw map [N, h, w]
//! (before any ReLU). The pipeline then applies pytorch-grad-cam's exact post-processing.
pub mod ablationcam;
pub mod attribution;
pub mod builtin;
pub mod constant;
pub mod eigen_smooth;
pub mod eigencam;
pub mod external;
pub mod fem;
pub mod finercam;
pub mod fullgrad;
pub mod gradcam;
pub mod gradcam_elementwise;
pub mod gradcam_plusplus;
pub mod hirescam;
pub mod kpcacam;
pub mod layercam;
pub mod method;
pub mod opticam;
pub mod pipeline;
pub mod random_map;
pub mod randomcam;
pub mod recorded;
pub mod scorecam;
pub mod shapleycam;
pub mod sobel;
pub mod xgradcam;

pub use builtin::{
    builtin_methods, ensure_printable_name, ensure_unique_names, ensure_usable_methods,
    method_named, methods_from_list,
};
pub use method::{
    target_scores, weighted_channels, weighted_sum, CamContext, CamMethod, Family, Negated, Origin,
    Reading,
};
pub use pipeline::{explain, explain_all, explain_batched, Explanation};
