"""Micrographs are read as microscopes write them: bit depth, pages, pixel size and data bars.

Every TIFF here is written by the test with tifffile, with the tags the vendors' software writes:
FEI/Thermo Fisher's INI-like text in private tag 34682, Zeiss's in tag 34118, OME-XML in the image
description and the baseline resolution tags.
"""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from lab_files import WIDTH, _fei_text
from PIL import Image

from complexstep.errors import SettingError, UnreadableImageError
from complexstep.io import images, micrographs

FRAME_ROWS = 256
BAR_ROWS = 32


def _twelve_bit_frame(rows: int = FRAME_ROWS, seed: int = 0) -> np.ndarray:
    """Random 12-bit values in 16-bit samples, reaching 4095 as a well-exposed frame does."""
    frame = np.random.default_rng(seed).integers(0, 4096, (rows, WIDTH)).astype(np.uint16)
    frame[0, 0] = 4095
    return frame


def _fei_tiff(path: Path) -> tuple[Path, np.ndarray]:
    """A 12-bit SEM frame with a 32-row data bar of white text below it, as FEI writes it."""
    frame = _twelve_bit_frame()
    bar = np.zeros((BAR_ROWS, WIDTH), np.uint16)
    bar[8:24, 10:200:3] = 65535
    tifffile.imwrite(path, np.vstack([frame, bar]), extratags=[(34682, "s", 0, _fei_text(), True)])
    return path, frame


def test_fei_frame_reaches_network_without_bar_scaled_by_4095(tmp_path):
    """An FEI 12-bit frame reads as its 256 scanned rows over 4095, with the metadata's pixel."""
    path, frame = _fei_tiff(tmp_path / "sem.tif")
    assert tifffile.TiffFile(path).fei_metadata["Image"]["ResolutionY"] == FRAME_ROWS
    micrograph = micrographs.read_micrograph(path)
    assert micrograph.pixels.shape == (FRAME_ROWS, WIDTH)
    assert micrograph.pixels.dtype == np.float32
    np.testing.assert_allclose(micrograph.pixels, frame / 4095, rtol=0, atol=1e-6)
    assert micrograph.pixel_size == pytest.approx(0.015)
    assert micrograph.pixel_size_source == "fei_metadata"
    assert micrograph.size_read == (FRAME_ROWS + BAR_ROWS, WIDTH)
    assert (micrograph.cropped_rows, micrograph.crop_source) == (BAR_ROWS, "fei_metadata")
    assert micrograph.intensity_range == (0.0, 4095.0)
    assert micrograph.bits == 16
    assert micrograph.notes == ("cropped the 32-row data bar below the 256 scanned rows",)
    np.testing.assert_array_equal(images.read_image(path, size=None), micrograph.pixels)


def test_crop_bottom_replaces_the_metadata_crop_and_says_so(tmp_path):
    """Asked to crop 40 rows, the reader crops 40, not the metadata's 32, and notes the gap."""
    path, frame = _fei_tiff(tmp_path / "sem.tif")
    micrograph = micrographs.read_micrograph(path, crop_bottom=40)
    np.testing.assert_allclose(micrograph.pixels, frame[:248] / 4095, rtol=0, atol=1e-6)
    assert (micrograph.cropped_rows, micrograph.crop_source) == (40, "crop_bottom")
    assert "cropped 40 as asked rather than its 32-row data bar" in micrograph.notes[0]


def test_crop_bottom_of_a_file_without_metadata(tmp_path):
    """A plain 16-bit TIFF loses the rows asked for, and the crop is reported."""
    frame = _twelve_bit_frame(rows=64)
    tifffile.imwrite(tmp_path / "plain.tif", frame)
    micrograph = micrographs.read_micrograph(tmp_path / "plain.tif", crop_bottom=10)
    assert micrograph.pixels.shape == (54, WIDTH)
    assert (micrograph.cropped_rows, micrograph.crop_source) == (10, "crop_bottom")
    with pytest.raises(SettingError, match="cannot crop 64 rows from the bottom of .*: it has 64"):
        micrographs.read_micrograph(tmp_path / "plain.tif", crop_bottom=64)


def test_zeiss_pixel_size_from_sem_metadata(tmp_path):
    """Zeiss SmartSEM's "Image Pixel Size = 2.5 nm" gives a pixel of 0.0025 µm."""
    text = "\r\n\r\nAP_IMAGE_PIXEL_SIZE\r\nImage Pixel Size = 2.5 nm\r\nAP_WD\r\nWD = 8.5 mm\r\n"
    path = tmp_path / "zeiss.tif"
    tifffile.imwrite(path, _twelve_bit_frame(rows=32), extratags=[(34118, "s", 0, text, True)])
    micrograph = micrographs.read_micrograph(path)
    assert micrograph.pixel_size == pytest.approx(0.0025)
    assert micrograph.pixel_size_source == "sem_metadata"


