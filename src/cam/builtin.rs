//! The built-in methods by name, and the rules every method's name and title obey.
use super::attribution::{
    guided, integrated_gradients, occlusion, saliency, smoothgrad, InputLevel,
};
use super::method::{CamMethod, Origin};
use super::{
    ablationcam, eigencam, fem, finercam, fullgrad, gradcam, gradcam_elementwise, gradcam_plusplus,
    hirescam, kpcacam, layercam, opticam, randomcam, scorecam, shapleycam, sobel, xgradcam,
};
use crate::error::{Error, Result};
use crate::seed::{streams, Seeds};
/// The built-in methods with their default parameters, in the order reports list them; the
/// random ones (RandomCAM) draw from their named stream of `seeds`.
pub fn builtin_methods(seeds: &Seeds) -> Vec<Box<dyn CamMethod>> {
    vec![
        Box::new(gradcam::GradCam),
        Box::new(hirescam::HiResCam),
        Box::new(gradcam_elementwise::GradCamElementWise),
        Box::new(gradcam_plusplus::GradCamPlusPlus),
        Box::new(xgradcam::XGradCam),
        Box::new(layercam::LayerCam),
        Box::new(scorecam::ScoreCam::default()),
        Box::new(ablationcam::AblationCam::default()),
        Box::new(eigencam::EigenCam),
        Box::new(eigencam::EigenGradCam),
        Box::new(eigencam::SegEigenCam),
        Box::new(kpcacam::KpcaCam),
        Box::new(fem::Fem::default()),
        Box::new(shapleycam::ShapleyCam),
        Box::new(finercam::FinerCam::default()),
        Box::new(opticam::OptiCam::default()),
        Box::new(InputLevel(saliency::Saliency)),
        Box::new(InputLevel(saliency::InputXGradient)),
        Box::new(InputLevel(integrated_gradients::IntegratedGradients::default())),
        Box::new(InputLevel(smoothgrad::SmoothGrad::new(
            seeds.stream(streams::SMOOTHGRAD).seed(),
        ))),
        Box::new(InputLevel(occlusion::Occlusion::default())),
        Box::new(InputLevel(guided::GuidedBackprop)),
        Box::new(InputLevel(guided::GuidedGradCam)),
        Box::new(fullgrad::FullGrad),
        Box::new(randomcam::RandomCam {
            seed: seeds.stream(streams::RANDOMCAM).seed(),
        }),
        Box::new(sobel::Sobel),
    ]
}

/// Looks a built-in method up by its command-line name (case-insensitive; `gradcampp` and
/// `gradcamplusplus` are accepted for `gradcam++`); `NAME-eigen-smooth` is NAME with
/// pytorch-grad-cam's `eigen_smooth` (docs/methods.md); a random method (RandomCAM) draws
/// from its named stream of `seeds`.
pub fn method_named(name: &str, seeds: &Seeds) -> Result<Box<dyn CamMethod>> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    if let Some(base) = wanted.strip_suffix(super::eigen_smooth::SUFFIX) {
        let inner = method_named(base, seeds)?;
        return Ok(Box::new(super::eigen_smooth::EigenSmooth::new(inner)?));
    }
    let wanted = match wanted.as_str() {
        "gradcampp" | "gradcamplusplus" | "gradcam-plusplus" => "gradcam++".to_string(),
        "gradcamelementwise" => "gradcam-elementwise".to_string(),
        other => other.to_string(),
    };
    let methods = builtin_methods(seeds);
    let known = methods
        .iter()
        .map(|m| m.name().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    methods
        .into_iter()
        .find(|m| m.name() == wanted)
        .ok_or(Error::Unknown {
            kind: "method",
            name: name.to_string(),
            known,
        })
}

/// Parses `all`, `none` or a comma-separated list of method names.
pub fn methods_from_list(list: &str, seeds: &Seeds) -> Result<Vec<Box<dyn CamMethod>>> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(builtin_methods(seeds));
    }
    if list.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|n| method_named(n, seeds))
        .collect()
}

/// The most characters of a method's name or title: it becomes part of file names (badges) and
/// of every table line.
pub const NAME_LIMIT: usize = 64;

/// Refuses a method name or title (`what` says which) that could not be printed as one word of
/// one line or written into a file name: empty, longer than [`NAME_LIMIT`] characters, with a
/// control character (a line break would forge a table row; an escape sequence would drive the
/// terminal), a bidirectional override, or space at either end. Checked where a method enters a
/// run, before any work.
pub fn ensure_printable_name(name: &str, what: &str) -> Result<()> {
    let shown = crate::io::escape::one_line(&crate::error::shorten(name));
    let why = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.chars().count() > NAME_LIMIT {
        Some(format!("has {} characters", name.chars().count()))
    } else if name.chars().any(crate::io::escape::forbidden) || name.contains(['\n', '\r', '\t'])
    {
        Some("holds a control character or a bidirectional override".into())
    } else if name.trim() != name {
        Some("begins or ends with a space".into())
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::input(
            format!("the {what} `{shown}` {why}"),
            "methods",
            format!(
                "give every method a name and title of 1 to {NAME_LIMIT} printable characters"
            ),
        )),
    }
}

/// Every method's name and title printable ([`ensure_printable_name`]), no two names alike, and
/// no method but a built-in showing a built-in's title (a Python method's `blindspot_title` of
/// `GradCAM` would pass for GradCAM's row).
pub fn ensure_usable_methods(methods: &[Box<dyn CamMethod>]) -> Result<()> {
    let builtin: Vec<String> = builtin_methods(&Seeds::new(0))
        .iter()
        .map(|m| m.title().to_lowercase())
        .collect();
    for m in methods {
        ensure_printable_name(m.name(), "method name")?;
        ensure_printable_name(m.title(), "method title")?;
        if m.origin() != Origin::BuiltIn && builtin.contains(&m.title().to_lowercase()) {
            return Err(Error::input(
                format!(
                    "the method `{}` shows the title `{}` of a built-in method",
                    m.name(),
                    m.title()
                ),
                "methods",
                "give your method a title of its own (reports would show it as the built-in)",
            ));
        }
    }
    ensure_unique_names(methods.iter().map(|m| m.name()))
}

/// Refuses an empty method name or two methods of one name (their results and badges would be
/// confused): names are compared case-insensitively.
pub fn ensure_unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen: Vec<String> = Vec::new();
    for name in names {
        let key = name.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(Error::input(
                "a method has an empty name",
                "methods",
                "give every external method a name",
            ));
        }
        if seen.contains(&key) {
            return Err(Error::input(
                format!("two methods are named `{name}`"),
                "methods",
                "give every method a distinct name (an external method may not reuse a built-in \
                 method's name)",
            ));
        }
        seen.push(key);
    }
    Ok(())
}
