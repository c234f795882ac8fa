"""Tests of complexstep.heatmaps: scaling, smoothing, colour limits and the rendered pixels.

Rendered colours are checked against an independent rendering of the same values: the map scaled
and smoothed here with numpy and scipy, coloured through ``matplotlib.colormaps`` with a
``Normalize``, and compared with the decoded output at the centre of each map pixel's block.
"""

from collections import Counter
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import Normalize
from PIL import Image
from scipy import ndimage

from complexstep import heatmaps
from complexstep.cli import UserError
from complexstep.images import UnreadableImageError

# At 400 dpi each map pixel is a 4x4 block of output pixels, which keeps renders small and fast.
TEST_DPI = 400
BLOCK = TEST_DPI // 100
# JPEG at quality 95 with full chroma keeps block centres within a few levels of the true colour
# (mean below 1, at most 8 levels); a lower limit off by 0.01 or a sigma off by 0.5 exceeds these.
MEAN_TOLERANCE = 1.5
MAX_TOLERANCE = 12.0


def sample_map(height: int = 24, width: int = 24) -> np.ndarray:
    """An unscaled map with a hot spot on a gradient, with mild noise, like a stage 2 attribution.

    The gradient puts about half the smoothed values between the paper's limits, so that a wrong
    limit or sigma changes many colours rather than a few.
    """
    rows, columns = np.mgrid[0:height, 0:width]
    hot_spot = np.exp(-((rows - height * 0.3) ** 2 + (columns - width * 0.6) ** 2) / 18.0)
    gradient = 0.5 * columns / width + 0.3 * rows / height
    noise = np.random.default_rng(7).random((height, width))
    return 2.0 * hot_spot + gradient + 0.05 * noise + 2.0


def expected_colours(
    raw: np.ndarray, sigma: float, cmap: str, vmin: float, vmax: float
) -> np.ndarray:
    """The 0..255 RGB colours of a map rendered the paper's way, computed without the library."""
    scaled = (raw - raw.min()) / (raw.max() - raw.min())
    smoothed = ndimage.gaussian_filter(scaled, sigma, mode="nearest") if sigma else scaled
    rgba = matplotlib.colormaps[cmap](Normalize(vmin=vmin, vmax=vmax, clip=True)(smoothed))
    return rgba[..., :3] * 255.0


def read_rgb(image_path) -> np.ndarray:
    """The decoded pixels of an image, as float64 RGB."""
    with Image.open(image_path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def image_size(image_path) -> tuple[int, int]:
    """The width and height of an image file."""
    with Image.open(image_path) as image:
        return image.size


def block_centres(image_path, shape: tuple[int, int], block: int = BLOCK) -> np.ndarray:
    """The decoded RGB value at the centre of every map pixel's block of an output image."""
    pixels = read_rgb(image_path)
    assert pixels.shape[:2] == (shape[0] * block, shape[1] * block)
    centre = block // 2
    return pixels[centre::block, centre::block]


def assert_close_colours(actual: np.ndarray, expected: np.ndarray) -> None:
    """Fails unless two colour arrays agree within the JPEG tolerances."""
    difference = np.abs(actual - expected)
    assert difference.mean() < MEAN_TOLERANCE, difference.mean()
    assert difference.max() < MAX_TOLERANCE, difference.max()


def save_grey(path, values: np.ndarray) -> None:
    """Writes values in [0, 1] as an 8-bit grey image, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(values * 255.0).astype(np.uint8)).save(path)


def unit_map(side: int = 8) -> np.ndarray:
    """A small sample map scaled to [0, 1], for saving as a grey image."""
    values = sample_map(side, side)
    return (values - values.min()) / (values.max() - values.min())


def relative_files(folder) -> list[str]:
    """The files under a folder, as sorted POSIX paths relative to it."""
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


def report_lines(stderr: str) -> list[str]:
    """The lines of standard error other than the progress line."""
    return [line for line in stderr.splitlines() if not line.startswith("heatmaps [")]


def test_smooth_with_zero_sigma_leaves_map_unchanged():
    """Sigma 0 turns smoothing off."""
    values = sample_map()
    np.testing.assert_array_equal(heatmaps.smooth(values, 0.0), values)


def test_smooth_spreads_a_hot_pixel_keeping_its_total():
    """Smoothing lowers an isolated peak, raises its neighbours and keeps the map's total."""
    values = np.zeros((21, 21))
    values[10, 10] = 1.0
    smoothed = heatmaps.smooth(values, 1.0)
    assert 0.1 < smoothed[10, 10] < 0.2
    assert smoothed[10, 11] > 0.05
    assert smoothed.sum() == pytest.approx(1.0)


def test_load_attribution_prefers_npy_beside_png(tmp_path):
    """Where <stem>.npy lies beside <stem>.png, its raw values are read, not the grey image."""
    raw = sample_map().astype(np.float32)
    np.save(tmp_path / "grain.npy", raw)
    Image.fromarray(np.zeros((24, 24), dtype=np.uint8)).save(tmp_path / "grain.png")
    np.testing.assert_array_equal(heatmaps.load_attribution(tmp_path / "grain.png"), raw)


def test_load_attribution_reads_grey_image_without_npy(tmp_path):
    """Without a .npy, the grey image's values are read at its own size, scaled to [0, 1]."""
    grey = np.arange(40, dtype=np.uint8).reshape(5, 8) * 6
    Image.fromarray(grey).save(tmp_path / "grain.png")
    values = heatmaps.load_attribution(tmp_path / "grain.png")
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
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "grain.png")
    with pytest.raises(UnreadableImageError, match="grain.npy"):
        heatmaps.load_attribution(tmp_path / "grain.png")


