"""Tests of complexstep.rendering: scaling, smoothing, colour limits and the rendered pixels.

Rendered pixels are checked against an independent computation: colours from
``matplotlib.colormaps`` and the colour limits (see rendering_helpers), the overlay's blend worked
out here from the documented opacity of one half, and the panel's views located in the decoded
image by their colours.
"""

import matplotlib
import numpy as np
import pytest
from scipy import ndimage

from complexstep.errors import SettingError, UnreadableImageError
from complexstep.io import maps
from complexstep.io.images import save_figure
from complexstep.rendering import heatmaps as rendering
from rendering_helpers import (
    MAX_TOLERANCE,
    TEST_DPI,
    assert_close_colours,
    block_centres,
    colours,
    expected_colours,
    image_size,
    read_rgb,
    sample_map,
    save_grey,
)

# The overlay shows the heatmap at half opacity, as the module documents; the tests blend with
# this number rather than the module's constant, so that a changed constant is noticed.
HALF = 0.5
# Where the overlay test's regions are uniform, JPEG reproduces their colour within a few levels.
UNIFORM_TOLERANCE = 4.0
# Panel views are located by colours drawn without blending, which PNG keeps exactly; the margin
# only allows for rounding in the colormap's lookup table.
PANEL_COLOUR_TOLERANCE = 3.0
# Drawn extents are measured in whole pixels, and the micrograph's antialiasing blurs a pixel or so
# where its halves meet, so edges and lengths may be off by two.
EXTENT_TOLERANCE = 2
DARK, BRIGHT = 0.25, 0.75
RED, BLUE = np.array([255.0, 0.0, 0.0]), np.array([0.0, 0.0, 255.0])


def test_smooth_with_zero_sigma_leaves_map_unchanged():
    """Sigma 0 turns smoothing off."""
    values = sample_map()
    np.testing.assert_array_equal(rendering.smooth(values, 0.0), values)


def test_smooth_spreads_a_hot_pixel_keeping_its_total():
    """Smoothing lowers an isolated peak, raises its neighbours and keeps the map's total."""
    values = np.zeros((21, 21))
    values[10, 10] = 1.0
    smoothed = rendering.smooth(values, 1.0)
    assert 0.1 < smoothed[10, 10] < 0.2
    assert smoothed[10, 11] > 0.05
    assert smoothed.sum() == pytest.approx(1.0)


def test_load_attribution_prefers_npy_beside_png(tmp_path):
    """Where <stem>.npy lies beside <stem>.png, its raw values are read, not the grey image."""
    raw = sample_map().astype(np.float32)
    np.save(tmp_path / "grain.npy", raw)
    save_grey(tmp_path / "grain.png", np.zeros((24, 24)))
    np.testing.assert_array_equal(maps.load_attribution(tmp_path / "grain.png"), raw)


def test_load_attribution_reads_grey_image_without_npy(tmp_path):
    """Without a .npy, the grey image's values are read at its own size, scaled to [0, 1]."""
    grey = np.arange(40, dtype=np.uint8).reshape(5, 8) * 6
    save_grey(tmp_path / "grain.png", grey / 255.0)
    values = maps.load_attribution(tmp_path / "grain.png")
    np.testing.assert_allclose(values, grey / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    "content",
    [b"not an array", np.full((4, 4), np.nan), np.zeros((2, 4, 4)), np.array(["a", "b"])],
    ids=["garbage", "nan", "three-dimensional", "text"],
)
def test_load_attribution_rejects_npy_without_finite_map(tmp_path, content):
    """A .npy that holds no finite real 2-D map is reported as unreadable, naming the .npy."""
    if isinstance(content, bytes):
        (tmp_path / "grain.npy").write_bytes(content)
    else:
        np.save(tmp_path / "grain.npy", content)
    save_grey(tmp_path / "grain.png", np.zeros((4, 4)))
    with pytest.raises(UnreadableImageError, match="grain.npy"):
        maps.load_attribution(tmp_path / "grain.png")


def test_auto_limits_are_the_2nd_and_98th_percentiles():
    """Automatic limits are the map's 2nd and 98th percentiles."""
    values = np.linspace(0.0, 1.0, 101).reshape(1, -1)
    assert rendering.colour_limits(values, "auto", "auto") == pytest.approx((0.02, 0.98))


