"""Stage 3's pictures: attribution maps as the paper's heatmaps, overlays and review panels.

Stage 2 leaves, for each micrograph, a raw attribution map (``<stem>.npy``, unscaled) and an 8-bit
grey copy (``<stem>.png``). The paper renders a map by min-max scaling it to [0, 1], smoothing it
with a Gaussian of sigma 1 and colouring it with matplotlib's 'bwr' colormap between 0.15 and 0.4,
at 600 dpi with no axes, so that the background is blue and the regions the code depends on are red.
This module does the same for maps of any size and shape, and adds two views for reviewing them:
the heatmap blended over its micrograph and a panel of all views side by side. By default a
heatmap and an overlay carry a colour bar beside the map, saying what was scaled how and why the
colours stop where they do, so that a picture sent alone can be read; the style "paper" draws
them bare, as the paper printed them.

Figures are drawn with matplotlib's ``Figure`` and the Agg canvas directly, without pyplot, so that
no global state or interactive backend is involved. Each picture is made by a ``*_figure``
function from arrays, which a notebook shows as it is and stage 3 writes with
``images.save_figure``, so that the files and the figures cannot differ; nothing here reads or
writes a file.
"""

import dataclasses
import difflib
import math

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from skimage.filters import gaussian

from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError
from complexstep.io.images import scale_to_unit
from complexstep.rendering.scalebar import add_scale_bar
from complexstep.rendering.titles import draw_title

AUTO = "auto"
"""A colour limit taken from the map's own values instead of a fixed number."""

AUTO_PERCENTILES = (2.0, 98.0)
"""Percentiles of the smoothed map used for automatic lower and upper colour limits.

The 2nd and 98th percentiles rather than the minimum and maximum, so that a few extreme pixels do
not squeeze the colours of everything else into the middle of the colormap.
"""

MINIMUM_COLOUR_SPAN = 1e-6
"""The smallest gap kept between automatic colour limits, so that a flat map still has a scale."""

MAP_PIXELS_PER_INCH = 100.0
"""Figure inches per map pixel: a 256x256 map makes a 2.56-inch figure, 1536 px a side at 600 dpi.

Each map pixel then covers a whole block of dpi/100 by dpi/100 output pixels, so heatmaps at
different dpi differ only in block size.
"""

MAXIMUM_PICTURE_SIDE = 2**16 - 1
"""The most pixels a side matplotlib's Agg renderer draws."""

OVERLAY_ALPHA = 0.5
"""Opacity of the heatmap drawn over its micrograph: half, so that both remain readable."""

PANEL_MAXIMUM_DPI = 150.0
"""Panels are overview figures; beyond this dpi they only grow, so they use the lower of the two."""

PANEL_COLUMN_INCHES = 3.0
"""Width of one view in a panel."""

HEATMAP_PREFIX = "smp_cpa_"
"""Start of a heatmap's name, ``smp_cpa_<stem>.jpeg``, as in the paper's code."""

OVERLAY_PREFIX = "overlay_cpa_"
"""Start of an overlay's name, ``overlay_cpa_<stem>.jpeg``."""

PANEL_PREFIX = "panel_"
"""Start of a panel's name, ``panel_<stem>.png``."""

CROP_MARGIN = 16
"""The most pixels by which a micrograph explained at its own resolution can exceed its map along
each axis: stage 2 crops it from the bottom and right to multiples of 16 for the paper's model."""


SCALE_LABELS = {"map": "each map min-max scaled", "folder": "one range for the folder"}
"""How a colour bar states the scale its maps were coloured on."""

COLOUR_BAR_POINTS = (4.0, 9.0)
"""The smallest and largest font, in points, of a heatmap's colour bar: its text grows with the
picture's height, a ninth of an inch of text per inch, up to the size of a printed caption."""

COLOUR_BAR_POINTS_PER_INCH = 3.5
"""Points of colour bar text per inch of picture height (8 points on a 256-pixel-high map)."""

COLOUR_BAR_STRIP_EMS = 7.5
"""Width of the strip beside a heatmap that holds its colour bar, in widths of its font's "M": the
bar, its tick labels and two lines of label, with a margin."""

RAW_PERCENTILE = 99.5
"""The percentile of a raw map drawn white in a panel: a few extreme pixels would otherwise make
the rest of the map one dark grey."""