def test_auto_limits_are_the_2nd_and_98th_percentiles():
    """Automatic limits are the map's 2nd and 98th percentiles."""
    values = np.linspace(0.0, 1.0, 101).reshape(1, -1)
    assert heatmaps.colour_limits(values, "auto", "auto") == pytest.approx((0.02, 0.98))


def test_fixed_limits_are_kept():
    """Numeric limits are used as given, whatever the map's values."""
    values = np.linspace(0.0, 1.0, 101).reshape(1, -1)
    assert heatmaps.colour_limits(values, 0.15, 0.4) == (0.15, 0.4)


def test_auto_limit_beyond_fixed_limit_is_moved_past_it():
    """An automatic lower limit above a fixed upper limit is moved just below the fixed one."""
    values = np.full((4, 4), 0.9)
    low, high = heatmaps.colour_limits(values, "auto", 0.4)
    assert high == 0.4
    assert 0.4 - 1e-3 < low < 0.4


def test_auto_limits_of_flat_map_still_increase():
    """A flat map's automatic limits still have the upper strictly above the lower."""
    low, high = heatmaps.colour_limits(np.zeros((4, 4)), "auto", "auto")
    assert low == 0.0
    assert high > low


@pytest.mark.parametrize(
    ("sigma", "cmap", "vmin", "vmax"),
    [(1.0, "bwr", 0.15, 0.4), (2.0, "viridis", 0.0, 0.7), (0.0, "bwr", 0.2, 0.5)],
)
def test_heatmap_colours_match_independent_rendering(tmp_path, sigma, cmap, vmin, vmax):
    """Each map pixel is drawn in the colormap's colour of its scaled and smoothed value."""
    raw = sample_map()
    style = heatmaps.HeatmapStyle(sigma=sigma, cmap=cmap, vmin=vmin, vmax=vmax, dpi=TEST_DPI)
    values, _ = heatmaps.heatmap_values(raw, sigma)
    heatmaps.render_heatmap(tmp_path / "heat.jpeg", values, style)
    assert_close_colours(
        block_centres(tmp_path / "heat.jpeg", raw.shape),
        expected_colours(raw, sigma, cmap, vmin, vmax),
    )


def test_auto_limit_colours_match_independent_percentiles(tmp_path):
    """With automatic limits, colours span the smoothed map's own 2nd to 98th percentiles."""
    raw = sample_map()
    style = heatmaps.HeatmapStyle(vmin="auto", vmax="auto", dpi=TEST_DPI)
    values, _ = heatmaps.heatmap_values(raw, style.sigma)
    heatmaps.render_heatmap(tmp_path / "heat.jpeg", values, style)
    scaled = (raw - raw.min()) / (raw.max() - raw.min())
    low, high = np.percentile(ndimage.gaussian_filter(scaled, 1.0, mode="nearest"), [2, 98])
    assert_close_colours(
        block_centres(tmp_path / "heat.jpeg", raw.shape),
        expected_colours(raw, 1.0, "bwr", low, high),
    )


