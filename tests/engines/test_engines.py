"""The two attribution engines against the literal per-pixel complex step and each other."""

import keras
import numpy as np
import pytest

import models
import reference
from complexstep import defaults, engines
from complexstep.errors import ImageSizeError, SettingError
from complexstep.twin import building as twin


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
    made = twin.build_complex_twin(model, "code")
    complex_step = engines.ComplexStepAttribution(made, h=0.1)(image)
    jacobian = engines.JacobianAttribution(made)(image)
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
    made = twin.build_complex_twin(random_model, layer)
    complex_step = engines.ComplexStepAttribution(made, batch_size=32)(image)
    jacobian = engines.JacobianAttribution(made, batch_size=32)(image)
    np.testing.assert_allclose(complex_step, jacobian, rtol=1e-5, atol=1e-6 * jacobian.max())
    pixels = sample_pixels(seed=2, count=1)
    expected = reference.literal_attribution(random_model, layer, image, pixels)
    np.testing.assert_allclose([complex_step[pixel] for pixel in pixels], expected, rtol=1e-5)


def test_step_size_changes_nothing_beyond_rounding(small_model):
    """The complex step has no truncation error, so h only moves the last digits."""
    made = twin.build_complex_twin(small_model, "out")
    image = np.random.default_rng(9).random((32, 32)).astype(np.float32)
    coarse = engines.ComplexStepAttribution(made, h=1.0)(image)
    fine = engines.ComplexStepAttribution(made, h=1e-4)(image)
    np.testing.assert_allclose(coarse, fine, rtol=1e-5)


def test_every_split_gives_the_literal_step_at_every_pixel(small_model):
    """Patch Jacobians below any split and reverse passes above it give the literal step's map;
    the upsampling layer spaces receptive fields unevenly, so no split goes past it."""
    image = np.random.default_rng(6).random((32, 32)).astype(np.float32)
    pixels = [(row, column) for row in range(32) for column in range(32)]
    literal = reference.literal_attribution(small_model, "out", image, pixels).reshape(32, 32)
    made = twin.build_complex_twin(small_model, "out")
    assert engines.JacobianAttribution(made).splits == [0, 1, 2, 3, 4]
    for split in range(5):
        engine = engines.JacobianAttribution(made, split=split)
        np.testing.assert_allclose(engine(image), literal, rtol=1e-5, err_msg=f"split={split}")


def test_shallow_layers_need_no_reverse_pass(random_model):
    """For the first blocks, patch Jacobians of every layer are the least work: no pass is left."""
    for layer in ("encoder_conv1", "encoder_pool2"):
        engine = engines.JacobianAttribution(twin.build_complex_twin(random_model, layer))
        assert (engine.split, engine.passes) == (len(engine.layers), 1)


def test_lattice_of_the_code_is_worked_out_from_the_architecture(random_model):
    """Code cells three apart have disjoint 46-pixel receptive fields; two apart do not. Their 72
    passes stop after the second pooling, short of the two full-resolution blocks."""
    made = twin.build_complex_twin(random_model, "code")
    engine = engines.JacobianAttribution(made)
    assert (engine.periods, engine.passes, engine.split) == ((3, 3), 72, 4)


def test_engines_refuse_bad_settings(random_model):
    """A non-positive step or batch, a split past the network, or an image of the wrong size, is
    refused by name."""
    made = twin.build_complex_twin(random_model, "code")
    with pytest.raises(SettingError, match="h must be positive, not 0"):
        engines.ComplexStepAttribution(made, h=0)
    with pytest.raises(SettingError, match="batch_size must be positive, not 0"):
        engines.JacobianAttribution(made, batch_size=0)
    with pytest.raises(SettingError, match="one of 0, 1, 2, 3, 4, 5, 6, 7, 8, not 9"):
        engines.JacobianAttribution(made, split=9)
    with pytest.raises(ImageSizeError, match="256x256 images, not 128x128"):
        engines.JacobianAttribution(made)(np.zeros((128, 128), np.float32))


def test_the_engines_are_those_stage_2_offers():
    """The engines stage 2 checks its --method flag against, before Keras starts, are the engines'
    names in both domains, so that no flag value lacks an engine."""
    assert tuple(engines.ENGINES) == defaults.ENGINES


