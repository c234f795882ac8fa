"""Images are found, read in every supported format and written atomically."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from complexstep.errors import ComplexStepError
from complexstep.io import images

ONE_GREY_LEVEL = 1 / 255


def _save(path: Path, pixels: np.ndarray, **options) -> Path:
    Image.fromarray(pixels).save(path, **options)
    return path


def _grey(value: int, size: int = 256, dtype=np.uint8) -> np.ndarray:
    return np.full((size, size), value, dtype=dtype)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_lossless_8_bit_grey_reads_exactly(tmp_path, suffix):
    """An 8-bit grey PNG, TIFF or BMP reads back as its pixel values divided by 255."""
    pixels = np.arange(256 * 256, dtype=np.uint32).reshape(256, 256) % 256
    path = _save(tmp_path / f"ramp{suffix}", pixels.astype(np.uint8))
    values = images.read_image(path)
    assert values.dtype == np.float32
    assert values.shape == (256, 256)
    np.testing.assert_allclose(values, pixels / 255.0, rtol=0, atol=1e-6)


def test_jpeg_grey_reads_within_compression_tolerance(tmp_path):
    """A uniform grey JPEG of level 128 reads back within two grey levels of 128/255."""
    path = _save(tmp_path / "grey.jpg", _grey(128), quality=95)
    np.testing.assert_allclose(images.read_image(path), 128 / 255, atol=2 * ONE_GREY_LEVEL)


def test_16_bit_tiff_full_scale_reads_as_one(tmp_path):
    """A 16-bit TIFF of value 65535 reads as exactly 1.0."""
    path = _save(tmp_path / "white.tif", _grey(65535, dtype=np.uint16))
    assert Image.open(path).mode.startswith("I;16")
    np.testing.assert_array_equal(images.read_image(path), 1.0)


def test_16_bit_tiff_keeps_precision_beyond_8_bits(tmp_path):
    """Read by its type, a 16-bit TIFF level of 1000 is 1000/65535, finer than any 8-bit level."""
    path = _save(tmp_path / "dark.tif", _grey(1000, dtype=np.uint16))
    np.testing.assert_allclose(images.read_image(path, intensity="dtype"), 1000 / 65535, rtol=1e-6)


def test_dark_32_bit_integer_image_is_scaled_as_16_bit(tmp_path):
    """Read by its type, a mode "I" image is 16-bit data however dark: 200 is 200/65535."""
    path = tmp_path / "dark.tif"
    Image.fromarray(np.full((8, 8), 200, np.int32)).save(path)
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(
        images.read_image(path, size=None, intensity="dtype"), 200 / 65535, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("colour", "luma"),
    [((255, 0, 0), 0.299), ((0, 255, 0), 0.587), ((0, 0, 255), 0.114)],
)
def test_rgb_converts_to_601_luma(tmp_path, colour, luma):
    """A pure red, green or blue RGB image reads as the ITU-R 601 weight of that primary."""
    pixels = np.broadcast_to(np.array(colour, dtype=np.uint8), (256, 256, 3))
    path = _save(tmp_path / "colour.png", np.ascontiguousarray(pixels))
    np.testing.assert_allclose(images.read_image(path), luma, atol=ONE_GREY_LEVEL)


def test_rgba_converts_to_grey_of_its_colour(tmp_path):
    """A half-transparent green RGBA image reads as the luma of its green, ignoring alpha."""
    pixels = np.broadcast_to(np.array([0, 255, 0, 128], dtype=np.uint8), (256, 256, 4))
    path = _save(tmp_path / "transparent.png", np.ascontiguousarray(pixels))
    np.testing.assert_allclose(images.read_image(path), 0.587, atol=ONE_GREY_LEVEL)


def test_images_keep_their_size_unless_a_size_is_asked(tmp_path):
    """A 40x100 image reads at 40x100 by default: a non-square micrograph is never distorted."""
    pixels = np.random.default_rng(1).integers(0, 256, (40, 100), dtype=np.uint8)
    values = images.read_image(_save(tmp_path / "wide.png", pixels))
    np.testing.assert_array_equal(values, pixels / np.float32(255))


def test_other_sizes_are_resized_to_256_when_asked(tmp_path):
    """A 40x100 image, black on the left half and white on the right, reads as 256x256 alike."""
    pixels = np.zeros((40, 100), dtype=np.uint8)
    pixels[:, 50:] = 255
    values = images.read_image(_save(tmp_path / "small.png", pixels), size=256)
    assert values.shape == (256, 256)
    np.testing.assert_array_equal(values[:, :120], 0.0)
    np.testing.assert_array_equal(values[:, 136:], 1.0)


def test_resampled_values_stay_within_unit_interval(tmp_path):
    """Resampling a random 8-bit image never leaves [0, 1]."""
    pixels = np.random.default_rng(0).integers(0, 256, (97, 131), dtype=np.uint8)
    values = images.read_image(_save(tmp_path / "noise.png", pixels), size=256)
    assert values.min() >= 0.0
    assert values.max() <= 1.0


def test_unreadable_file_raises_naming_its_path(tmp_path):
    """A text file with an image suffix raises UnreadableImageError whose message names it."""
    path = tmp_path / "not_an_image.png"
    path.write_text("no pixels here")
    with pytest.raises(images.UnreadableImageError, match="not_an_image.png") as raised:
        images.read_image(path)
    assert isinstance(raised.value, ComplexStepError)


def test_write_atomically_failure_leaves_destination_and_no_temporary(tmp_path):
    """A writer that fails half-way leaves the old destination intact and no temporary file."""
    destination = tmp_path / "model.weights.h5"
    destination.write_text("previous run")

    def fail_half_way(temporary: Path) -> None:
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        images.write_atomically(destination, fail_half_way)
    assert destination.read_text() == "previous run"
    assert sorted(tmp_path.iterdir()) == [destination]


def test_write_atomically_gives_writer_the_destination_suffixes(tmp_path):
    """The writer's temporary path ends with every suffix of the destination, then is renamed."""
    seen = []

    def write(temporary: Path) -> None:
        seen.append(temporary)
        temporary.write_text("weights")

    destination = images.write_atomically(tmp_path / "model.weights.h5", write)
    assert seen[0].name.endswith(".weights.h5")
    assert seen[0].parent == tmp_path
    assert destination.read_text() == "weights"
    assert sorted(tmp_path.iterdir()) == [destination]


def test_to_uint8_of_constant_array_is_all_zeros():
    """A constant array has no range to scale and becomes black."""
    result = images.to_uint8(np.full((3, 4), 0.7))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, np.zeros((3, 4), dtype=np.uint8))


def test_to_uint8_stretches_range_to_0_and_255():
    """The minimum maps to 0, the maximum to 255 and the midpoint to 128 (rounded 127.5)."""
    np.testing.assert_array_equal(
        images.to_uint8(np.array([-2.0, 0.0, 2.0])), np.array([0, 128, 255], dtype=np.uint8)
    )


def test_scale_to_unit_spans_zero_to_one():
    """Min-max scaling sends the minimum to 0, the maximum to 1 and keeps proportions between."""
    scaled, was_constant = images.scale_to_unit(np.array([[2.0, 4.0], [3.0, 6.0]]))
    np.testing.assert_allclose(scaled, [[0.0, 0.5], [0.25, 1.0]])
    assert not was_constant


def test_scale_to_unit_turns_constant_map_into_zeros_and_reports_it():
    """A constant map scales to all zeros, not NaN, and is reported as constant."""
    scaled, was_constant = images.scale_to_unit(np.full((5, 5), 3.5))
    assert was_constant
    assert np.array_equal(scaled, np.zeros((5, 5)))