def test_paper_sized_heatmap_fills_1536_pixel_canvas(tmp_path):
    """A 256x256 map at the paper's 600 dpi fills a 1536x1536 image to its corners, no margin."""
    raw = np.zeros((256, 256))
    raw[:, 128:] = 1.0
    values, _ = heatmaps.heatmap_values(raw, 1.0)
    heatmaps.render_heatmap(tmp_path / "heat.jpeg", values, heatmaps.HeatmapStyle())
    pixels = read_rgb(tmp_path / "heat.jpeg")
    assert pixels.shape == (1536, 1536, 3)
    blue, red = np.array([0.0, 0.0, 255.0]), np.array([255.0, 0.0, 0.0])
    for row, column, colour in [(0, 0, blue), (-1, 0, blue), (0, -1, red), (-1, -1, red)]:
        assert np.abs(pixels[row, column] - colour).max() < MAX_TOLERANCE


def test_constant_map_renders_in_the_colormaps_first_colour(tmp_path):
    """A constant map is drawn uniformly in the lowest colour, without NaN artefacts."""
    values, was_constant = heatmaps.heatmap_values(np.full((16, 16), 7.0), 1.0)
    assert was_constant
    heatmaps.render_heatmap(tmp_path / "heat.jpeg", values, heatmaps.HeatmapStyle(dpi=TEST_DPI))
    lowest = np.array(matplotlib.colormaps["bwr"](0.0)[:3]) * 255.0
    centres = block_centres(tmp_path / "heat.jpeg", (16, 16))
    assert np.abs(centres - lowest).max() < MAX_TOLERANCE


def test_overlay_blends_heatmap_half_over_micrograph(tmp_path):
    """Overlay pixels are the heatmap colour and the micrograph grey mixed half and half."""
    raw = sample_map()
    micrograph = np.tile(np.linspace(0.1, 0.9, 24), (24, 1))
    style = heatmaps.HeatmapStyle(dpi=TEST_DPI)
    values, _ = heatmaps.heatmap_values(raw, 1.0)
    heatmaps.render_overlay(tmp_path / "overlay.jpeg", values, micrograph, style)
    grey = np.repeat(micrograph[..., np.newaxis] * 255.0, 3, axis=2)
    expected = 0.5 * expected_colours(raw, 1.0, "bwr", 0.15, 0.4) + 0.5 * grey
    assert_close_colours(block_centres(tmp_path / "overlay.jpeg", raw.shape), expected)


def test_overlay_stretches_micrograph_of_another_size_over_the_map(tmp_path):
    """A micrograph of another size is stretched so the overlay has the heatmap's size."""
    values, _ = heatmaps.heatmap_values(sample_map(), 1.0)
    micrograph = np.full((50, 30), 0.5)
    style = heatmaps.HeatmapStyle(dpi=TEST_DPI)
    heatmaps.render_overlay(tmp_path / "overlay.jpeg", values, micrograph, style)
    assert image_size(tmp_path / "overlay.jpeg") == (24 * BLOCK, 24 * BLOCK)


def test_panel_shows_four_views_side_by_side(tmp_path):
    """A panel with a micrograph is a decodable landscape figure of four square views."""
    raw = sample_map()
    values, _ = heatmaps.heatmap_values(raw, 1.0)
    style = heatmaps.HeatmapStyle(dpi=50)
    micrograph = np.full((24, 24), 0.5)
    heatmaps.render_panel(tmp_path / "panel.png", "grain", raw, values, style, micrograph)
    width, height = image_size(tmp_path / "panel.png")
    assert (width, height) == (650, 190)


def test_panel_without_micrograph_shows_two_views(tmp_path):
    """Without a micrograph the panel holds only the attribution and heatmap, so it is narrower."""
    raw = sample_map()
    values, _ = heatmaps.heatmap_values(raw, 1.0)
    heatmaps.render_panel(
        tmp_path / "panel.png", "grain", raw, values, heatmaps.HeatmapStyle(dpi=50)
    )
    assert image_size(tmp_path / "panel.png") == (350, 190)


