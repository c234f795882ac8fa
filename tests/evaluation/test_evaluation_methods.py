"""Every evaluated method against a separate computation on a small network.

The reference Jacobians come from ``tests/reference.py``: one float64 complex pass per pixel,
sharing nothing with the package's engines.
"""

import numpy as np
import pytest
from scipy import ndimage

from complexstep.errors import SettingError
from complexstep.evaluation import methods as evaluation_methods
from complexstep.evaluation.methods import AttributionMethods, MethodSettings
from complexstep.explain.kinds import baseline_of
from complexstep.twin.geometry import changed_windows
from models import grains, random_autoencoder, small_autoencoder, smooth_images
from reference import complex_forward

LAYER = "pool2"
H = 0.1
SETTINGS = MethodSettings(integration_steps=3, smoothgrad_samples=3)


@pytest.fixture(scope="module")
def model():
    return small_autoencoder(3)


@pytest.fixture(scope="module")
def methods(model):
    return AttributionMethods(model, layer=LAYER, settings=SETTINGS)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(5)
    return grains(rng, 32, 32, block=4)


@pytest.fixture(scope="module")
def baseline(image):
    return baseline_of(image, "blur", sigma=2.0)


def literal_jacobian(model, image) -> np.ndarray:
    """The layer's Jacobian, ``(outputs, height, width)``, one complex pass per pixel."""
    height, width = image.shape
    columns = []
    for index in range(image.size):
        z = np.asarray(image, np.complex128)
        z.flat[index] += 1j * H
        columns.append(complex_forward(model, LAYER, z).imag.ravel() / H)
    return np.stack(columns, axis=1).reshape(-1, height, width)


def output(model, image) -> np.ndarray:
    return complex_forward(model, LAYER, image).real.ravel()


def path(image, baseline, steps):
    return [baseline + (t + 0.5) / steps * (image - baseline) for t in range(steps)]


def test_complex_step_and_gradient_input_are_the_literal_map_and_its_product(
    model, methods, image, baseline
):
    """The complex-step map is ||J e_k|| from one pass per pixel; gradient-input multiplies it by
    |x - b|."""
    literal = np.linalg.norm(literal_jacobian(model, image), axis=0)
    rng = np.random.default_rng(0)
    found = methods.attribute("complex-step", image, baseline, rng)
    assert found.dtype == np.float32 and found.shape == image.shape
    np.testing.assert_allclose(found, literal, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        methods.attribute("gradient-input", image, baseline, rng),
        literal * np.abs(image - baseline),
        rtol=1e-5,
        atol=1e-7,
    )


