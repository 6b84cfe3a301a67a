//! pytorch-grad-cam's `eigen_smooth` option as a method: `NAME-eigen-smooth` is method NAME with
//! its channel sum Σ_k M_k replaced by the projection of its channel maps M_k
//! ([`CamMethod::channel_maps`]: w_k A_k for GradCAM, g ⊙ A for HiResCAM, …) on their first
//! principal component, as `cam(..., eigen_smooth=True)` computes it (`get_2d_projection`: the
//! (hw × V) matrix, NaN → 0, columns centred, its first right singular vector).
//!
//! The projection's sign is the SVD's (pytorch-grad-cam keeps LAPACK's), so the method is
//! sign-ambiguous, as EigenCAM is, and blindspot fixes the same convention as EigenCAM's
//! (docs/methods.md). Methods whose map is not a sum of channel maps (EigenCAM, the input-level
//! methods, Opti-CAM, the controls but RandomCAM) and FEM (whose pytorch-grad-cam class sums
//! without looking at the option) have no `-eigen-smooth` form: pytorch-grad-cam ignores the
//! option there, blindspot refuses the name.
use super::eigencam::{ensure_projectable, first_component_projection};
use super::{CamContext, CamMethod, Family, Origin};
use crate::error::{Error, Result};
use tch::Tensor;

/// The suffix that asks for a method's `eigen_smooth` form.
pub const SUFFIX: &str = "-eigen-smooth";

/// Method `inner` with pytorch-grad-cam's `eigen_smooth`.
pub struct EigenSmooth {
    inner: Box<dyn CamMethod>,
    name: String,
    title: String,
    summary: String,
}

impl EigenSmooth {
    /// `inner`'s `eigen_smooth` form; refuses a method without channel maps.
    pub fn new(inner: Box<dyn CamMethod>) -> Result<Self> {
        if !inner.has_channel_maps() {
            return Err(Error::input(
                format!(
                    "`{}{SUFFIX}`: {} has no eigen_smooth form (pytorch-grad-cam projects the \
                     channel maps of the methods below and ignores the option elsewhere)",
                    inner.name(),
                    inner.title()
                ),
                "methods",
                "use eigen_smooth with a channel-weighted or element-wise CAM (gradcam, \
                 hirescam, gradcam-elementwise, gradcam++, xgradcam, layercam, scorecam, \
                 ablationcam, shapleycam, finercam, randomcam)",
            ));
        }
        Ok(EigenSmooth {
            name: format!("{}{SUFFIX}", inner.name()),
            title: format!("{} eigen-smooth", inner.title()),
            summary: format!(
                "{}'s channel maps projected on their first principal component \
                 (pytorch-grad-cam's eigen_smooth)",
                inner.title()
            ),
            inner,
        })
    }
}

impl CamMethod for EigenSmooth {
    fn origin(&self) -> Origin {
        self.inner.origin()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn summary(&self) -> &str {
        &self.summary
    }
    fn uses_gradients(&self) -> bool {
        self.inner.uses_gradients()
    }
    fn reference(&self) -> Option<&str> {
        self.inner.reference()
    }
    fn family(&self) -> Family {
        self.inner.family()
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let maps = self.inner.channel_maps(ctx)?.ok_or_else(|| {
            Error::input(
                format!("{} gave no channel maps", self.inner.title()),
                "methods",
                "implement CamMethod::channel_maps with has_channel_maps",
            )
        })?;
        ensure_projectable(&maps, &format!("{}: the channel maps", self.title))?;
        Ok(first_component_projection(&maps))
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}