def test_panel_dpi_is_capped(tmp_path):
    """Panels are written at no more than the panel dpi cap, however high the heatmap dpi."""
    raw = sample_map()
    values, _ = heatmaps.heatmap_values(raw, 1.0)
    heatmaps.render_panel(tmp_path / "panel.png", "grain", raw, values, heatmaps.HeatmapStyle())
    width, _ = image_size(tmp_path / "panel.png")
    assert width == 7 * heatmaps.PANEL_MAXIMUM_DPI


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
    """An out-of-range setting or unknown colormap is a user error naming the setting."""
    with pytest.raises(UserError, match=message):
        heatmaps.HeatmapStyle(**settings)


def test_render_leaves_only_the_destination_file(tmp_path):
    """A render writes its file atomically, leaving no temporary file beside it."""
    values, _ = heatmaps.heatmap_values(sample_map(), 1.0)
    heatmaps.render_heatmap(tmp_path / "heat.jpeg", values, heatmaps.HeatmapStyle(dpi=100))
    assert [path.name for path in tmp_path.iterdir()] == ["heat.jpeg"]


def test_failed_render_leaves_no_file(tmp_path):
    """A render that fails (here, to an unknown format) leaves neither the file nor a temporary."""
    values, _ = heatmaps.heatmap_values(sample_map(), 1.0)
    with pytest.raises(ValueError):
        heatmaps.render_heatmap(tmp_path / "heat.unknown", values, heatmaps.HeatmapStyle(dpi=100))
    assert list(tmp_path.iterdir()) == []


def test_render_folder_mirrors_subfolders_and_counts_every_view(tmp_path, capsys):
    """Each input gets its views under its own subfolder, and the report counts each kind."""
    save_grey(tmp_path / "in" / "all" / "grain.png", unit_map())
    save_grey(tmp_path / "in" / "extra" / "grain.png", unit_map().T)
    save_grey(tmp_path / "micrographs" / "grain.tif", np.full((12, 12), 0.5))
    report = heatmaps.render_folder(
        tmp_path / "in",
        tmp_path / "out",
        heatmaps.HeatmapStyle(dpi=100),
        overlay=True,
        panel=True,
        micrographs=tmp_path / "micrographs",
    )
    assert relative_files(tmp_path / "out") == [
        "all/overlay_cpa_grain.jpeg",
        "all/panel_grain.png",
        "all/smp_cpa_grain.jpeg",
        "extra/overlay_cpa_grain.jpeg",
        "extra/panel_grain.png",
        "extra/smp_cpa_grain.jpeg",
    ]
    assert report.written == {"heatmap": 2, "overlay": 2, "panel": 2}
    assert (report.notes, report.problems) == ([], [])
    assert report.summary() == f"wrote 2 heatmaps to {tmp_path / 'out'} (2 overlays, 2 panels)"
    assert report_lines(capsys.readouterr().err) == []


def test_render_folder_skips_a_second_input_of_the_same_stem(tmp_path, capsys):
    """Of two inputs that would write the same heatmap, the later is skipped as a problem."""
    save_grey(tmp_path / "in" / "grain.jpg", unit_map())
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    report = heatmaps.render_folder(
        tmp_path / "in", tmp_path / "out", heatmaps.HeatmapStyle(dpi=100)
    )
    assert relative_files(tmp_path / "out") == ["smp_cpa_grain.jpeg"]
    assert report.problems == [
        f"skipped {tmp_path / 'in' / 'grain.png'}: its heatmap would overwrite that of "
        f"{tmp_path / 'in' / 'grain.jpg'}"
    ]
    assert report_lines(capsys.readouterr().err) == report.problems


def test_render_folder_picks_between_equal_micrograph_stems_by_subfolder(tmp_path, capsys):
    """A stem found in several micrograph subfolders is resolved by the input's own subfolder.

    Where that leaves no micrograph, or several (equal stems with different suffixes), the map is
    rendered without one and a note says why.
    """
    for subfolder in ("all", "extra", "other"):
        save_grey(tmp_path / "in" / subfolder / "grain.png", unit_map())
    micrographs = tmp_path / "micrographs"
    for name in ("all/grain.png", "extra/grain.jpg", "extra/grain.png"):
        save_grey(micrographs / name, np.full((8, 8), 0.5))
    report = heatmaps.render_folder(
        tmp_path / "in",
        tmp_path / "out",
        heatmaps.HeatmapStyle(dpi=100),
        overlay=True,
        micrographs=micrographs,
    )
    assert relative_files(tmp_path / "out") == [
        "all/overlay_cpa_grain.jpeg",
        "all/smp_cpa_grain.jpeg",
        "extra/smp_cpa_grain.jpeg",
        "other/smp_cpa_grain.jpeg",
    ]
    inputs = tmp_path / "in"
    assert report.notes == [
        f"{inputs / 'extra' / 'grain.png'}: several micrographs could be its own: "
        f"{micrographs / 'extra' / 'grain.jpg'}, {micrographs / 'extra' / 'grain.png'}",
        f"{inputs / 'other' / 'grain.png'}: no micrograph named grain in {micrographs}",
    ]
    assert report.problems == []
    assert report_lines(capsys.readouterr().err) == report.notes


