"""Scale bars are as long as their label says, measured in the rendered picture's pixels."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from complexstep.errors import SettingError
from complexstep.rendering import scalebar
from rendering_helpers import _longest_white_run


def _render(height: int, width: int, pixel_size: float, dpi: float):
    """A black image filling a figure with one inch per 100 image pixels, with its scale bar."""
    figure = Figure(figsize=(width / 100, height / 100), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.imshow(np.zeros((height, width)), cmap="gray", vmin=0, vmax=1)
    bar = scalebar.add_scale_bar(axes, pixel_size)
    canvas.draw()
    return bar, np.asarray(canvas.buffer_rgba())[..., 0]


@pytest.mark.parametrize(
    ("height", "width", "pixel_size", "dpi", "label", "micrometres"),
    [
        (100, 200, 0.1, 200, "2 µm", 2.0),
        (256, 256, 0.015, 100, "500 nm", 0.5),
        (120, 300, 4.0, 300, "200 µm", 200.0),
    ],
)
def test_bar_length_in_pixels_matches_its_label(height, width, pixel_size, dpi, label, micrometres):
    """The bar spans length / pixel size image pixels, times the figure pixels per image pixel."""
    bar, picture = _render(height, width, pixel_size, dpi)
    assert bar.txt_label.get_text() == label
    expected = micrometres / pixel_size * dpi / 100
    length, row = _longest_white_run(picture)
    assert abs(length - expected) <= 1
    # The bar sits in the lower right corner, its text below it.
    assert row > picture.shape[0] / 2
    assert np.flatnonzero(picture[row] > 127).max() > picture.shape[1] * 0.8


@pytest.mark.parametrize(
    ("longest", "nice"), [(4.0, 2.0), (7.3, 5.0), (0.768, 0.5), (1.0, 1.0), (1000.0, 1000.0)]
)
def test_nice_length_is_the_longest_1_2_5_length_that_fits(longest, nice):
    """The chosen length is 1, 2 or 5 times a power of ten, no longer than the room for it."""
    assert scalebar.nice_length(longest) == pytest.approx(nice)


@pytest.mark.parametrize(
    ("micrometres", "label"), [(0.5, "500 nm"), (2.0, "2 µm"), (2000.0, "2 mm"), (1e-4, "0.1 nm")]
)
def test_length_label_chooses_the_unit(micrometres, label):
    """Lengths are written in nm, µm or mm, whichever keeps the number from 1 to 999."""
    assert scalebar.length_label(micrometres) == label


def test_pixel_size_must_be_positive():
    """A zero pixel size is refused rather than drawn as an infinite bar."""
    figure = Figure()
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(np.zeros((8, 8)))
    with pytest.raises(SettingError, match="positive pixel size"):
        scalebar.add_scale_bar(axes, 0.0)