LOOKUP_SIZE = 256
"""Entries of each colormap's lookup table in the explorer's page, as matplotlib's colormaps
have."""


def colormap_table(name: str) -> np.ndarray:
    """A colormap's lookup table as the page uses it: ``LOOKUP_SIZE`` RGB rows of uint8.

    The page colours a value ``t`` in [0, 1] with row ``min(floor(t * LOOKUP_SIZE), LOOKUP_SIZE -
    1)``, as matplotlib's colormaps do.
    """
    colormap = matplotlib.colormaps[name].resampled(LOOKUP_SIZE)
    return colormap(np.arange(LOOKUP_SIZE), bytes=True)[:, :3]


@dataclasses.dataclass(frozen=True)
class HeatmapStyle:
    """How attribution maps are smoothed and coloured; the defaults are the paper's.

    Attributes:
        sigma: standard deviation, in map pixels, of the Gaussian smoothing; 0 leaves the map as is.
        cmap: name of a matplotlib colormap.
        vmin: value coloured with the colormap's first colour, or ``AUTO``; None for the map
            kind's (``defaults.KIND_COLOUR_LIMITS``: the paper's 0.15 for its map).
        vmax: value coloured with the colormap's last colour, or ``AUTO``; None for the map
            kind's (the paper's 0.4 for its map).
        dpi: resolution of heatmaps and overlays, in dots per inch, within
            ``defaults.DPI_RANGE``.
        scale: how the maps were scaled to [0, 1], one of ``defaults.SCALES``, which panels state:
            "map", each by its own min-max, or "folder", every map of a run by one range.
        kind: the kind of map drawn, one of ``defaults.MAP_KINDS``, which chooses the limits
            left None.
        look: one of ``defaults.HEATMAP_STYLES``: "readable", heatmaps and overlays with a
            colour bar, or "paper", the bare picture of the paper.

    Raises:
        SettingError: on construction, if a setting is out of range or names no colormap.
    """

    sigma: float = defaults.SIGMA
    cmap: str = defaults.CMAP
    vmin: float | str | None = None
    vmax: float | str | None = None
    dpi: float = defaults.DPI
    scale: str = defaults.SCALE
    kind: str = defaults.MAP_KIND
    look: str = defaults.HEATMAP_STYLE

    @property
    def colour_bar(self) -> bool:
        """Whether heatmaps and overlays carry a colour bar: all but the paper's bare look."""
        return self.look != "paper"

    @property
    def limits(self) -> tuple[float | str, float | str]:
        """The colour limits, numbers or ``AUTO``, with those left None the kind's."""
        low, high = defaults.KIND_COLOUR_LIMITS[self.kind]
        return (low if self.vmin is None else self.vmin, high if self.vmax is None else self.vmax)

    def __post_init__(self) -> None:
        """Checks every setting, so that a style that exists can always be rendered."""
        if self.scale not in defaults.SCALES:
            raise SettingError(
                f"unknown scale {self.scale!r}: choose one of {', '.join(defaults.SCALES)}"
            )
        if not math.isfinite(self.sigma) or self.sigma < 0:
            raise SettingError(f"sigma must be a number >= 0, not {self.sigma}")
        if self.cmap not in matplotlib.colormaps:
            # Names are matched ignoring case, since 'BWR' or 'Viridis' are the likely slips.
            names = {name.lower(): name for name in matplotlib.colormaps}
            close = [names[match] for match in difflib.get_close_matches(self.cmap.lower(), names)]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SettingError(f"unknown colormap {self.cmap!r}{hint}")
        if self.look not in defaults.HEATMAP_STYLES:
            raise SettingError(
                f"unknown style {self.look!r}: choose one of {', '.join(defaults.HEATMAP_STYLES)}"
            )
        if self.kind not in defaults.MAP_KINDS:
            raise SettingError(
                f"unknown map kind {self.kind!r}: choose one of {', '.join(defaults.MAP_KINDS)}"
            )
        for name, limit in zip(("vmin", "vmax"), self.limits, strict=True):
            if limit != AUTO and not (isinstance(limit, float | int) and math.isfinite(limit)):
                raise SettingError(f"{name} must be a number or {AUTO!r}, not {limit!r}")
        vmin, vmax = self.limits
        if AUTO not in (vmin, vmax) and vmin >= vmax:
            raise SettingError(f"vmin ({vmin}) must be less than vmax ({vmax})")
        low, high = defaults.DPI_RANGE
        if not low <= self.dpi <= high:
            raise SettingError(
                f"dpi must be from {low:g} to {high:g}, not {self.dpi}: below, small maps make "
                "pictures of a few pixels; above, large ones more than matplotlib draws"
            )


