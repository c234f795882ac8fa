"""The two attribution engines against the literal per-pixel complex step and each other."""

import numpy as np
import pytest
from PIL import Image

import models
import reference
from complexstep import architecture, attribution
from complexstep.cli import UserError


def sample_pixels(seed: int, count: int) -> list[tuple[int, int]]:
    """Two opposite corners, where padding matters, and random pixels."""
    rng = np.random.default_rng(seed)
    return [(0, 0), (255, 255)] + [tuple(pixel) for pixel in rng.integers(0, 256, (count, 2))]


@pytest.fixture(scope="module")
def image():
    return models.smooth_images(np.random.default_rng(7), 1)[0, :, :, 0]


@pytest.fixture(scope="module", params=["random", "trained"])
def code_maps(request, random_model, trained_model, image):
    """Both engines' maps of the code, and the literal complex step at a few pixels."""
    model = {"random": random_model, "trained": trained_model}[request.param]
    twin = architecture.build_complex_twin(model, "code")
    complex_step = attribution.ComplexStepAttribution(twin, h=0.1)(image)
    jacobian = attribution.JacobianAttribution(twin)(image)
    pixels = sample_pixels(seed=len(request.param), count=4)
    literal = reference.literal_attribution(model, "code", image, pixels, h=0.1)
    return complex_step, jacobian, pixels, literal


def test_complex_step_matches_literal_per_pixel_step(code_maps):
    """The complex-step engine equals one complex pass per pixel, within 1e-5 relative."""
    complex_step, _, pixels, literal = code_maps
    np.testing.assert_allclose([complex_step[pixel] for pixel in pixels], literal, rtol=1e-5)


def test_jacobian_matches_literal_per_pixel_step(code_maps):
    """The jacobian engine equals one complex pass per pixel, within 1e-5 relative."""
    _, jacobian, pixels, literal = code_maps
    np.testing.assert_allclose([jacobian[pixel] for pixel in pixels], literal, rtol=1e-5)


def test_engines_agree_on_every_pixel(code_maps):
    """Both engines give the same map, pixel for pixel, within 1e-5 relative."""
    complex_step, jacobian, _, _ = code_maps
    assert complex_step.shape == jacobian.shape == (256, 256)
    assert complex_step.dtype == np.float32
    assert np.all(complex_step > 0)
    np.testing.assert_allclose(complex_step, jacobian, rtol=1e-5)


@pytest.mark.parametrize("layer", ["encoder_conv2", "decoder_conv1"])
def test_other_layers_match_literal_step(random_model, image, layer):
    """Layers before and after the code are explained as exactly as the code itself."""
    twin = architecture.build_complex_twin(random_model, layer)
    complex_step = attribution.ComplexStepAttribution(twin, batch_size=32)(image)
    jacobian = attribution.JacobianAttribution(twin, batch_size=32)(image)
    np.testing.assert_allclose(complex_step, jacobian, rtol=1e-5, atol=1e-6 * jacobian.max())
    pixels = sample_pixels(seed=2, count=1)
    expected = reference.literal_attribution(random_model, layer, image, pixels)
    np.testing.assert_allclose([complex_step[pixel] for pixel in pixels], expected, rtol=1e-5)


@pytest.fixture(scope="module")
def small_model():
    return models.small_autoencoder(seed=5)


def test_step_size_changes_nothing_beyond_rounding(small_model):
    """The complex step has no truncation error, so h only moves the last digits."""
    twin = architecture.build_complex_twin(small_model, "out")
    image = np.random.default_rng(9).random((32, 32)).astype(np.float32)
    coarse = attribution.ComplexStepAttribution(twin, h=1.0)(image)
    fine = attribution.ComplexStepAttribution(twin, h=1e-4)(image)
    np.testing.assert_allclose(coarse, fine, rtol=1e-5)


