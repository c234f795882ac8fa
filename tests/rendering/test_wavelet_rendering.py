"""Stage 3's wavelet pictures: colour scaling, per-scale maps, labels, files and bad inputs."""

import matplotlib
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from complexstep.engines.wavelet_basis import WaveletBasis
from complexstep.errors import SettingError, UnreadableImageError
from complexstep.io import maps
from complexstep.io.images import save_figure
from complexstep.rendering import wavelets as wavelet_rendering
from rendering_helpers import WAVELET_BASIS as BASIS
from rendering_helpers import colours, read_rgb, sample_wavelet_map, save_wavelet_map

# Pictures are decoded from PNG, which keeps unblended colours exactly; the margin allows for
# rounding in the colormap's lookup table. Drawn extents may be off by the outlines' width and
# antialiasing, a few pixels.
COLOUR_TOLERANCE = 3.0
EXTENT_TOLERANCE = 3
BRIGHTEST = colours(np.array(1.0), wavelet_rendering.CMAP, 0.0, 1.0)
MIDDLE = colours(np.array(0.5), wavelet_rendering.CMAP, 0.0, 1.0)
DARKEST = colours(np.array(0.0), wavelet_rendering.CMAP, 0.0, 1.0)


def test_layout_colours_use_one_scale_or_each_levels_own():
    """On one scale the map is divided by its maximum; level by level each level's detail blocks
    share their own maximum and the approximation has its own."""
    values = sample_wavelet_map()
    np.testing.assert_allclose(
        wavelet_rendering.layout_colours(values, BASIS, per_level=False), values / values.max()
    )
    scaled = wavelet_rendering.layout_colours(values, BASIS, per_level=True)
    for level in (1, 2):
        details = [b for b in BASIS.blocks if b.level == level and b.key != "aa"]
        assert max(np.max(scaled[block.region]) for block in details) == pytest.approx(1.0)
        peak = max(np.max(values[block.region]) for block in details)
        for block in details:
            np.testing.assert_allclose(scaled[block.region], values[block.region] / peak)
    assert np.max(scaled[BASIS.blocks[0].region]) == pytest.approx(1.0)


def test_level_maps_cover_the_image_and_add_up_to_the_squares():
    """Each level's map spreads its coefficients' squares, summed over orientations, over the
    pixels each stands for, and all maps add up to the squared map's sum."""
    values = sample_wavelet_map()
    energies = wavelet_rendering.level_energies(values, BASIS)
    assert sorted(energies) == [0, 1, 2]
    assert all(energy.shape == BASIS.shape for energy in energies.values())
    total = sum(float(np.sum(energy)) for energy in energies.values())
    assert total == pytest.approx(float(np.sum(values**2)))
    level_1 = sum(values[block.region] ** 2 for block in BASIS.blocks if block.level == 1)
    np.testing.assert_allclose(energies[1][2:4, 4:6], level_1[1, 2] / 4)


def test_levels_are_labelled_in_pixels_or_micrometres():
    """Level labels give the periods each level holds, scaled by the pixel size."""
    assert wavelet_rendering.WaveletStyle().scale(1) == "2–4 px"
    micrometres = wavelet_rendering.WaveletStyle(pixel_size=0.5)
    assert micrometres.scale(3) == "4–8 µm"
    assert micrometres.scale(3, approximation=True) == "> 8 µm"
    with pytest.raises(SettingError, match="pixel_size must be a number > 0"):
        wavelet_rendering.WaveletStyle(pixel_size=0)


def test_each_picture_is_written_as_a_png(tmp_path):
    """Layout, per-scale maps (with and without micrograph) and shares are PNG files."""
    values = sample_wavelet_map()
    style = wavelet_rendering.WaveletStyle(per_level=True, pixel_size=0.5, dpi=50)
    micrograph = np.random.default_rng(6).random((40, 50))
    summary = BASIS.summary(values)
    written = [
        (tmp_path / "layout.png", wavelet_rendering.layout_figure("a", values, BASIS, style)),
        (tmp_path / "alone.png", wavelet_rendering.scales_figure("a", values, BASIS, style)),
        (
            tmp_path / "over.png",
            wavelet_rendering.scales_figure("a", values, BASIS, style, micrograph),
        ),
        (tmp_path / "shares.png", wavelet_rendering.shares_figure("a", summary, style)),
    ]
    for path, figure in written:
        save_figure(figure, path, style.dpi)
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100