@pytest.mark.parametrize(("size", "unit", "micrometres"), [(0.2, "nm", 2e-4), (0.65, "µm", 0.65)])
def test_ome_physical_size_in_its_unit(tmp_path, size, unit, micrometres):
    """OME-XML's PhysicalSizeX is converted from its unit to micrometres."""
    path = tmp_path / "ome.ome.tif"
    metadata = {"axes": "YX", "PhysicalSizeX": size, "PhysicalSizeXUnit": unit}
    tifffile.imwrite(path, _twelve_bit_frame(rows=32), ome=True, metadata=metadata)
    micrograph = micrographs.read_micrograph(path)
    assert micrograph.pixel_size == pytest.approx(micrometres)
    assert micrograph.pixel_size_source == "ome"


@pytest.mark.parametrize(("per_unit", "unit"), [(20000, "CENTIMETER"), (50800, "INCH")])
def test_resolution_tags_in_centimetres_and_inches(tmp_path, per_unit, unit):
    """20000 pixels per cm and 50800 per inch are both pixels of 0.5 µm."""
    path = tmp_path / "optical.tif"
    tifffile.imwrite(
        path, _twelve_bit_frame(rows=32), resolution=(per_unit, per_unit), resolutionunit=unit
    )
    micrograph = micrographs.read_micrograph(path)
    assert micrograph.pixel_size == pytest.approx(0.5)
    assert micrograph.pixel_size_source == "resolution"


def test_screen_resolution_is_not_a_pixel_size_and_the_given_one_is_used(tmp_path):
    """72 dpi gives no pixel size, so the caller's 0.1 µm is used, labelled as given."""
    path = tmp_path / "saved.tif"
    tifffile.imwrite(path, _twelve_bit_frame(rows=32), resolution=(72, 72), resolutionunit="INCH")
    assert micrographs.read_micrograph(path).pixel_size is None
    micrograph = micrographs.read_micrograph(path, pixel_size=0.1)
    assert (micrograph.pixel_size, micrograph.pixel_size_source) == (0.1, "flag")


def test_file_pixel_size_wins_over_the_given_one_with_a_note(tmp_path):
    """The FEI metadata's 0.015 µm is used over a different 0.1 µm, and the choice is noted."""
    path, _ = _fei_tiff(tmp_path / "sem.tif")
    micrograph = micrographs.read_micrograph(path, pixel_size=0.1)
    assert micrograph.pixel_size == pytest.approx(0.015)
    assert any("used it rather than 0.1 µm" in note for note in micrograph.notes)


def test_multi_page_reads_the_page_asked_and_counts_them(tmp_path):
    """Page 1 of a 3-page TIFF is the second array written; the count and a note say 3 pages."""
    stack = np.stack([_twelve_bit_frame(rows=16, seed=seed) for seed in range(3)])
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="minisblack")
    first = micrographs.read_micrograph(path)
    second = micrographs.read_micrograph(path, page=1)
    np.testing.assert_allclose(first.pixels, stack[0] / 4095, rtol=0, atol=1e-6)
    np.testing.assert_allclose(second.pixels, stack[1] / 4095, rtol=0, atol=1e-6)
    assert (first.page, first.pages, second.page, second.pages) == (0, 3, 1, 3)
    assert first.notes == ("3 pages; read page 0",)
    with pytest.raises(SettingError, match=r"has 3 pages \(0 to 2\), not page 3"):
        micrographs.read_micrograph(path, page=3)


def test_percentile_stretch_matches_numpy(tmp_path):
    """The 0.5 and 99.5 percentiles become 0 and 1, values beyond them clipped."""
    frame = _twelve_bit_frame(rows=64)
    tifffile.imwrite(tmp_path / "frame.tif", frame)
    micrograph = micrographs.read_micrograph(tmp_path / "frame.tif", intensity="percentile")
    low, high = np.percentile(frame.astype(np.float64), [0.5, 99.5])
    expected = np.clip((frame - low) / (high - low), 0.0, 1.0)
    np.testing.assert_allclose(micrograph.pixels, expected, rtol=0, atol=1e-6)
    assert micrograph.intensity_range == pytest.approx((low, high))
    assert micrograph.pixels.min() == 0.0 and micrograph.pixels.max() == 1.0


def test_dtype_scaling_of_a_12_bit_frame_is_noted(tmp_path):
    """Read by its type, a 12-bit frame is divided by 65535 and a note says 1/16 of its range."""
    frame = _twelve_bit_frame(rows=16)
    tifffile.imwrite(tmp_path / "frame.tif", frame)
    micrograph = micrographs.read_micrograph(tmp_path / "frame.tif", intensity="dtype")
    np.testing.assert_allclose(micrograph.pixels, frame / 65535, rtol=0, atol=1e-7)
    assert micrograph.notes == (
        "16-bit image uses 1/16 of its range (intensity 'bits' scales it by its significant bits)",
    )
    full = frame.astype(np.uint32) * 16
    tifffile.imwrite(tmp_path / "full.tif", full.astype(np.uint16))
    assert micrographs.read_micrograph(tmp_path / "full.tif", intensity="dtype").notes == ()