def test_every_split_gives_the_literal_step_at_every_pixel(small_model):
    """Patch Jacobians below any split and reverse passes above it give the literal step's map;
    the upsampling layer spaces receptive fields unevenly, so no split goes past it."""
    image = np.random.default_rng(6).random((32, 32)).astype(np.float32)
    pixels = [(row, column) for row in range(32) for column in range(32)]
    literal = reference.literal_attribution(small_model, "out", image, pixels).reshape(32, 32)
    twin = architecture.build_complex_twin(small_model, "out")
    assert attribution.JacobianAttribution(twin).splits == [0, 1, 2, 3, 4]
    for split in range(5):
        engine = attribution.JacobianAttribution(twin, split=split)
        np.testing.assert_allclose(engine(image), literal, rtol=1e-5, err_msg=f"split={split}")


def test_shallow_layers_need_no_reverse_pass(random_model):
    """For the first blocks, patch Jacobians of every layer are the least work: no pass is left."""
    for layer in ("encoder_conv1", "encoder_pool2"):
        engine = attribution.JacobianAttribution(
            architecture.build_complex_twin(random_model, layer)
        )
        assert (engine.split, engine.passes) == (len(engine.layers), 1)


def test_lattice_of_the_code_is_worked_out_from_the_architecture(random_model):
    """Code cells three apart have disjoint 46-pixel receptive fields; two apart do not. Their 72
    passes stop after the second pooling, short of the two full-resolution blocks."""
    twin = architecture.build_complex_twin(random_model, "code")
    engine = attribution.JacobianAttribution(twin)
    assert (engine.period, engine.passes, engine.split) == (3, 72, 4)


def test_engines_refuse_bad_settings(random_model):
    """A non-positive step or batch, a split past the network, or an image of the wrong size, is
    refused by name."""
    twin = architecture.build_complex_twin(random_model, "code")
    with pytest.raises(ValueError, match="h=0"):
        attribution.ComplexStepAttribution(twin, h=0)
    with pytest.raises(ValueError, match="batch_size=0"):
        attribution.JacobianAttribution(twin, batch_size=0)
    with pytest.raises(ValueError, match="one of 0, 1, 2, 3, 4, 5, 6, 7, 8. Received: split=9"):
        attribution.JacobianAttribution(twin, split=9)
    with pytest.raises(ValueError, match="256x256"):
        attribution.JacobianAttribution(twin)(np.zeros((128, 128), np.float32))


@pytest.mark.parametrize("method", ["complex-step", "jacobian"])
def test_every_pass_is_reported_once(small_model, method):
    """The passes an engine reports while it works add up to the passes it announced, and working
    in smaller batches changes nothing."""
    twin = architecture.build_complex_twin(small_model, "out")
    image = np.random.default_rng(8).random((32, 32)).astype(np.float32)
    engine = attribution.METHODS[method](twin, batch_size=1)
    reported = []
    values = engine(image, on_pass=reported.append)
    assert sum(reported) == engine.passes
    assert len(reported) > 1
    whole_batches = attribution.METHODS[method](twin, batch_size=1024)(image)
    np.testing.assert_allclose(values, whole_batches, rtol=1e-6)


def test_folder_driver_reports_bad_settings_as_user_errors(random_model, tmp_path):
    """The per-folder driver turns an engine's refusal into a one-line user error."""
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "flat.png")
    with pytest.raises(UserError, match="h must be positive. Received: h=0"):
        attribution.attribute_folder(tmp_path, tmp_path / "out", random_model, h=0)
    assert not (tmp_path / "out").exists()


def test_model_that_cannot_be_loaded_is_one_user_error(tmp_path):
    """A missing file, or one that is not a Keras model, is refused naming its path."""
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    for path in (broken, tmp_path / "missing.keras"):
        with pytest.raises(UserError, match=f"^cannot load the model at {path}: ") as raised:
            attribution.load_model(path)
        assert "\n" not in str(raised.value)
