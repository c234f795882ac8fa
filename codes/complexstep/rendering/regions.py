"""The pictures of region statistics: enrichment per region with intervals, and a micrograph's
region outlines drawn over its heatmap.

The outlines are each region's pixels that touch a pixel outside it, painted as whole map pixels
in the region's colour over the heatmap stage 3 draws (scaled, smoothed and coloured the same
way), with the regions' names written in their colours above the map.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from skimage.segmentation import find_boundaries

from complexstep.regions.statistics import HEADLINE, Summary
from complexstep.regions.tables import LABELS
from complexstep.rendering.heatmaps import (
    MAP_PIXELS_PER_INCH,
    HeatmapStyle,
    colour_limits,
    heatmap_values,
)

OUTLINE_COLOURS = ("black", "lime", "yellow", "cyan", "magenta", "orange", "darkgreen", "grey")
"""The regions' outline colours, in the regions' order: none of them lies on the paper's 'bwr'
colormap, so that outlines stand out from the heatmap; they repeat past the eighth region."""

LEGEND_INCHES = 0.25
"""The height of the strip above the map that names the regions in their colours."""

OUTLINES_PREFIX = "regions_"
"""Start of an outline picture's name, ``regions_<stem>.png``."""

ENRICHMENT_NAME = "regions_enrichment.png"


def outline_colour(index: int) -> str:
    """The outline colour of the region at ``index`` in the regions' order."""
    return OUTLINE_COLOURS[index % len(OUTLINE_COLOURS)]


def outlines(regions: dict[str, np.ndarray]) -> np.ndarray:
    """The outlines as an RGBA image: each region's pixels that touch (side by side) a pixel
    outside it, in its colour; later regions are painted over earlier ones, the rest is clear.

    Args:
        regions: name to boolean mask, all of one shape.

    Returns:
        A float ``(height, width, 4)`` array.
    """
    shape = next(iter(regions.values())).shape
    painted = np.zeros((*shape, 4))
    for index, mask in enumerate(regions.values()):
        painted[find_boundaries(mask, mode="inner")] = to_rgba(outline_colour(index))
    return painted


def outlines_figure(
    attribution: np.ndarray,
    regions: dict[str, np.ndarray],
    style: HeatmapStyle,
) -> Figure:
    """A map's heatmap with its regions' outlines over it, and their names above.

    The map fills the bottom of the picture, each map pixel a block of ``style.dpi / 100`` pixels
    as in stage 3's heatmaps; the names take a strip ``LEGEND_INCHES`` high above it.

    Args:
        attribution: the raw map.
        regions: name to boolean mask of the map's shape.
        style: how the heatmap is smoothed and coloured, and the dpi.

    Returns:
        The figure, shown as it is in a notebook; stage 3 writes it at the style's dpi.
    """
    values, _ = heatmap_values(attribution, style.sigma)
    height, width = values.shape
    map_height = height / MAP_PIXELS_PER_INCH
    figure = Figure(figsize=(width / MAP_PIXELS_PER_INCH, map_height + LEGEND_INCHES))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, map_height / (map_height + LEGEND_INCHES)))
    axes.set_axis_off()
    low, high = colour_limits(values, *style.limits)
    axes.imshow(
        values,
        cmap=style.cmap,
        norm=Normalize(vmin=low, vmax=high),
        interpolation="nearest",
        aspect="auto",
    )
    axes.imshow(outlines(regions), interpolation="nearest", aspect="auto")
    # The legend strip is grey, so that every outline colour, black and yellow alike, reads on it.
    bottom = map_height / (map_height + LEGEND_INCHES)
    figure.add_artist(
        Rectangle(
            (0.0, bottom),
            1.0,
            1.0 - bottom,
            transform=figure.transFigure,
            facecolor="0.5",
            linewidth=0,
        )
    )
    step = 1.0 / max(len(regions), 1)
    for index, name in enumerate(regions):
        figure.text(
            (index + 0.5) * step,
            (1.0 + bottom) / 2,
            name,
            color=outline_colour(index),
            ha="center",
            va="center",
            fontsize=7,
        )
    return figure


def enrichment_figure(summaries: list[Summary]) -> Figure:
    """The headline enrichment of each region, with its interval, one panel per map.

    A dashed line marks 1, where a region carries as much of the map as of the area.

    Args:
        summaries: from ``statistics.summarise``, one panel each.

    Returns:
        The figure, shown as it is in a notebook.
    """
    columns = max(len(summaries), 1)
    figure = Figure(figsize=(3.2 * columns + 0.4, 3.4))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    all_axes = np.atleast_1d(figure.subplots(1, columns, squeeze=False)[0])
    for axes, summary in zip(all_axes, summaries, strict=False):
        names = list(summary.regions)
        estimates = [summary.regions[name][HEADLINE] for name in names]
        positions = np.arange(len(names))
        means = np.array([estimate.mean for estimate in estimates])
        # A region of one micrograph has no interval; its point is drawn without bars.
        below = np.nan_to_num(means - np.array([estimate.low for estimate in estimates]))
        above = np.nan_to_num(np.array([estimate.high for estimate in estimates]) - means)
        axes.axhline(1.0, color="0.5", linestyle="--", linewidth=0.8)
        axes.errorbar(positions, means, yerr=[below, above], fmt="o", color="black", capsize=4)
        axes.set_xticks(positions, names, rotation=30 if len(names) > 3 else 0)
        axes.set_xlim(-0.6, len(names) - 0.4)
        axes.set_title(f"{summary.kind}, {summary.map} map", fontsize=9)
        axes.set_ylabel(f"{LABELS[HEADLINE]}, {summary.confidence * 100:g} % interval")
    return figure
