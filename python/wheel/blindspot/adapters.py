"""Methods of other libraries as blindspot methods, in-process: each returns a callable
`method(model, inputs, targets) -> maps` for `blindspot.check` and `blindspot.run`.

The split model is wrapped so that the libraries' hooks see the explained layer:
forward(x) = head(cam_layer(features(x))) with cam_layer an identity module given as the target
layer. Pinned versions: grad-cam 1.5.7, captum 0.9.0 (`pip install blindspot-saliency[adapters]`).

This file is the one source of the adapters: the file-protocol adapters (`adapters/*.py` in the
repository) load it by path and call `pgc_maps` and `captum_maps`, so the in-process and the
external methods compute the same maps with the same code. It imports nothing but torch (and
the library it adapts, when called).
"""
import torch


class Wrapped(torch.nn.Module):
    """A split model (`features`, `head`) with an identity `cam_layer` between the two, for the
    libraries' hooks."""

    def __init__(self, split):
        super().__init__()
        self.split = split
        self.cam_layer = torch.nn.Identity()

    def forward(self, x):
        return self.split.head(self.cam_layer(self.split.features(x)))


_SIGNED = ("EigenCAM", "EigenGradCAM")


def pytorch_grad_cam(name, batch_size=None):
    """pytorch-grad-cam's method `name` (`GradCAM`, `HiResCAM`, `ScoreCAM`, …), named
    `pgc-NAME` in reports. EigenCAM and EigenGradCAM are defined up to the sign of a singular
    vector: they return pytorch-grad-cam's signed projection (`get_cam_image`, before its ReLU
    and scaling, bilinearly resized to the input) and are judged on both signs, as the built-in
    methods are (their final maps, after the ReLU, would have no other sign)."""
    cls = pgc_class(name)

    def method(model, inputs, targets):
        return pgc_maps(cls, model, inputs, targets, batch_size, signed=name in _SIGNED)

    method.blindspot_name = f"pgc-{name.lower()}"
    method.blindspot_title = f"pytorch-grad-cam {name}"
    method.sign_ambiguous = name in _SIGNED
    return method


def pgc_class(name):
    """pytorch-grad-cam's method class `name`; a ValueError for a name it does not have."""
    import pytorch_grad_cam as pgc

    cls = getattr(pgc, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"pytorch-grad-cam has no method `{name}`")
    return cls


