"""SharpCAM's CI gate: blindspot's sanity checks as pytest tests, run in this process on the
method itself (`pip install blindspot`; no adapter script, no suite file).

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


def test_randomization_sharpcam_depends_on_the_weights():
    """Randomizing every layer of the model must change SharpCAM's maps."""
    blindspot.check("randomization", methods=[sharpcam_method, "gradcam"],
                    model="builtin:stack-masked", synthetic=16, expect_pass=True).require()