def test_fixed_limits_are_kept():
    """Numeric limits are used as given, whatever the map's values."""
    values = np.linspace(0.0, 1.0, 101).reshape(1, -1)
    assert rendering.colour_limits(values, 0.15, 0.4) == (0.15, 0.4)


def test_auto_limit_beyond_fixed_limit_is_moved_past_it():
    """An automatic lower limit above a fixed upper limit is moved just below the fixed one."""
    values = np.full((4, 4), 0.9)
    low, high = rendering.colour_limits(values, "auto", 0.4)
    assert high == 0.4
    assert 0.4 - 1e-3 < low < 0.4


def test_auto_limits_of_flat_map_still_increase():
    """A flat map's automatic limits still have the upper strictly above the lower."""
    low, high = rendering.colour_limits(np.zeros((4, 4)), "auto", "auto")
    assert low == 0.0
    assert high > low


@pytest.mark.parametrize(
    ("shape", "sigma", "cmap", "vmin", "vmax"),
    [
        ((24, 24), 1.0, "bwr", 0.15, 0.4),
        ((24, 24), 2.0, "viridis", 0.0, 0.7),
        ((24, 24), 0.0, "bwr", 0.2, 0.5),
        ((16, 28), 1.0, "bwr", 0.15, 0.4),
    ],
    ids=["paper", "viridis", "unsmoothed", "non-square"],
)
def test_heatmap_colours_match_independent_rendering(tmp_path, shape, sigma, cmap, vmin, vmax):
    """Each map pixel is drawn in the colormap's colour of its scaled and smoothed value."""
    raw = sample_map(*shape)
    style = rendering.HeatmapStyle(sigma=sigma, cmap=cmap, vmin=vmin, vmax=vmax, dpi=TEST_DPI)
    values, _ = rendering.heatmap_values(raw, sigma)
    save_figure(rendering.heatmap_figure(values, style), tmp_path / "heat.jpeg", style.dpi)
    assert_close_colours(
        block_centres(tmp_path / "heat.jpeg", raw.shape),
        expected_colours(raw, sigma, cmap, vmin, vmax),
    )


def test_auto_limit_colours_match_independent_percentiles(tmp_path):
    """With automatic limits, colours span the smoothed map's own 2nd to 98th percentiles."""
    raw = sample_map()
    style = rendering.HeatmapStyle(vmin="auto", vmax="auto", dpi=TEST_DPI)
    values, _ = rendering.heatmap_values(raw, style.sigma)
    save_figure(rendering.heatmap_figure(values, style), tmp_path / "heat.jpeg", style.dpi)
    scaled = (raw - raw.min()) / (raw.max() - raw.min())
    low, high = np.percentile(ndimage.gaussian_filter(scaled, 1.0, mode="nearest"), [2, 98])
    assert_close_colours(
        block_centres(tmp_path / "heat.jpeg", raw.shape),
        expected_colours(raw, 1.0, "bwr", low, high),
    )


def test_paper_sized_heatmap_fills_1536_pixel_canvas(tmp_path):
    """A 256x256 map at the paper's 600 dpi in the paper's look fills a 1536x1536 image to its
    corners, no margin."""
    raw = np.zeros((256, 256))
    raw[:, 128:] = 1.0
    values, _ = rendering.heatmap_values(raw, 1.0)
    style = rendering.HeatmapStyle(look="paper")
    save_figure(rendering.heatmap_figure(values, style), tmp_path / "heat.jpeg", style.dpi)
    pixels = read_rgb(tmp_path / "heat.jpeg")
    assert pixels.shape == (1536, 1536, 3)
    for row, column, colour in [(0, 0, BLUE), (-1, 0, BLUE), (0, -1, RED), (-1, -1, RED)]:
        assert np.abs(pixels[row, column] - colour).max() < MAX_TOLERANCE