@pytest.mark.parametrize(
    ("brightest", "divisor"), [(200, 255), (900, 1023), (3000, 4095), (10000, 16383)]
)
def test_bits_round_up_to_an_even_depth(tmp_path, brightest, divisor):
    """16-bit samples are scaled by the smallest even depth holding their maximum."""
    values = np.linspace(0, brightest, 64).round().astype(np.uint16).reshape(8, 8)
    tifffile.imwrite(tmp_path / "frame.tif", values)
    micrograph = micrographs.read_micrograph(tmp_path / "frame.tif")
    np.testing.assert_allclose(micrograph.pixels, values / divisor, rtol=0, atol=1e-7)


def test_lzw_tiff_is_decoded_by_pillow_and_scaled_by_its_bits(tmp_path):
    """A compressed TIFF tifffile cannot decode alone reads the same as an uncompressed one."""
    frame = _twelve_bit_frame(rows=32)
    Image.fromarray(frame).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    micrograph = micrographs.read_micrograph(tmp_path / "lzw.tif")
    np.testing.assert_allclose(micrograph.pixels, frame / 4095, rtol=0, atol=1e-6)


def test_float_tiff_is_read_as_it_is(tmp_path):
    """Floating-point values in [0, 1] are kept exactly."""
    values = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    tifffile.imwrite(tmp_path / "float.tif", values)
    micrograph = micrographs.read_micrograph(tmp_path / "float.tif")
    np.testing.assert_array_equal(micrograph.pixels, values)
    assert micrograph.intensity_range == (0.0, 1.0)


def test_nan_in_a_float_tiff_is_one_line_naming_the_file(tmp_path):
    """A float TIFF with one NaN pixel is refused, saying so."""
    values = np.full((8, 8), 0.5, np.float32)
    values[3, 4] = np.nan
    path = tmp_path / "broken.tif"
    tifffile.imwrite(path, values)
    with pytest.raises(UnreadableImageError) as raised:
        micrographs.read_micrograph(path)
    assert str(raised.value) == f"cannot read {path}: 1 pixel is NaN or infinite"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    """A PNG whose header declares 60000x60000 pixels is refused in one line naming it."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 60001))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(UnreadableImageError) as raised:
        micrographs.read_micrograph(path)
    message = str(raised.value)
    assert message == (
        f"cannot read {path}: 3600000000 pixels, more than the {micrographs.MAX_PIXELS} pixels "
        "allowed; raise the pixel limit if the file is trusted"
    )


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("limit", [4000, 6000])
def test_pixel_limit_is_a_setting(tmp_path, monkeypatch, suffix, limit):
    """A 100x100 image is refused under a limit of 4000 or 6000 pixels, and read under 10000."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    path = tmp_path / f"small{suffix}"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(path)
    with pytest.raises(UnreadableImageError, match=f"10000 pixels, more than the {limit} pixels"):
        micrographs.read_micrograph(path, max_pixels=limit)
    monkeypatch.setattr(micrographs, "MAX_PIXELS", limit)
    with pytest.raises(UnreadableImageError, match="raise the pixel limit"):
        images.read_image(path)
    assert micrographs.read_micrograph(path, max_pixels=10000).pixels.shape == (100, 100)


def test_png_and_jpeg_read_as_before(tmp_path):
    """An 8-bit PNG is its values over 255 and a JPEG is Pillow's grey over 255, with no size."""
    ramp = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    Image.fromarray(ramp).save(tmp_path / "ramp.jpg", quality=90)
    png = micrographs.read_micrograph(tmp_path / "ramp.png")
    np.testing.assert_array_equal(png.pixels, (ramp / 255.0).astype(np.float32))
    assert (png.bits, png.pages, png.pixel_size, png.intensity_range) == (8, 1, None, (0.0, 255.0))
    assert png.notes == ()
    decoded = np.asarray(Image.open(tmp_path / "ramp.jpg").convert("L"), dtype=np.float32) / 255
    np.testing.assert_array_equal(
        micrographs.read_micrograph(tmp_path / "ramp.jpg").pixels, decoded
    )


def test_resized_scales_the_pixel_size(tmp_path):
    """Resizing a 512-wide frame of 0.5 µm pixels to 256 gives pixels of 1 µm."""
    tifffile.imwrite(
        tmp_path / "wide.tif",
        np.zeros((512, 512), np.uint16),
        resolution=(20000, 20000),
        resolutionunit="CENTIMETER",
    )
    resized = micrographs.read_micrograph(tmp_path / "wide.tif").resized(256)
    assert resized.pixels.shape == (256, 256)
    assert resized.pixel_size == pytest.approx(1.0)


def test_unknown_intensity_is_a_setting_error(tmp_path):
    """An intensity scaling not in the list is refused, naming the choices."""
    tifffile.imwrite(tmp_path / "frame.tif", _twelve_bit_frame(rows=8))
    with pytest.raises(SettingError, match="choose one of bits, dtype, percentile"):
        micrographs.read_micrograph(tmp_path / "frame.tif", intensity="gamma")