def test_integrated_methods_follow_the_midpoint_rule_over_literal_jacobians(
    model, methods, image, baseline
):
    """Integrated gradients of <f(x'), f(x)> and the integrated complex step average the
    Jacobians at the path's midpoints."""
    jacobians = [literal_jacobian(model, point) for point in path(image, baseline, 3)]
    mean = np.mean(jacobians, axis=0)
    target = output(model, image)
    expected_gradients = np.abs((image - baseline) * np.tensordot(target, mean, axes=1))
    expected_vectors = np.linalg.norm(mean, axis=0) * np.abs(image - baseline)
    rng = np.random.default_rng(0)
    gradients = methods.attribute("integrated-gradients", image, baseline, rng)
    vectors = methods.attribute("integrated-complex-step", image, baseline, rng)
    scale = expected_gradients.max()
    np.testing.assert_allclose(gradients, expected_gradients, rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(vectors, expected_vectors, rtol=1e-5, atol=1e-7)


def test_the_integrated_complex_step_is_complete_to_the_quadrature_error(model, image, baseline):
    """sum_k c_k approaches f(x) - f(b) as the path is sampled more finely: within 1 % at 32
    midpoints, and closer than at 2."""
    change = output(model, image) - output(model, baseline)

    def error(steps: int) -> float:
        methods = AttributionMethods(
            model, layer=LAYER, settings=MethodSettings(integration_steps=steps)
        )
        total = methods.path_jacobian(image, baseline).jvp(image - baseline).ravel()
        return np.linalg.norm(total - change) / np.linalg.norm(change)

    fine, coarse = error(32), error(2)
    assert fine < 0.01
    assert fine < coarse / 4


def test_smoothgrad_averages_literal_maps_of_the_same_noisy_copies(model, methods, image, baseline):
    """SmoothGrad draws its noise as one (samples, height, width) array and clips the copies."""
    noise = np.random.default_rng(4).normal(0.0, SETTINGS.smoothgrad_noise, (3, *image.shape))
    copies = np.clip(image + noise, 0, 1).astype(np.float32)
    expected = np.mean(
        [np.linalg.norm(literal_jacobian(model, copy), axis=0) for copy in copies], axis=0
    )
    found = methods.attribute("smoothgrad", image, baseline, np.random.default_rng(4))
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("stride", [8, 5])
def test_occlusion_averages_the_shifts_of_the_patches_covering_each_pixel(
    model, image, baseline, stride
):
    """Each patch's shift ||f(occluded) - f(x)|| is shared by its pixels, averaged where patches
    overlap; with stride 5 the last patches lie against the far edges."""
    methods = AttributionMethods(
        model, layer=LAYER, settings=MethodSettings(occlusion_stride=stride)
    )
    starts = sorted(set(range(0, 32 - 8 + 1, stride)) | {24})
    reference = output(model, image)
    sums, covers = np.zeros(image.shape), np.zeros(image.shape)
    for top in starts:
        for left in starts:
            occluded = image.copy()
            occluded[top : top + 8, left : left + 8] = baseline[top : top + 8, left : left + 8]
            shift = np.linalg.norm(output(model, occluded) - reference)
            sums[top : top + 8, left : left + 8] += shift
            covers[top : top + 8, left : left + 8] += 1
    found = methods.attribute("occlusion", image, baseline, np.random.default_rng(0))
    np.testing.assert_allclose(found, sums / covers, rtol=1e-4, atol=1e-6)


def test_occlusion_of_a_micrograph_encodes_windows_that_give_the_whole_images_shifts():
    """On the paper's network and a 256x256 image, each patch's shift from the window around it
    is the shift of the whole occluded image, at the edges and inside."""
    model = random_autoencoder(2)
    image = smooth_images(np.random.default_rng(8), 1)[0, :, :, 0]
    baseline = baseline_of(image)
    methods = AttributionMethods(model)
    axis = methods.explainer.axis_geometry(256)
    windows = changed_windows(axis, [(0, 7), (120, 127), (248, 255)], methods.explainer.step)
    (length,) = {window.length for window in windows}
    assert length % 16 == 0 and length <= 96
    found = methods.attribute("occlusion", image, baseline, np.random.default_rng(0))
    reference = methods.explainer.encode(image)[0]
    for top, left in [(0, 0), (0, 248), (120, 64), (248, 128), (200, 16)]:
        occluded = image.copy()
        occluded[top : top + 8, left : left + 8] = baseline[top : top + 8, left : left + 8]
        shift = np.linalg.norm(methods.explainer.encode(occluded)[0] - reference)
        np.testing.assert_allclose(found[top : top + 8, left : left + 8], shift, rtol=1e-4)


def test_model_free_controls(methods, image, baseline):
    """Edges are the Sobel magnitude of the image, darkness is 1 - x, the shuffled map holds the
    complex-step map's values elsewhere, and random maps are seeded uniform noise that ignores
    the image."""
    padded = np.pad(image.astype(np.float64), 1, mode="symmetric")
    derivative, smoothing = np.array([1.0, 0.0, -1.0]), np.array([1.0, 2.0, 1.0]) / 4
    along_rows = ndimage.correlate(padded, np.outer(derivative, smoothing))[1:-1, 1:-1]
    along_columns = ndimage.correlate(padded, np.outer(smoothing, derivative))[1:-1, 1:-1]
    sobel = np.sqrt((along_rows**2 + along_columns**2) / 2)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(methods.attribute("edges", image, baseline, rng), sobel, atol=1e-6)
    np.testing.assert_allclose(methods.attribute("darkness", image, baseline, rng), 1 - image)
    shuffled = methods.attribute("shuffled", image, baseline, np.random.default_rng(9))
    exact = methods.attribute("complex-step", image, baseline, rng)
    np.testing.assert_array_equal(np.sort(shuffled.ravel()), np.sort(exact.ravel()))
    assert np.mean(shuffled == exact) < 0.05
    first = methods.attribute("random", image, baseline, np.random.default_rng(9))
    again = methods.attribute("random", 1 - image, baseline, np.random.default_rng(9))
    np.testing.assert_array_equal(first, again)
    assert 0 <= first.min() and first.max() < 1 and first.std() > 0.2


def test_baselines_are_a_reflected_gaussian_blur_or_the_mean():
    """The blur baseline is a Gaussian of the given sigma, truncated at 4 sigma, edges reflected;
    the mean baseline is the image's mean everywhere."""
    image = np.random.default_rng(1).random((96, 80)).astype(np.float32)
    sigma = 3.0
    offsets = np.arange(-12, 13)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(image.astype(np.float64), 12, mode="symmetric")
    rows = np.apply_along_axis(lambda line: np.convolve(line, kernel, "valid"), 0, padded)
    blurred = np.apply_along_axis(lambda line: np.convolve(line, kernel, "valid"), 1, rows)
    np.testing.assert_allclose(baseline_of(image, "blur", sigma), blurred, atol=1e-5)
    np.testing.assert_allclose(baseline_of(image, "mean"), np.full(image.shape, image.mean()))


def test_unknown_methods_and_settings_out_of_range_are_refused(methods, image, baseline):
    """Messages name what was asked for and what there is."""
    with pytest.raises(SettingError, match="unknown method.*gradcam.*choose from complex-step"):
        methods.attribute("gradcam", image, baseline, np.random.default_rng(0))
    with pytest.raises(SettingError, match="unknown baseline 'zero'"):
        baseline_of(image, "zero")
    with pytest.raises(SettingError, match="integration_steps"):
        MethodSettings(integration_steps=0)
    with pytest.raises(SettingError, match="from 1 to the patch's 8, so that every pixel"):
        MethodSettings(occlusion_stride=9)
    with pytest.raises(SettingError, match="smoothgrad_noise"):
        MethodSettings(smoothgrad_noise=0.0)
    with pytest.raises(SettingError, match="does not fit"):
        evaluation_methods.patch_starts(4, 8, 8)
    assert evaluation_methods.check_methods(["edges", "random", "edges"]) == ["edges", "random"]