def test_readable_heatmap_has_its_colour_bar_beside_the_map(tmp_path):
    """By default the 1536x1536 map keeps its pixels and a strip at its right holds a colour bar
    running from the colormap's blue at the bottom to its red at the top, on white."""
    raw = np.zeros((256, 256))
    raw[:, 128:] = 1.0
    values, _ = rendering.heatmap_values(raw, 1.0)
    save_figure(
        rendering.heatmap_figure(values, rendering.HeatmapStyle()),
        tmp_path / "heat.jpeg",
        rendering.HeatmapStyle().dpi,
    )
    pixels = read_rgb(tmp_path / "heat.jpeg")
    assert pixels.shape[0] == 1536 and 1536 + 300 < pixels.shape[1] < 1536 + 800
    assert np.abs(pixels[0, 1535] - RED).max() < MAX_TOLERANCE
    strip = pixels[:, 1540:]
    white = np.all(strip > 245, axis=-1)
    assert white.mean() > 0.5
    # The bar is the strip's column of most saturated colour.
    saturation = strip.max(axis=-1) - strip.min(axis=-1)
    column = strip[:, int(np.argmax(saturation.sum(axis=0)))]
    coloured = np.flatnonzero(saturation[:, int(np.argmax(saturation.sum(axis=0)))] > 200)
    top, bottom = column[coloured[0] + 20], column[coloured[-1] - 20]
    assert np.abs(top - RED).max() < 3 * MAX_TOLERANCE
    assert np.abs(bottom - BLUE).max() < 3 * MAX_TOLERANCE


def test_colour_bar_says_why_its_colours_stop_where_they_do():
    """The label names the scaling and the paper's limits for the paper's map, the whole range
    for the weighted kinds, and the map's percentiles for automatic limits."""
    paper = rendering.colour_bar_label(rendering.HeatmapStyle())
    assert paper == (
        "attribution, each map min-max scaled and smoothed\n"
        "the paper's colour limits, 0.15-0.4: colours saturate beyond"
    )
    weighted = rendering.colour_bar_label(rendering.HeatmapStyle(kind="gradient-input"))
    assert weighted.endswith("colours over the whole range")
    automatic = rendering.colour_bar_label(rendering.HeatmapStyle(vmin="auto", scale="folder"))
    assert "one range for the folder" in automatic and "percentiles" in automatic