def middle_slices(volume: np.ndarray, fill: float, gap: int = 2) -> np.ndarray:
    """A volume's three middle slices side by side, as one picture: across its depth (height x
    width), its height (depth x width) and its width (depth x height), bottoms aligned, ``gap``
    columns of ``fill`` between them and above the shorter ones."""
    depth, height, width = volume.shape[:3]
    slices = [volume[depth // 2], volume[:, height // 2], volume[:, :, width // 2]]
    tallest = max(piece.shape[0] for piece in slices)
    picture = np.full((tallest, sum(piece.shape[1] for piece in slices) + 2 * gap), fill)
    left = 0
    for piece in slices:
        picture[tallest - piece.shape[0] :, left : left + piece.shape[1]] = piece
        left += piece.shape[1] + gap
    return picture


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Smooths a map with a Gaussian, as the paper does before colouring.

    Args:
        values: a 2-D array, or a volume's 3-D one, smoothed in 3-D.
        sigma: standard deviation in pixels; 0 returns an unchanged copy.

    Returns:
        The smoothed float64 array; edges are extended with their nearest values.
    """
    values = np.asarray(values, dtype=np.float64)
    if sigma == 0:
        return values.copy()
    return gaussian(values, sigma=sigma, mode="nearest", truncate=4.0, preserve_range=True)


def heatmap_values(
    attribution: np.ndarray, sigma: float, value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, bool]:
    """Turns a raw attribution map into the values that are coloured: scaled, then smoothed.

    Args:
        attribution: a raw map from ``maps.load_attribution``.
        sigma: standard deviation of the smoothing, in pixels.
        value_range: the raw values that become 0 and 1, shared by the maps of a folder
            (``folder_range``); None scales the map by its own minimum and maximum.

    Returns:
        The values in [0, 1] and whether the map (or the range) was constant.
    """
    if value_range is None:
        scaled, was_constant = scale_to_unit(attribution)
    else:
        low, high = value_range
        was_constant = high <= low
        span = 1.0 if was_constant else high - low
        scaled = np.clip((np.asarray(attribution, np.float64) - low) / span, 0.0, 1.0)
    return smooth(scaled, sigma), was_constant


def folder_range(attributions) -> tuple[float, float]:
    """One range for every map of a run: the least and greatest raw value of any of them.

    Args:
        attributions: raw maps, from ``maps.load_attribution``.

    Returns:
        (low, high).

    Raises:
        SettingError: if there is no map.
    """
    low, high = math.inf, -math.inf
    for attribution in attributions:
        low, high = min(low, float(np.min(attribution))), max(high, float(np.max(attribution)))
    if low > high:
        raise SettingError("a folder range needs at least one map")
    return low, high


def colour_limits(values: np.ndarray, vmin: float | str, vmax: float | str) -> tuple[float, float]:
    """Resolves the colour limits of a map, filling each ``AUTO`` limit from its percentiles.

    An automatic lower limit is the map's 2nd percentile and an automatic upper limit its 98th.
    Where that would not leave the upper limit above the lower one (a flat map, or a percentile on
    the wrong side of a fixed limit), the automatic limit is moved to just beyond the other, so
    every value keeps the side of the limits it lies on.

    Args:
        values: the smoothed map.
        vmin: a number or ``AUTO``.
        vmax: a number or ``AUTO``.

    Returns:
        The lower and upper limit, the lower strictly below the upper.
    """
    low_percentile, high_percentile = np.percentile(values, AUTO_PERCENTILES)
    low = float(low_percentile) if vmin == AUTO else float(vmin)
    high = float(high_percentile) if vmax == AUTO else float(vmax)
    if high <= low:
        if vmax == AUTO:
            high = low + MINIMUM_COLOUR_SPAN
        else:
            low = high - MINIMUM_COLOUR_SPAN
    return low, high


def heatmap_figure(
    values: np.ndarray, style: HeatmapStyle = HeatmapStyle(), pixel_size: float | None = None
) -> Figure:
    """The heatmap of a map: coloured values, no axes and no margin, and the colour bar beside
    them unless the style is the paper's bare look.

    A notebook shows the figure as it is returned; stage 3 writes it at the style's dpi.

    Args:
        values: the scaled and smoothed map from ``heatmap_values``.
        style: colormap and limits.
        pixel_size: the side of a map pixel in µm, for a scale bar; None draws none.

    Returns:
        The figure, ``MAP_PIXELS_PER_INCH`` map pixels to the inch, the map at its left.

    Raises:
        ImageSizeError: if the map at the style's dpi makes a picture matplotlib cannot draw.
    """
    figure = _borderless_figure(values.shape, style)
    image = _draw_heatmap(figure.axes[0], values, style)
    _scale_bar(figure.axes[0], pixel_size)
    _beside_colour_bar(figure, image, values, style)
    return figure


def overlay_figure(
    values: np.ndarray,
    micrograph: np.ndarray,
    style: HeatmapStyle = HeatmapStyle(),
    pixel_size: float | None = None,
) -> Figure:
    """The heatmap blended over the micrograph it explains, with no axes and no margin.

    The micrograph is drawn in grey under the map as ``fit_micrograph`` places it, and the
    heatmap over it with ``OVERLAY_ALPHA`` opacity.

    Args:
        values: the scaled and smoothed map from ``heatmap_values``.
        micrograph: the grey micrograph, values in [0, 1], of any size.
        style: colormap and limits.
        pixel_size: the side of a map pixel in µm, for a scale bar; None draws none.

    Returns:
        The figure, ``MAP_PIXELS_PER_INCH`` map pixels to the inch, the map at its left and the
        colour bar, at the overlay's opacity, beside it unless the style is the paper's.
    """
    figure = _borderless_figure(values.shape, style)
    axes = figure.axes[0]
    draw_micrograph(axes, micrograph, values.shape)
    image = _draw_heatmap(axes, values, style, alpha=OVERLAY_ALPHA)
    _scale_bar(axes, pixel_size)
    _beside_colour_bar(figure, image, values, style)
    return figure


def panel_figure(
    stem: str,
    attribution: np.ndarray,
    values: np.ndarray,
    style: HeatmapStyle = HeatmapStyle(),
    micrograph: np.ndarray | None = None,
    pixel_size: float | None = None,
) -> Figure:
    """One figure with every view of a map side by side, titled by its stem.

    The views are the micrograph, the raw attribution in grey (not smoothed, its brightest
    ``100 - RAW_PERCENTILE`` % white) with a colour bar of its raw values, the heatmap and the
    overlay, with a colour bar under the last two that says how the maps were scaled (the style's
    ``scale``) and why the colours stop where they do; without a micrograph only the middle two
    are drawn.

    Args:
        stem: the micrograph's name, used as the title.
        attribution: the raw map from ``maps.load_attribution``.
        values: the scaled and smoothed map from ``heatmap_values``.
        style: colormap and limits.
        micrograph: the grey micrograph, values in [0, 1], or None where it was not found.
        pixel_size: the side of a map pixel in µm, for a scale bar on each view; None draws none.

    Returns:
        The figure.
    """
    columns = 2 if micrograph is None else 4
    height, width = values.shape
    # Each view is PANEL_COLUMN_INCHES wide and as tall as the map's shape makes it.
    figure = Figure(
        figsize=(
            columns * PANEL_COLUMN_INCHES + 1.0,
            # Room for the title and the views' titles above, and the colour bars below.
            PANEL_COLUMN_INCHES * height / width + 1.5,
        )
    )
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    # A thin row under the views holds the colour bars, so that every view keeps one height.
    grid = figure.add_gridspec(2, columns, height_ratios=(1.0, 0.05))
    all_axes = [figure.add_subplot(grid[0, column]) for column in range(columns)]
    views = iter(all_axes)
    if micrograph is not None:
        axes = next(views)
        draw_micrograph(axes, micrograph, values.shape)
        axes.set_title("micrograph")
    raw_column = 0 if micrograph is None else 1
    raw_axes = next(views)
    raw = _draw_raw(raw_axes, attribution)
    raw_axes.set_title("attribution")
    axes = next(views)
    heatmap = _draw_heatmap(axes, values, style)
    axes.set_title(f"heatmap (sigma {style.sigma:g})")
    if micrograph is not None:
        axes = next(views)
        draw_micrograph(axes, micrograph, values.shape)
        _draw_heatmap(axes, values, style, alpha=OVERLAY_ALPHA)
        axes.set_title("overlay")
    for axes in all_axes:
        # The views share the map's grid, so they keep its aspect, square pixel for square pixel.
        axes.set_aspect("equal")
        axes.set_axis_off()
        _scale_bar(axes, pixel_size)
    figure.colorbar(
        raw,
        cax=figure.add_subplot(grid[1, raw_column]),
        orientation="horizontal",
        extend=_extend(attribution, raw.norm.vmin, raw.norm.vmax),
        label=f"raw attribution\n(white from its {RAW_PERCENTILE:g}th percentile)",
    )
    figure.colorbar(
        heatmap,
        cax=figure.add_subplot(grid[1, raw_column + 1 :]),
        orientation="horizontal",
        extend=_extend(values, heatmap.norm.vmin, heatmap.norm.vmax),
        label=colour_bar_label(style),
    )
    draw_title(figure, stem)
    return figure


def colour_bar_label(style: HeatmapStyle) -> str:
    """What a heatmap's colour bar says: how the values were scaled, and why its colours stop
    where they do (the paper's limits, the map's percentiles, the whole range or the user's).

    Args:
        style: the style the heatmap was drawn with.

    Returns:
        For the paper's map, "attribution, each map min-max scaled and smoothed" and "the paper's
        colour limits, 0.15-0.4: colours saturate beyond".
    """
    low, high = style.limits
    paper_limits = (defaults.VMIN, defaults.VMAX)
    if AUTO in (low, high):
        why = "colour limits from the map's own percentiles"
    elif (low, high) == paper_limits and style.kind == defaults.MAP_KIND:
        why = f"the paper's colour limits, {low:g}-{high:g}: colours saturate beyond"
    elif (low, high) == (0.0, 1.0):
        why = "colours over the whole range"
    else:
        why = f"colour limits {low:g}-{high:g}: colours saturate beyond"
    return f"attribution, {SCALE_LABELS[style.scale]} and smoothed\n{why}"


def _extend(values: np.ndarray, low: float, high: float) -> str:
    """Which ends of a colour bar get an arrow: those beyond which some values were clipped."""
    below, above = bool(np.min(values) < low), bool(np.max(values) > high)
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (below, above), "both"
    )


def _draw_raw(axes: Axes, attribution: np.ndarray) -> AxesImage:
    """Draws a raw map in grey, from its least value to its ``RAW_PERCENTILE``th percentile."""
    low = float(np.min(attribution))
    high = max(float(np.percentile(attribution, RAW_PERCENTILE)), low + MINIMUM_COLOUR_SPAN)
    return axes.imshow(
        attribution, cmap="gray", norm=Normalize(vmin=low, vmax=high), interpolation="nearest"
    )


def _beside_colour_bar(figure: Figure, image: AxesImage, values: np.ndarray, style) -> None:
    """Draws the colour bar of a heatmap or overlay in the strip ``_borderless_figure`` left at
    the right of the map, its text sized to the picture's height."""
    if not style.colour_bar:
        return
    height = figure.get_figheight()
    label = colour_bar_label(style)
    longest_line = max(len(line) for line in label.splitlines())
    # A character is about half an em wide; the label's longest line must fit the bar's height.
    points = min(
        COLOUR_BAR_POINTS[1],
        max(COLOUR_BAR_POINTS[0], COLOUR_BAR_POINTS_PER_INCH * height),
        0.85 * height * 72 / (0.5 * longest_line),
    )
    em = points / 72
    width = figure.get_figwidth()
    map_width = width - _strip_inches(height)
    bar = figure.colorbar(
        image,
        cax=figure.add_axes((((map_width + 0.8 * em) / width), 0.05, 0.9 * em / width, 0.9)),
        extend=_extend(values, image.norm.vmin, image.norm.vmax),
    )
    bar.ax.tick_params(labelsize=points, length=0.3 * points, width=0.05 * points, pad=0.2 * points)
    bar.set_label(label, fontsize=points, labelpad=0.3 * points, linespacing=1.1)
    bar.outline.set_linewidth(0.05 * points)


def _strip_inches(height: float) -> float:
    """The width of the strip beside a picture this many inches high that holds its colour bar."""
    points = min(
        COLOUR_BAR_POINTS[1], max(COLOUR_BAR_POINTS[0], COLOUR_BAR_POINTS_PER_INCH * height)
    )
    # Whole map pixels, so that the map's pixels stay whole blocks of the picture's at any dpi.
    return math.ceil(COLOUR_BAR_STRIP_EMS * points / 72 * MAP_PIXELS_PER_INCH) / MAP_PIXELS_PER_INCH


def _scale_bar(axes: Axes, pixel_size: float | None) -> None:
    """Draws a scale bar where the pixel size is known."""
    if pixel_size is not None:
        add_scale_bar(axes, pixel_size)


def _borderless_figure(shape: tuple[int, ...], style: HeatmapStyle) -> Figure:
    """A figure sized to a map, holding one axes without decoration that the map fills exactly,
    with a strip at its right for the colour bar where the style draws one.

    Raises:
        ImageSizeError: if the figure at the style's dpi is under one pixel or over
            ``MAXIMUM_PICTURE_SIDE`` pixels a side, which matplotlib would fail to write.
    """
    height, width = shape
    dpi = style.dpi
    strip = _strip_inches(height / MAP_PIXELS_PER_INCH) if style.colour_bar else 0.0
    for side, extent in ((width + strip * MAP_PIXELS_PER_INCH, "wide"), (height, "tall")):
        pixels = side * dpi / MAP_PIXELS_PER_INCH
        if pixels > MAXIMUM_PICTURE_SIDE:
            fitting = f"at most {math.floor(MAXIMUM_PICTURE_SIDE * MAP_PIXELS_PER_INCH / side)}"
        elif pixels < 1:
            fitting = f"at least {math.ceil(MAP_PIXELS_PER_INCH / side)}"
        else:
            continue
        raise ImageSizeError(
            f"a {height}x{width} map at {dpi:g} dpi makes a picture {pixels:.0f} pixels {extent}, "
            f"but matplotlib draws 1 to {MAXIMUM_PICTURE_SIDE} pixels a side; {fitting} dpi fit"
        )
    map_width = width / MAP_PIXELS_PER_INCH
    figure = Figure(figsize=(map_width + strip, height / MAP_PIXELS_PER_INCH))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, map_width / (map_width + strip), 1.0))
    axes.set_axis_off()
    return figure


def _draw_heatmap(
    axes: Axes, values: np.ndarray, style: HeatmapStyle, alpha: float | None = None
) -> AxesImage:
    """Draws a map coloured by the style, each map pixel a sharp block."""
    low, high = colour_limits(values, *style.limits)
    return axes.imshow(
        values,
        cmap=style.cmap,
        norm=Normalize(vmin=low, vmax=high),
        interpolation="nearest",
        aspect="auto",
        alpha=alpha,
    )


def fit_micrograph(micrograph: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The part of a micrograph its map covers, to be drawn over the map's extent.

    A map computed at the micrograph's own resolution covers it from the top left, less at most
    ``CROP_MARGIN - 1`` pixels cut from the bottom and right; that part is returned. Any other
    micrograph was resized to the map's size by stage 2, and is returned whole, to be stretched.
    """
    height, width = shape
    excess = np.subtract(micrograph.shape, shape)
    if np.all((excess >= 0) & (excess < CROP_MARGIN)):
        return micrograph[:height, :width]
    return micrograph


def draw_micrograph(axes: Axes, micrograph: np.ndarray, shape: tuple[int, ...]) -> None:
    """Draws a grey micrograph over the extent of a map of the given shape, as
    ``fit_micrograph`` places it."""
    height, width = shape
    axes.imshow(
        fit_micrograph(micrograph, shape),
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
        interpolation="auto",
        aspect="auto",
    )