def _regions(pixels: np.ndarray, colour: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The top, bottom, left and right (exclusive) of every connected region drawn in one colour,
    largest first, so that stray pixels of text or colour bar come last."""
    mask = np.abs(pixels - colour).max(axis=-1) <= COLOUR_TOLERANCE
    labels, count = ndimage.label(mask)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    boxes = ndimage.find_objects(labels)
    return [
        (boxes[index][0].start, boxes[index][0].stop, boxes[index][1].start, boxes[index][1].stop)
        for index in np.argsort(-sizes)
    ]


def _near(first: int, second: int) -> bool:
    return abs(first - second) <= EXTENT_TOLERANCE


def test_layout_draws_each_block_in_its_quadrant_in_its_colour(tmp_path):
    """The level-1 vertical details, the map's maximum, are drawn in the colormap's last colour in
    the top right quadrant, and the horizontal details, half of it, in its middle colour in the
    bottom left one, each a block 1.5 times as wide as high."""
    values = np.zeros(BASIS.shape)
    values[:16, 24:] = 1.0
    values[16:, :24] = 0.5
    style = wavelet_rendering.WaveletStyle(dpi=100)
    path = save_figure(
        wavelet_rendering.layout_figure("a", values, BASIS, style), tmp_path / "layout.png", 100
    )
    pixels = read_rgb(path)
    vertical = _regions(pixels, BRIGHTEST)[0]
    horizontal = _regions(pixels, MIDDLE)[0]
    assert _near(vertical[1], horizontal[0]) and _near(vertical[2], horizontal[3])
    for top, bottom, left, right in (vertical, horizontal):
        assert bottom - top > 50
        assert (right - left) / (bottom - top) == pytest.approx(1.5, abs=0.1)
    assert _near(vertical[1] - vertical[0], horizontal[1] - horizontal[0])


def test_scales_draw_each_level_in_its_own_panel(tmp_path):
    """Uniform level-1 details fill the first panel with the last colour, the level-2 details,
    all zero, leave the second in the first colour, and the approximation, non-zero in its left
    half, lights the left half of the third."""
    values = np.zeros(BASIS.shape)
    for block in BASIS.blocks:
        if block.level == 1:
            values[block.region] = 1.0
    values[:8, :6] = 1.0
    style = wavelet_rendering.WaveletStyle(dpi=100)
    path = save_figure(
        wavelet_rendering.scales_figure("a", values, BASIS, style), tmp_path / "scales.png", 100
    )
    pixels = read_rgb(path)
    level_1 = _regions(pixels, BRIGHTEST)[0]
    level_2 = _regions(pixels, DARKEST)[0]
    assert _near(level_1[0], level_2[0]) and _near(level_1[1], level_2[1])
    assert _near(level_1[3] - level_1[2], level_2[3] - level_2[2])
    assert level_2[2] > level_1[3]
    approximation = [box for box in _regions(pixels, BRIGHTEST) if box[2] > level_2[3]][0]
    assert _near(approximation[0], level_1[0]) and _near(approximation[1], level_1[1])
    assert (approximation[3] - approximation[2]) == pytest.approx(
        (level_1[3] - level_1[2]) / 2, abs=EXTENT_TOLERANCE
    )
    beside = [box for box in _regions(pixels, DARKEST) if box[2] > level_2[3]][0]
    assert _near(beside[2], approximation[3])


def test_shares_are_bars_as_tall_as_the_shares(tmp_path):
    """Each orientation's bars, in its colour, and the approximation's have heights in proportion
    to their shares, on one baseline."""
    shares = {
        (1, "horizontal"): 0.30,
        (1, "vertical"): 0.20,
        (1, "diagonal"): 0.10,
        (2, "horizontal"): 0.15,
        (2, "vertical"): 0.10,
        (2, "diagonal"): 0.05,
        (2, "approximation"): 0.10,
    }
    summary = {
        "wavelet": "haar",
        "levels": 2,
        "shares": [
            {"level": level, "orientation": orientation, "share": share}
            for (level, orientation), share in shares.items()
        ],
    }
    style = wavelet_rendering.WaveletStyle(dpi=100)
    path = save_figure(
        wavelet_rendering.shares_figure("a", summary, style), tmp_path / "shares.png", 100
    )
    pixels = read_rgb(path)
    # Bars take matplotlib's colour cycle in the order they are drawn: the orientations, then the
    # approximation; each level's bar of an orientation lies to the right of the one before.
    drawn = []
    for cycle, (orientation, count) in enumerate(
        [("horizontal", 2), ("vertical", 2), ("diagonal", 2), ("approximation", 1)]
    ):
        colour = np.array(matplotlib.colors.to_rgb(f"C{cycle}")) * 255.0
        bars = sorted(_regions(pixels, colour)[:count], key=lambda box: box[2])
        levels = [2] if orientation == "approximation" else [1, 2]
        drawn += [(shares[level, orientation], box) for level, box in zip(levels, bars)]
    bottoms = [box[1] for _, box in drawn]
    assert max(bottoms) - min(bottoms) <= EXTENT_TOLERANCE
    heights = np.array([box[1] - box[0] for _, box in drawn], dtype=float)
    expected = np.array([share for share, _ in drawn]) / 0.30 * heights.max()
    np.testing.assert_allclose(heights, expected, atol=EXTENT_TOLERANCE)


def test_maps_that_do_not_fit_their_summary_are_unreadable(tmp_path):
    """A map of another shape than its summary's, or without its summary, cannot be read."""
    path = save_wavelet_map(tmp_path, "a", sample_wavelet_map())
    values, basis, summary = maps.load_wavelet_map(path, WaveletBasis)
    assert basis == BASIS and values.shape == (32, 48) and summary["levels"] == 2
    np.save(path, np.zeros((16, 16), np.float32))
    with pytest.raises(UnreadableImageError, match=r"expected a map of shape \(32, 48\)"):
        maps.load_wavelet_map(path, WaveletBasis)
    (tmp_path / "a.wavelet.json").unlink()
    with pytest.raises(
        UnreadableImageError, match="^cannot read .*a.wavelet.npy: no a.wavelet.json"
    ):
        maps.load_wavelet_map(path, WaveletBasis)
