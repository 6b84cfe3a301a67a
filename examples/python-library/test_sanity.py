"""SharpCAM's CI gate: blindspot's sanity checks as pytest tests, run in this process on the
method itself (`pip install blindspot-saliency pytest`; no adapter script, no suite file).

    python -m pytest test_sanity.py --junitxml=sanity/junit.xml --blindspot-out=sanity

Each check also runs blindspot's GradCAM beside SharpCAM, as a reference the reader knows.
"""
import blindspot

from sharpcam import sharpcam


def sharpcam_method(model, inputs, targets):
    """blindspot's method protocol: the split model (`features`, `head`), the batch and its
    target classes in, one map per image out."""
    return sharpcam(model.features, model.head, inputs, targets)


sharpcam_method.blindspot_name = "sharpcam"
sharpcam_method.blindspot_title = "SharpCAM"


def test_wall_sharpcam_sees_through_walls_like_gradcam():
    """Does SharpCAM put saliency behind a wall the model provably cannot see through? Like
    GradCAM it weighs whole channels: the gate expects the failure, and turns red if it ever
    passes unnoticed (a change of the method the maintainers should look at)."""
    report = blindspot.check("wall", methods=[sharpcam_method, "gradcam"],
                             model="builtin:stack-masked", synthetic=32)
    for method in ("sharpcam", "gradcam"):
        result = report.result(method)
        assert result.verdict == "fail", result


def test_randomization_sharpcam_ignores_the_output_layer():
    """Randomizing the output layer, the one that names the class, must change a map that explains
    the class. SharpCAM's channel weights, ReLU(dy/dA)^2, are never negative: a random output layer
    only reweighs the same activation maps, which rank the pixels nearly alike, so model
    randomization fails it, as it fails LayerCAM; GradCAM's signed weights change the map and
    pass. (With every layer randomized, RandomCAM passes too and the check could not separate.)"""
    report = blindspot.check("randomization", methods=[sharpcam_method, "gradcam"],
                             model="builtin:stack-masked", synthetic=16, layers=1)
    assert report.result("sharpcam").verdict == "fail", report.result("sharpcam")
    assert report.result("gradcam").verdict == "pass", report.result("gradcam")