def pgc_maps(cls, model, inputs, targets, batch_size=None, signed=False):
    """pytorch-grad-cam's maps [N, H, W] of method class `cls` for `inputs` on the split
    `model`, one target class per image: its final maps, or with `signed` its map before the ReLU
    and scaling ([`_signed`]), the one a sign-ambiguous method returns."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    wrapped = Wrapped(model).eval()
    classes = [ClassifierOutputTarget(int(t)) for t in targets]
    with cls(model=wrapped, target_layers=[wrapped.cam_layer]) as cam:
        if batch_size:
            cam.batch_size = batch_size
        if signed:
            return _signed(cam, inputs, classes)
        return torch.as_tensor(cam(input_tensor=inputs, targets=classes))


def _signed(cam, inputs, targets):
    """The map pytorch-grad-cam computes before its ReLU and scaling (`get_cam_image`, as its
    `compute_cam_per_layer` calls it), bilinearly resized to the input."""
    outputs = cam.activations_and_grads(inputs)
    if cam.uses_gradients:
        cam.model.zero_grad()
        sum(target(output) for target, output in zip(targets, outputs)).backward(retain_graph=True)
    activations = cam.activations_and_grads.activations[0].cpu().data.numpy()
    grads = (cam.activations_and_grads.gradients[0].cpu().data.numpy()
             if cam.uses_gradients else None)
    raw = cam.get_cam_image(inputs, cam.target_layers[0], targets, activations, grads, False)
    raw = torch.as_tensor(raw, dtype=torch.float32).unsqueeze(1)
    return torch.nn.functional.interpolate(raw, size=tuple(inputs.shape[-2:]), mode="bilinear",
                                           align_corners=False)[:, 0]


# The captum layer methods that make CAM-style maps (one map at the explained layer's resolution):
#   LayerGradCam               captum's GradCAM: ReLU-free sum_c mean(dy/dA_c) A_c
#   LayerGradientXActivation   sum_c (dy/dA_c * A_c), the channels summed: HiResCAM's map
#   LayerActivation            sum_c A_c, the class-independent activation map
CAPTUM = ("LayerGradCam", "LayerGradientXActivation", "LayerActivation")


# captum's attribution classes that need only the model, attributing to the input pixels: their
# attribution [N, C, H, W] summed over the channels, read by its magnitude (as blindspot's own
# input-level methods). NoiseTunnel wraps Saliency (SmoothGrad). GuidedBackprop and DeepLift hook
# the model's nn.ReLU modules: they need a Python module, and fail on a TorchScript one.
CAPTUM_INPUT = ("Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel", "Occlusion",
                "GuidedBackprop", "DeepLift")


def captum(name, relu_attributions=False, **kwargs):
    """captum's method `name`.

    A layer method (`LayerGradCam`, `LayerGradientXActivation`, `LayerActivation`): its map
    summed over channels and upsampled with captum's `LayerAttribution.interpolate` (bilinear).
    `relu_attributions=True` applies the ReLU at the layer's resolution, before the upsampling,
    as GradCAM's paper and blindspot do; captum's default applies it after
    (docs/external-methods.md shows what the order changes).

    An input-level class (`CAPTUM_INPUT`): its attribution summed over the input channels, read
    by its magnitude (`blindspot_reading = "magnitude"`); `kwargs` go to `attribute` (e.g.
    `n_steps=50`, `sliding_window_shapes=(3, 8, 8)`, `strides=(1, 4, 4)`, `nt_samples=10`,
    `stdevs=0.15`)."""
    if name in CAPTUM_INPUT:
        def method(model, inputs, targets):
            return captum_attribution_maps(name, model, inputs, targets, **kwargs)

        method.blindspot_name = f"captum-{name.lower()}"
        method.blindspot_title = f"captum {name}"
        method.blindspot_reading = "magnitude"
        return method
    if kwargs:
        raise ValueError(f"captum adapter: `{name}` takes no attribute() arguments "
                         f"({', '.join(kwargs)})")
    if name not in CAPTUM:
        raise ValueError(f"captum adapter: `{name}` is not one of "
                         f"{', '.join(CAPTUM + CAPTUM_INPUT)}")

    def method(model, inputs, targets):
        return captum_maps(name, model, inputs, targets, relu_attributions)

    suffix = "-relu-first" if relu_attributions else ""
    method.blindspot_name = f"captum-{name.lower()}{suffix}"
    method.blindspot_title = f"captum {name}"
    return method


def captum_maps(name, model, inputs, targets, relu_attributions=False):
    """captum's layer method `name`'s maps [N, H, W] for `inputs` on the split `model`: summed
    over channels and upsampled with captum's `LayerAttribution.interpolate` (bilinear, half-pixel
    centres); `relu_attributions` applies the ReLU at the layer's resolution, before the
    upsampling."""
    from captum import attr

    wrapped = Wrapped(model).eval()
    explainer = getattr(attr, name)(wrapped, wrapped.cam_layer)
    targets = torch.as_tensor(targets).long()
    if name == "LayerGradCam":
        maps = explainer.attribute(inputs, target=targets, relu_attributions=relu_attributions)
    else:
        maps = explainer.attribute(inputs) if name == "LayerActivation" else \
            explainer.attribute(inputs, target=targets)
        # [N, C, h, w] -> [N, 1, h, w]: LayerGradCam sums the channels itself, the others do not.
        maps = maps.sum(dim=1, keepdim=True)
        maps = torch.relu(maps) if relu_attributions else maps
    maps = attr.LayerAttribution.interpolate(maps.detach(), tuple(inputs.shape[-2:]),
                                             interpolate_mode="bilinear")
    return maps[:, 0]


def captum_attribution_maps(name, model, inputs, targets, **kwargs):
    """captum's input-level class `name`'s attributions for `inputs` on the split `model`, summed
    over the channels: [N, H, W], signed."""
    from captum import attr

    wrapped = Wrapped(model).eval()
    if name == "NoiseTunnel":
        explainer = attr.NoiseTunnel(attr.Saliency(wrapped))
        kwargs.setdefault("nt_type", "smoothgrad")
    else:
        explainer = getattr(attr, name)(wrapped)
    if name == "Occlusion" and "sliding_window_shapes" not in kwargs:
        kwargs["sliding_window_shapes"] = (inputs.shape[1], 8, 8)
        kwargs.setdefault("strides", (1, 4, 4))
    targets = torch.as_tensor(targets).long()
    with torch.enable_grad():
        attributions = explainer.attribute(inputs, target=targets, **kwargs)
    return attributions.detach().sum(dim=1)
