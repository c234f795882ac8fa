"""The map kinds of stage 2 and the API, against their definitions computed independently: the
dense Jacobian, scipy's Gaussian and PyWavelets' transform."""

import json

import numpy as np
import pytest
import pywt
import scipy.ndimage
from PIL import Image

import complexstep
import models
import scripts
from complexstep import api
from complexstep.errors import SettingError

run_stage_2 = scripts.runner("obtain_attribution_contours.py")
LAYER = "pool2"


@pytest.fixture(scope="module")
def small_model():
    return models.small_autoencoder(seed=8)


@pytest.fixture(scope="module")
def image():
    return models.grains(np.random.default_rng(30), 32, 32, block=4)


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """The blur baseline, from scipy's Gaussian filter with edges reflected."""
    return scipy.ndimage.gaussian_filter(image.astype(np.float64), sigma, mode="reflect")


def column_norms(dense: np.ndarray) -> np.ndarray:
    """The norm of every pixel's column of a dense Jacobian ``output_shape + image_shape``."""
    return np.sqrt(np.sum(np.square(dense.reshape(-1, *dense.shape[-2:])), axis=0))


def test_gradient_input_is_the_papers_map_times_the_distance_from_the_baseline(small_model, image):
    plain = complexstep.attribute(small_model, image, layer=LAYER)
    weighted = complexstep.attribute(small_model, image, layer=LAYER, kind="gradient-input")
    expected = plain * np.abs(image - blurred(image, 8.0))
    np.testing.assert_allclose(weighted, expected, rtol=1e-4, atol=1e-7)
    mean = complexstep.attribute(
        small_model, image, layer=LAYER, kind="gradient-input", baseline="mean"
    )
    np.testing.assert_allclose(mean, plain * np.abs(image - image.mean()), rtol=1e-4, atol=1e-7)


def test_integrated_complex_step_is_the_mean_dense_jacobian_along_the_path(small_model, image):
    """``|x - b| * ||(1/T) sum_t J(z_t) e_k||`` from the dense Jacobians at the midpoints."""
    steps = 4
    explainer = api.Explainer(
        small_model, layer=LAYER, kind="integrated-complex-step", integration_steps=steps
    )
    baseline = blurred(image, 8.0).astype(np.float32)
    dense = 0.0
    for t in range(steps):
        point = baseline + (t + 0.5) / steps * (image - baseline)
        dense = dense + complexstep.jacobian(small_model, point, layer=LAYER).to_dense()
    expected = np.abs(image - baseline) * column_norms(dense / steps)
    np.testing.assert_allclose(explainer.attribute(image), expected, rtol=1e-4, atol=1e-7)


def test_the_passes_reported_are_the_passes_counted(small_model, image):
    """The progress of every kind ends at the total it announced."""
    for kind in ("complex-step", "gradient-input", "integrated-complex-step"):
        seen = []
        complexstep.attribute(
            small_model, image, layer=LAYER, kind=kind, on_progress=lambda *call: seen.append(call)
        )
        assert seen and seen[-1][0] == seen[-1][1], kind


def test_gradient_input_in_the_wavelet_domain_weighs_each_coefficient(small_model, image):
    """``||J w_k|| * |c_k(x - b)|``, with PyWavelets' coefficients of ``x - b``."""
    settings = dict(layer=LAYER, domain="wavelet", wavelet="haar", levels=2)
    plain = complexstep.attribute(small_model, image, **settings)
    weighted = complexstep.attribute(small_model, image, kind="gradient-input", **settings)
    difference = image - blurred(image, 8.0)
    coefficients = pywt.coeffs_to_array(
        pywt.wavedec2(difference, "haar", mode="periodization", level=2)
    )[0]
    np.testing.assert_allclose(weighted, plain * np.abs(coefficients), rtol=1e-4, atol=1e-7)


def test_unknown_kinds_and_kinds_a_domain_cannot_make_are_refused(small_model):
    with pytest.raises(SettingError, match="unknown map kind 'saliency'; choose one of"):
        api.Explainer(small_model, layer=LAYER, kind="saliency")
    with pytest.raises(SettingError, match="made in the pixel domain only"):
        api.Explainer(small_model, layer=LAYER, kind="integrated-complex-step", domain="wavelet")
    with pytest.raises(SettingError, match="unknown baseline 'zero'"):
        api.Explainer(small_model, layer=LAYER, kind="gradient-input", baseline="zero")


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kind_inputs")
    rng = np.random.default_rng(5)
    Image.fromarray((models.grains(rng, 64, 64) * 255).astype(np.uint8)).save(folder / "a.png")
    return folder


def test_stage_2_writes_the_kind_asked_for_and_says_so(saved_model, micrographs, tmp_path):
    """The map is the API's map of that kind, and the sidecar names the kind and its baseline."""
    result = run_stage_2(
        *("--inputs", str(micrographs), "--outputs", str(tmp_path), "--model", str(saved_model)),
        *("--resize", "none", "--kind", "gradient-input", "--baseline", "mean"),
    )
    assert result.returncode == 0, result.stderr
    assert "(jacobian, layer 'code', gradient-input, mean baseline)" in result.stdout
    sidecar = json.loads((tmp_path / "a.json").read_text())
    assert (sidecar["kind"], sidecar["baseline"]) == ("gradient-input", "mean")
    image = np.asarray(Image.open(micrographs / "a.png"), np.float32) / 255
    expected = complexstep.attribute(saved_model, image, kind="gradient-input", baseline="mean")
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), expected, rtol=1e-5, atol=1e-8)


def test_stage_2_refuses_a_kind_its_domain_cannot_make_before_any_work(
    saved_model, micrographs, tmp_path
):
    valid = ["--inputs", str(micrographs), "--model", str(saved_model)]
    mistake = ["--kind", "integrated-complex-step", "--domain", "wavelet"]
    scripts.assert_mistake_is_one_line(
        run_stage_2, valid, mistake, "made in the pixel domain only", tmp_path
    )


def test_maps_of_another_kind_are_never_left_alone_as_if_done(saved_model, micrographs, tmp_path):
    """--skip-existing over the paper's maps with --kind gradient-input would leave a folder of
    two kinds under one run: it is refused on one line, before any work, and nothing changes."""
    arguments = ["--inputs", str(micrographs), "--outputs", str(tmp_path), "--resize", "none"]
    arguments += ["--model", str(saved_model), "--skip-existing"]
    assert run_stage_2(*arguments).returncode == 0
    before = (tmp_path / "a.npy").read_bytes()
    result = run_stage_2(*arguments, "--kind", "gradient-input")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'a.json'} says its map is kind complex-step, not kind "
        "gradient-input, baseline blur, blur_sigma 8.0 as asked; leaving it alone would mix two "
        "kinds of map in one folder: choose another outputs folder, or explain without skipping "
        "existing maps"
    ]
    assert (tmp_path / "a.npy").read_bytes() == before
    again = run_stage_2(*arguments)
    assert again.returncode == 0 and "1 already there" in again.stdout
