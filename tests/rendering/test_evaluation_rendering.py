"""The evaluation's pictures: the curves are drawn where their values put them, and a panel shows
the micrograph and every map in its colours."""

import matplotlib
import numpy as np

from complexstep.evaluation.faithfulness import Curve
from complexstep.io.images import save_figure
from complexstep.rendering.evaluation import MAP_CMAP, curves_figure, method_panel_figure
from complexstep.rendering.heatmaps import PANEL_MAXIMUM_DPI
from rendering_helpers import read_rgb

FRACTIONS = np.linspace(0, 1, 11)


def pixels_of(picture: np.ndarray, colour, tolerance: float = 12.0) -> np.ndarray:
    """The (row, column) of every pixel within ``tolerance`` of an RGB colour in [0, 1]."""
    target = np.asarray(colour[:3]) * 255.0
    return np.argwhere(np.abs(picture - target).max(axis=-1) < tolerance)


def test_curves_are_drawn_in_each_methods_colour_where_their_values_lie(tmp_path):
    """A rising curve climbs from left to right in the first colour, a flat one stays at one
    height in the second, in both plots."""
    rising = Curve(FRACTIONS, FRACTIONS.copy())
    flat = Curve(FRACTIONS, np.full(11, 0.5))
    figure = curves_figure(
        {"rising": [(rising, rising), (rising, rising)], "flat": [(flat, flat)]}, "blur"
    )
    path = save_figure(figure, tmp_path / "curves.png", PANEL_MAXIMUM_DPI)
    picture = read_rgb(path)
    palette = matplotlib.colormaps["tab10"]
    middle = picture.shape[1] // 2
    for half in (picture[:, :middle], picture[:, middle:]):
        climbing = pixels_of(half, palette(0))
        level = pixels_of(half, palette(1))
        assert len(climbing) > 200 and len(level) > 100
        slope = np.polyfit(climbing[:, 1], climbing[:, 0], 1)[0]
        assert slope < -0.3  # rows count downwards: a rising curve's rows fall
        # Most of the flat curve's pixels lie on one row; the rest are its legend's line.
        on_line = np.abs(level[:, 0] - np.median(level[:, 0])) <= 3
        assert on_line.mean() > 0.8
        assert climbing[:, 1].max() - climbing[:, 1].min() > 0.5 * half.shape[1]


def test_a_panel_shows_the_micrograph_and_each_map_in_its_colours(tmp_path):
    """The micrograph is drawn in grey, then each map: one rising to the right runs from the
    colormap's first colour on its left to its last on its right, and its mirror image the other
    way."""
    micrograph = np.full((32, 48), 0.5, np.float32)
    ramp = np.tile(np.linspace(0, 3, 48, dtype=np.float32), (32, 1))
    figure = method_panel_figure("sample", micrograph, {"ramp": ramp, "mirror": ramp[:, ::-1]})
    path = save_figure(figure, tmp_path / "panel.png", PANEL_MAXIMUM_DPI)
    picture = read_rgb(path)
    # The middle row crosses every view; the colormap's ends are told from the colour bar's black
    # outline by exact colours, which PNG keeps.
    middle_row = picture[picture.shape[0] // 2][None]
    grey = pixels_of(middle_row, (0.5, 0.5, 0.5), tolerance=1)[:, 1]
    colormap = matplotlib.colormaps[MAP_CMAP]
    dark = pixels_of(middle_row, colormap(0.0), tolerance=2)[:, 1]
    bright = pixels_of(middle_row, colormap(1.0), tolerance=2)[:, 1]
    assert len(grey) > 100 and len(dark) > 10 and len(bright) > 10
    assert grey.max() < dark.min() < bright.min() < bright.max() < dark.max()
    # The two maps' brightest columns are their shared edge, between their darkest ones.
    assert np.ptp(bright) < np.ptp(dark) / 3