@pytest.mark.parametrize("dpi", [50, 100])
@pytest.mark.parametrize("view", ["heatmap", "overlay"])
def test_non_square_map_keeps_its_aspect(tmp_path, view, dpi):
    """A 48x80 map's bare heatmap and overlay are 80 by 48 pixels times dpi/100, not squared."""
    values, _ = rendering.heatmap_values(sample_map(48, 80), 1.0)
    style = rendering.HeatmapStyle(dpi=dpi, look="paper")
    if view == "heatmap":
        save_figure(rendering.heatmap_figure(values, style), tmp_path / "view.jpeg", style.dpi)
    else:
        save_figure(
            rendering.overlay_figure(values, np.full((48, 80), 0.5), style),
            tmp_path / "view.jpeg",
            style.dpi,
        )
    assert image_size(tmp_path / "view.jpeg") == (80 * dpi // 100, 48 * dpi // 100)


def test_constant_map_renders_in_the_colormaps_first_colour(tmp_path):
    """A constant map is drawn uniformly in the lowest colour, without NaN artefacts."""
    values, was_constant = rendering.heatmap_values(np.full((16, 16), 7.0), 1.0)
    assert was_constant
    save_figure(
        rendering.heatmap_figure(values, rendering.HeatmapStyle(dpi=TEST_DPI)),
        tmp_path / "heat.jpeg",
        TEST_DPI,
    )
    lowest = np.array(matplotlib.colormaps["bwr"](0.0)[:3]) * 255.0
    centres = block_centres(tmp_path / "heat.jpeg", (16, 16))
    assert np.abs(centres - lowest).max() < MAX_TOLERANCE


def test_overlay_of_uniform_regions_is_half_heatmap_half_micrograph(tmp_path):
    """Inside each uniform region the overlay is the mean of the colormap's colour and the grey.

    The map has four bands of values below, between and above the paper's limits, the micrograph
    a black left and a white right half; the regions are 16-pixel squares, aligned with JPEG's
    8-pixel blocks, and are sampled away from their edges.
    """
    band_values = [0.0, 0.2, 0.3, 1.0]
    values = np.repeat(band_values, 16)[:, np.newaxis] * np.ones((1, 64))
    micrograph = np.zeros((64, 64))
    micrograph[:, 32:] = 1.0
    save_figure(
        rendering.overlay_figure(values, micrograph, rendering.HeatmapStyle(dpi=100, look="paper")),
        tmp_path / "overlay.jpeg",
        100,
    )
    pixels = read_rgb(tmp_path / "overlay.jpeg")
    assert pixels.shape == (64, 64, 3)
    for band, value in enumerate(band_values):
        heat = colours(np.array(value), "bwr", 0.15, 0.4)
        for left, grey in [(0, 0.0), (32, 1.0)]:
            region = pixels[16 * band + 4 : 16 * band + 12, left + 4 : left + 28]
            expected = blend(heat, grey)
            assert np.abs(region - expected).max() < UNIFORM_TOLERANCE, (value, grey)


def placement_micrograph(height: int, width: int) -> np.ndarray:
    """A mid-grey micrograph with a white block near its top left, placed off its centre lines so
    that a flip moves it, and a black bottom and right edge 10 pixels wide, which a crop to 10
    pixels less on each axis removes."""
    micrograph = np.full((height, width), 0.5)
    micrograph[4:20, 6:26] = 1.0
    micrograph[-10:, :] = 0.0
    micrograph[:, -10:] = 0.0
    return micrograph


def drawn_micrograph(tmp_path, micrograph: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The micrograph as an overlay of a map of zeros draws it, one output pixel a map pixel.

    Zeros lie below the lower limit and are coloured pure blue, which has no red: the overlay's red
    channel is half the micrograph's grey, so twice it recovers the grey.
    """
    style = rendering.HeatmapStyle(dpi=100, look="paper")
    save_figure(
        rendering.overlay_figure(np.zeros(shape), micrograph, style),
        tmp_path / "overlay.jpeg",
        style.dpi,
    )
    return 2.0 * read_rgb(tmp_path / "overlay.jpeg")[..., 0] / 255.0


def assert_drawn_as(drawn: np.ndarray, expected: np.ndarray) -> None:
    """Fails unless a drawn grey image matches the expected one wherever the expected one is
    uniform within two pixels, which leaves out the edges that resampling and JPEG blur."""
    assert drawn.shape == expected.shape
    uniform = ndimage.maximum_filter(expected, size=5) == ndimage.minimum_filter(expected, size=5)
    # JPEG's error of a few levels is doubled by recovering the grey from half of it.
    np.testing.assert_allclose(drawn[uniform], expected[uniform], atol=0.05)


def test_overlay_draws_micrograph_cropped_by_stage_2_from_the_top_left(tmp_path):
    """A micrograph 10 pixels larger than its map on each axis is drawn as its top-left part,
    pixel for pixel, so its black bottom and right edge do not appear."""
    micrograph = placement_micrograph(42, 58)
    drawn = drawn_micrograph(tmp_path, micrograph, (32, 48))
    assert_drawn_as(drawn, micrograph[:32, :48])
    assert drawn.min() > 0.4


def test_overlay_stretches_micrograph_resized_by_stage_2_over_the_map(tmp_path):
    """A micrograph twice its map's size is drawn whole, shrunk by two, black edge included."""
    micrograph = placement_micrograph(64, 96)
    drawn = drawn_micrograph(tmp_path, micrograph, (32, 48))
    halved = micrograph.reshape(32, 2, 48, 2).mean(axis=(1, 3))
    assert_drawn_as(drawn, halved)
    assert drawn[-2:, -2:].max() < 0.05


@pytest.mark.parametrize(
    ("micrograph_shape", "cropped"),
    [
        ((32, 48), True),
        ((47, 63), True),
        ((48, 48), False),
        ((32, 64), False),
        ((40, 40), False),
        ((64, 96), False),
    ],
    ids=["same-size", "15-larger", "16-taller", "16-wider", "narrower", "double"],
)
def test_fit_micrograph_crops_only_within_the_crop_margin(micrograph_shape, cropped):
    """A micrograph exceeding the map by less than 16 pixels on both axes is cut to the map's
    top left; any other is returned whole, to be stretched."""
    micrograph = np.random.default_rng(1).random(micrograph_shape)
    fitted = rendering.fit_micrograph(micrograph, (32, 48))
    expected = micrograph[:32, :48] if cropped else micrograph
    np.testing.assert_array_equal(fitted, expected)


def drawn_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The top, bottom, left and right (exclusive) pixel of the largest connected region of a
    mask, so that stray pixels of text in the same colour are left out."""
    labels, count = ndimage.label(mask)
    assert count > 0, "no pixel of the colour looked for"
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    rows, columns = ndimage.find_objects(labels)[int(np.argmax(sizes))]
    return rows.start, rows.stop, columns.start, columns.stop


def blend(colour: np.ndarray, grey: float) -> np.ndarray:
    """The 0..255 RGB colour of a colour drawn at half opacity over a grey in [0, 1]."""
    return HALF * colour + (1.0 - HALF) * grey * 255.0


def colour_box(pixels: np.ndarray, colour) -> tuple[int, int, int, int]:
    """The drawn box of the largest region of one colour in a decoded image."""
    return drawn_box(np.abs(pixels - colour).max(axis=-1) <= PANEL_COLOUR_TOLERANCE)


def assert_beside(left_box, right_box) -> None:
    """Fails unless two boxes share their rows and the second starts where the first ends."""
    assert abs(left_box[0] - right_box[0]) <= EXTENT_TOLERANCE
    assert abs(left_box[1] - right_box[1]) <= EXTENT_TOLERANCE
    assert abs(left_box[3] - right_box[2]) <= EXTENT_TOLERANCE


def assert_above(top_box, bottom_box) -> None:
    """Fails unless two boxes share their columns and the second starts where the first ends."""
    assert abs(top_box[2] - bottom_box[2]) <= EXTENT_TOLERANCE
    assert abs(top_box[3] - bottom_box[3]) <= EXTENT_TOLERANCE
    assert abs(top_box[1] - bottom_box[0]) <= EXTENT_TOLERANCE


def union(*boxes) -> tuple[int, int, int, int]:
    """The smallest box holding all the boxes given."""
    tops, bottoms, lefts, rights = zip(*boxes)
    return min(tops), max(bottoms), min(lefts), max(rights)


@pytest.fixture(scope="module")
def panel(tmp_path_factory) -> np.ndarray:
    """The decoded panel of a 64x128 map, red in its top half and blue in its bottom half, over a
    micrograph dark in its left half and bright in its right half."""
    values = np.zeros((64, 128))
    values[:32] = 1.0
    micrograph = np.full((64, 128), DARK)
    micrograph[:, 64:] = BRIGHT
    path = tmp_path_factory.mktemp("panel") / "panel.png"
    style = rendering.HeatmapStyle(sigma=0.0, dpi=100)
    save_figure(
        rendering.panel_figure("grain", values, values, style, micrograph),
        path,
        min(style.dpi, rendering.PANEL_MAXIMUM_DPI),
    )
    return read_rgb(path)


def test_panel_micrograph_view_shows_the_micrograph(panel):
    """The panel's first view is the micrograph: its dark half beside its bright half, in grey."""
    dark = colour_box(panel, DARK * 255.0)
    bright = colour_box(panel, BRIGHT * 255.0)
    assert_beside(dark, bright)
    assert abs((dark[3] - dark[2]) - (bright[3] - bright[2])) <= EXTENT_TOLERANCE
    assert dark[2] < colour_box(panel, RED)[2]


def test_panel_heatmap_view_shows_red_above_blue(panel):
    """The heatmap view has the map's red top half above its blue bottom half, right of the
    micrograph and level with it."""
    red, blue = colour_box(panel, RED), colour_box(panel, BLUE)
    assert_above(red, blue)
    assert abs((red[1] - red[0]) - (blue[1] - blue[0])) <= EXTENT_TOLERANCE
    micrograph = union(colour_box(panel, DARK * 255.0), colour_box(panel, BRIGHT * 255.0))
    heatmap = union(red, blue)
    assert heatmap[2] > micrograph[3]
    assert abs(heatmap[0] - micrograph[0]) <= EXTENT_TOLERANCE
    assert abs(heatmap[1] - micrograph[1]) <= EXTENT_TOLERANCE


def test_panel_overlay_view_blends_heatmap_over_micrograph(panel):
    """The last view shows the heatmap blended half over the micrograph's grey, quadrant by
    quadrant, right of the heatmap view."""
    red_dark = colour_box(panel, blend(RED, DARK))
    assert_beside(red_dark, colour_box(panel, blend(RED, BRIGHT)))
    assert_above(red_dark, colour_box(panel, blend(BLUE, DARK)))
    assert_beside(colour_box(panel, blend(BLUE, DARK)), colour_box(panel, blend(BLUE, BRIGHT)))
    assert red_dark[2] > colour_box(panel, RED)[3]


def test_panel_views_keep_the_maps_aspect(panel):
    """The micrograph and heatmap views of a 64x128 map are drawn twice as wide as tall."""
    micrograph = union(colour_box(panel, DARK * 255.0), colour_box(panel, BRIGHT * 255.0))
    heatmap = union(colour_box(panel, RED), colour_box(panel, BLUE))
    for top, bottom, left, right in (micrograph, heatmap):
        assert bottom - top > 50
        assert abs((right - left) - 2 * (bottom - top)) <= EXTENT_TOLERANCE


def test_panel_without_micrograph_shows_attribution_and_heatmap(tmp_path):
    """Without a micrograph the panel is two views wide: the grey attribution, then the heatmap."""
    values = np.zeros((24, 24))
    values[:12] = 1.0
    style = rendering.HeatmapStyle(sigma=0.0, dpi=50)
    save_figure(
        rendering.panel_figure("grain", values, values, style),
        tmp_path / "panel.png",
        min(style.dpi, rendering.PANEL_MAXIMUM_DPI),
    )
    pixels = read_rgb(tmp_path / "panel.png")
    assert pixels.shape[1] == (2 * rendering.PANEL_COLUMN_INCHES + 1.0) * 50
    black = colour_box(pixels, 0.0)
    red, blue = colour_box(pixels, RED), colour_box(pixels, BLUE)
    assert_above(red, blue)
    assert black[3] < red[2]
    assert abs(black[1] - blue[1]) <= EXTENT_TOLERANCE


def test_panel_dpi_is_capped(tmp_path):
    """Panels are written at no more than the panel dpi cap, however high the heatmap dpi."""
    raw = sample_map()
    values, _ = rendering.heatmap_values(raw, 1.0)
    save_figure(
        rendering.panel_figure("grain", raw, values, rendering.HeatmapStyle()),
        tmp_path / "panel.png",
        min(rendering.HeatmapStyle().dpi, rendering.PANEL_MAXIMUM_DPI),
    )
    width, _ = image_size(tmp_path / "panel.png")
    assert width == 7 * rendering.PANEL_MAXIMUM_DPI


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sigma": -1.0}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"cmap": "bwrr"}, "did you mean bwr"),
        ({"cmap": "BWR"}, "did you mean bwr"),
        ({"vmin": 0.4, "vmax": 0.4}, "vmin"),
        ({"vmin": "often"}, "vmin"),
        ({"dpi": 0.0}, "dpi"),
    ],
)
def test_style_rejects_invalid_settings(settings, message):
    """An out-of-range setting or unknown colormap is a setting error naming the setting."""
    with pytest.raises(SettingError, match=message):
        rendering.HeatmapStyle(**settings)


def test_render_leaves_only_the_destination_file(tmp_path):
    """A render writes its file atomically, leaving no temporary file beside it."""
    values, _ = rendering.heatmap_values(sample_map(), 1.0)
    save_figure(
        rendering.heatmap_figure(values, rendering.HeatmapStyle(dpi=100)),
        tmp_path / "heat.jpeg",
        100,
    )
    assert [path.name for path in tmp_path.iterdir()] == ["heat.jpeg"]


def test_failed_render_leaves_no_file(tmp_path):
    """A render that fails (here, to an unknown format) leaves neither the file nor a temporary."""
    values, _ = rendering.heatmap_values(sample_map(), 1.0)
    with pytest.raises(ValueError):
        save_figure(
            rendering.heatmap_figure(values, rendering.HeatmapStyle(dpi=100)),
            tmp_path / "heat.unknown",
            100,
        )
    assert list(tmp_path.iterdir()) == []
