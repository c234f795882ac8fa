"""A scale bar in micrometres on a picture of a micrograph whose pixel size is known.

The bar is matplotlib's own ``AnchoredSizeBar``, given a length of 1, 2 or 5 times a power of ten
that fits in a fifth of the image's width, as a scale bar on a microscope's print is, on a
half-opaque dark box so that it reads over light and dark phases alike. The
maintained ``matplotlib-scalebar`` package chooses lengths the same way, but it would be one more
runtime dependency for what is here a length and a label, so the package keeps to matplotlib.
"""

import math

from matplotlib.axes import Axes
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from complexstep import defaults
from complexstep.errors import SettingError

NICE_STEPS = (1.0, 2.0, 5.0)
"""The leading digits of a scale bar's length, times a power of ten."""

_UNITS = ((1e3, "mm"), (1.0, "µm"), (1e-3, "nm"))


def nice_length(longest: float) -> float:
    """The longest length of 1, 2 or 5 times a power of ten that is no longer than ``longest``.

    Raises:
        SettingError: if ``longest`` is not a positive finite number.
    """
    if not (math.isfinite(longest) and longest > 0):
        raise SettingError(f"a scale bar needs a positive length, not {longest}")
    power = 10.0 ** math.floor(math.log10(longest))
    # log10 can land a hair below an exact power of ten; the tolerance keeps 1000 at 1000.
    return max(step * power for step in NICE_STEPS if step * power <= longest * (1 + 1e-9))


def length_label(micrometres: float) -> str:
    """A length in the unit that keeps its number between 1 and 1000: "500 nm", "20 µm"."""
    for scale, unit in _UNITS:
        if micrometres >= scale or unit == "nm":
            return f"{micrometres / scale:.3g} {unit}"
    raise AssertionError("unreachable: nm takes every length")


def add_scale_bar(
    axes: Axes,
    pixel_size: float,
    *,
    fraction: float = defaults.SCALE_BAR_FRACTION,
    colour: str = defaults.SCALE_BAR_COLOUR,
    location: str = defaults.SCALE_BAR_LOCATION,
) -> AnchoredSizeBar:
    """Draws a scale bar on axes that show an image at one data unit per image pixel.

    That is how ``imshow`` draws an image without an ``extent``; the bar's length is taken from
    the axes' x-limits, so a zoomed view gets a bar that fits what it shows.

    Args:
        axes: the axes holding the image.
        pixel_size: the side of an image pixel in micrometres.
        fraction: the most of the shown width the bar may span.
        colour: the colour of the bar and its label.
        location: where the bar sits, as matplotlib's legend locations are named.

    Returns:
        The bar, added to ``axes``; its length in micrometres is in its label.

    Raises:
        SettingError: if ``pixel_size`` or ``fraction`` is not a positive number.
    """
    if not (math.isfinite(pixel_size) and pixel_size > 0):
        raise SettingError(f"a scale bar needs a positive pixel size in µm, not {pixel_size}")
    if not 0 < fraction <= 1:
        raise SettingError(f"a scale bar spans a fraction of the width in (0, 1], not {fraction}")
    left, right = axes.get_xlim()
    bottom, top = axes.get_ylim()
    length = nice_length(fraction * abs(right - left) * pixel_size)
    bar = AnchoredSizeBar(
        axes.transData,
        length / pixel_size,
        length_label(length),
        location,
        pad=0.5,
        sep=3,
        frameon=True,
        size_vertical=max(1.0, abs(top - bottom) * defaults.SCALE_BAR_THICKNESS),
        color=colour,
    )
    # The bar is a rectangle drawn with an edge, which would make it a line width longer than
    # the length its label says.
    for rectangle in bar.size_bar.get_children():
        rectangle.set_linewidth(0)
    bar.patch.set(
        facecolor=defaults.SCALE_BAR_BOX_COLOUR, alpha=defaults.SCALE_BAR_BOX_ALPHA, linewidth=0
    )
    axes.add_artist(bar)
    return bar
