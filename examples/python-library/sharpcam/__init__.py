"""SharpCAM: a small saliency method of a Python library, gated by blindspot in CI.

    maps = sharpcam(features, head, x, targets)

For activations A = features(x) and the target logit y = head(A)[target], the channel weights are
the mean of the positive gradients squared,

    w_c = mean_ij ReLU(dy/dA_cij)^2,

and the map is ReLU(sum_c w_c A_c), bilinearly upsampled to the input and min-max normalised per
image. (A GradCAM variant that lets only evidence for the class vote; like GradCAM it weighs whole
channels, so blindspot's wall check should find that it sees through walls.)
"""
import torch
import torch.nn.functional as F

__all__ = ["sharpcam"]


def sharpcam(features, head, x, targets):
    """Maps [N, H, W] in [0, 1] for inputs x [N, C, H, W] and int64 targets [N]."""
    activations = features(x).detach().requires_grad_(True)
    logits = head(activations)
    chosen = logits.gather(1, targets.view(-1, 1)).sum()
    (gradients,) = torch.autograd.grad(chosen, activations)
    weights = F.relu(gradients).pow(2).mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activations).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    low = cam.amin(dim=(1, 2), keepdim=True)
    high = cam.amax(dim=(1, 2), keepdim=True)
    return (cam - low) / (high - low).clamp_min(1e-12)