@pytest.mark.parametrize("name", ["complex-step", "jacobian"])
def test_every_pass_is_reported_once(small_model, name):
    """The passes an engine reports while it works add up to the passes it announced, and working
    in smaller batches changes nothing."""
    made = twin.build_complex_twin(small_model, "out")
    image = np.random.default_rng(8).random((32, 32)).astype(np.float32)
    engine = engines.ENGINES[name].pixel(made, batch_size=1)
    reported = []
    values = engine(image, on_pass=reported.append)
    assert sum(reported) == engine.passes
    assert len(reported) > 1
    whole_batches = engines.ENGINES[name].pixel(made, batch_size=1024)(image)
    np.testing.assert_allclose(values, whole_batches, rtol=1e-6)


@pytest.fixture(scope="module")
def wide_image():
    return np.random.default_rng(11).random((48, 80)).astype(np.float32)


@pytest.fixture(scope="module")
def small_wide_literal(random_model):
    """A 32x48 image, its code 2x3 cells, and the literal step's map at every pixel."""
    image = np.random.default_rng(12).random((32, 48)).astype(np.float32)
    pixels = list(np.ndindex(*image.shape))
    literal = reference.literal_attribution(random_model, "code", image, pixels)
    return image, literal.reshape(image.shape)


@pytest.mark.parametrize("name", ["complex-step", "jacobian"])
def test_non_square_images_match_the_literal_step_at_every_pixel(
    random_model, small_wide_literal, name
):
    """A 32x48 image, its code 2x3 cells, is explained exactly at every one of its pixels."""
    image, literal = small_wide_literal
    made = twin.build_complex_twin(random_model, "code", image.shape)
    values = engines.ENGINES[name].pixel(made)(image)
    np.testing.assert_allclose(values, literal, rtol=1e-5)


@pytest.mark.parametrize("name", ["complex-step", "jacobian"])
def test_a_window_of_cells_is_its_own_share_of_the_map(random_model, wide_image, name):
    """The squares for a window of output cells and for the rest add up to the whole map's, and a
    window's squares are the literal step's over those cells alone."""
    made = twin.build_complex_twin(random_model, "code", wide_image.shape)
    engine = engines.ENGINES[name].pixel(made)
    whole = engine.squares(wide_image)
    left = engine.squares(wide_image, (range(0, 3), range(0, 2)))
    right = engine.squares(wide_image, (range(0, 3), range(2, 5)))
    np.testing.assert_allclose(left + right, whole, rtol=1e-5, atol=1e-7 * whole.max())
    for y, x in [(0, 0), (20, 30), (47, 79)]:
        z = wide_image.astype(np.complex128)
        z[y, x] += 0.1j
        column = reference.complex_forward(random_model, "code", z).imag / 0.1
        np.testing.assert_allclose(left[y, x], np.sum(column[:, :2] ** 2), rtol=1e-5, atol=1e-9)


def test_jacobian_rows_are_the_literal_steps_derivatives(random_model, wide_image):
    """Each row window holds one output's derivatives over its receptive field: every column of
    the literal step is found in the windows that cover its pixel, and nowhere else."""
    made = twin.build_complex_twin(random_model, "code", wide_image.shape)
    engine = engines.JacobianAttribution(made)
    output, rows = engine.jacobian_rows(wide_image)
    assert rows.shape == (3, 5, 8, 46, 46) and engine.window == (46, 46)
    expected = reference.complex_forward(random_model, "code", wide_image.astype(np.complex128))
    np.testing.assert_allclose(output, expected.real, rtol=1e-5, atol=1e-6)
    row_starts, column_starts = engine.rows.fields[-1][0], engine.columns.fields[-1][0]
    for y, x in [(0, 0), (17, 41), (47, 79)]:
        z = wide_image.astype(np.complex128)
        z[y, x] += 0.1j
        column = reference.complex_forward(random_model, "code", z).imag / 0.1
        found = np.zeros_like(column)
        for i, j in np.ndindex(3, 5):
            u, v = y - row_starts[i], x - column_starts[j]
            if 0 <= u < 46 and 0 <= v < 46:
                found[i, j] = rows[i, j, :, u, v]
        np.testing.assert_allclose(found, column, rtol=1e-5, atol=1e-6 * np.abs(column).max())
    _, some = engine.jacobian_rows(wide_image, (range(1, 2), range(0, 5)))
    assert np.all(some[[0, 2]] == 0) and np.array_equal(some[1], rows[1])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="images share a call on JAX only")
def test_several_images_in_one_call_get_each_its_own_map(random_model, wide_image):
    """Three images explained in one vmapped call get the maps they get one by one."""
    made = twin.build_complex_twin(random_model, "code", wide_image.shape)
    engine = engines.JacobianAttribution(made)
    batch = np.stack([wide_image, wide_image[::-1], 1 - wide_image])
    together = engine.squares_of_many(batch)
    one_by_one = np.stack([engine.squares(image) for image in batch])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-7 * one_by_one.max())