def test_render_folder_records_a_file_it_cannot_write_and_goes_on(tmp_path):
    """A view that cannot be written is a problem naming it; the other views are still written."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    blocked = tmp_path / "out" / "smp_cpa_grain.jpeg"
    blocked.mkdir(parents=True)
    save_grey(tmp_path / "micrographs" / "grain.png", np.full((8, 8), 0.5))
    report = heatmaps.render_folder(
        tmp_path / "in",
        tmp_path / "out",
        heatmaps.HeatmapStyle(dpi=100),
        panel=True,
        micrographs=tmp_path / "micrographs",
    )
    assert report.problems == [f"cannot write {blocked}: Is a directory"]
    assert report.written == {"panel": 1}
    assert relative_files(tmp_path / "out") == ["panel_grain.png"]
    assert report.summary() == (
        f"wrote 0 heatmaps to {tmp_path / 'out'} (1 panel, 1 problem listed above)"
    )


def test_render_folder_treats_prefixed_names_as_outputs_only_inside_the_output_folder(tmp_path):
    """A heatmap-like name is an earlier output inside the output folder, an input elsewhere."""
    save_grey(tmp_path / "in" / "smp_cpa_old.png", unit_map())
    save_grey(tmp_path / "in" / "out" / "smp_cpa_older.jpeg", unit_map())
    heatmaps.render_folder(tmp_path / "in", tmp_path / "in" / "out", heatmaps.HeatmapStyle(dpi=100))
    assert relative_files(tmp_path / "in" / "out") == [
        "smp_cpa_older.jpeg",
        "smp_cpa_smp_cpa_old.jpeg",
    ]


def test_render_folder_without_inputs_other_than_earlier_outputs_is_a_user_error(tmp_path):
    """An input folder holding only this stage's outputs is a user error, and nothing is written."""
    save_grey(tmp_path / "maps" / "smp_cpa_old.jpeg", unit_map())
    with pytest.raises(UserError, match="no attribution images .* other than earlier heatmaps"):
        heatmaps.render_folder(tmp_path / "maps", tmp_path / "maps", heatmaps.HeatmapStyle())
    assert relative_files(tmp_path / "maps") == ["smp_cpa_old.jpeg"]


def test_render_folder_needs_micrographs_only_for_overlays_and_panels(tmp_path):
    """A missing micrograph folder is ignored for heatmaps alone and a user error for overlays."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    style = heatmaps.HeatmapStyle(dpi=100)
    missing = tmp_path / "no-micrographs"
    report = heatmaps.render_folder(tmp_path / "in", tmp_path / "out", style, micrographs=missing)
    assert report.written == {"heatmap": 1}
    with pytest.raises(UserError, match="folder not found"):
        heatmaps.render_folder(
            tmp_path / "in", tmp_path / "other", style, overlay=True, micrographs=missing
        )
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(
    ("report", "line"),
    [
        (heatmaps.Report(Path("maps"), written=Counter(heatmap=1)), "wrote 1 heatmap to maps"),
        (
            heatmaps.Report(
                Path("maps"),
                overlay=True,
                panel=True,
                written=Counter(heatmap=3, panel=1),
                problems=["a", "b"],
            ),
            "wrote 3 heatmaps to maps (0 overlays, 1 panel, 2 problems listed above)",
        ),
    ],
    ids=["heatmaps-only", "every-view-with-problems"],
)
def test_summary_counts_every_view_asked_for(report, line):
    """The summary counts heatmaps and each view asked for, even when none was written."""
    assert report.summary() == line
