"""The evaluation's pictures: mean deletion and insertion curves per method, and each micrograph's
maps by every method side by side.

Figures are drawn from arrays with matplotlib's ``Figure`` and the Agg canvas, as stage 3 draws its
own; the evaluation's folder driver writes them.
"""

import math
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from complexstep.evaluation.faithfulness import Curve
from complexstep.rendering.heatmaps import PANEL_COLUMN_INCHES
from complexstep.rendering.titles import draw_title

CURVES_FILE = "curves.png"
"""The figure of the mean curves, in the evaluation's folder."""

PANEL_PREFIX = "panel_"
"""Start of a micrograph's panel, ``panel_<stem>.png``."""

MAP_CMAP = "inferno"

MAP_PERCENTILES = (1.0, 99.0)
"""Each map is coloured from its 1st to its 99th percentile: derivative maps hold a few pixels
far above the rest, which min-max scaling would leave alone in a dark picture."""
"""The colormap of every method's map in the panels: perceptually uniform, since the maps are
compared by their ranking rather than read against the paper's limits."""

PANEL_COLUMNS = 6
"""Views per row of a panel: the micrograph and ten methods make two rows."""

CURVE_COLOURS = "tab10"
"""The qualitative colormap that gives each method its colour, the same in both plots."""


def curves_figure(curves: dict[str, Sequence[tuple[Curve, Curve]]], baseline: str) -> Figure:
    """The mean deletion and insertion curves of every method, each with a band of one standard
    deviation over the images.

    Args:
        curves: for each method, the ``(deletion, insertion)`` curves of every image.
        baseline: the baseline's name, for the titles.

    Returns:
        The figure, written at ``PANEL_MAXIMUM_DPI``.
    """
    figure = Figure(figsize=(11.0, 5.2))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    deletion_axes, insertion_axes = figure.subplots(1, 2, sharey=True)
    palette = matplotlib.colormaps[CURVE_COLOURS]
    for index, (method, pairs) in enumerate(curves.items()):
        colour = palette(index % palette.N)
        for axes, which in ((deletion_axes, 0), (insertion_axes, 1)):
            fractions = pairs[0][which].fractions
            shifts = np.stack([pair[which].shifts for pair in pairs])
            mean, deviation = shifts.mean(axis=0), shifts.std(axis=0)
            axes.plot(100 * fractions, mean, color=colour, label=method, linewidth=1.6)
            axes.fill_between(
                100 * fractions, mean - deviation, mean + deviation, color=colour, alpha=0.15
            )
    count = max(len(pairs) for pairs in curves.values())
    deletion_axes.set_title(f"deletion: top pixels replaced by the {baseline} baseline")
    insertion_axes.set_title(f"insertion: top pixels put back into the {baseline} baseline")
    for axes, verb in ((deletion_axes, "deleted"), (insertion_axes, "put back")):
        axes.set_xlabel(f"pixels {verb}, those the map ranks highest first (%)")
        axes.set_xlim(0, 100)
        axes.grid(alpha=0.3)
    deletion_axes.set_ylabel("representation shift ||f(x') - f(x)|| / ||f(x)||")
    # Below both plots, where it hides no curve.
    figure.legend(
        *deletion_axes.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=min(len(curves), 5),
        fontsize="small",
    )
    figure.suptitle(f"mean and standard deviation over {count} micrograph(s)")
    return figure


def method_panel_figure(stem: str, micrograph: np.ndarray, maps: dict[str, np.ndarray]) -> Figure:
    """A micrograph beside every method's map of it, each map on its own scale, from its 1st to
    its 99th percentile.

    Args:
        stem: the micrograph's name, for the title.
        micrograph: grey values in [0, 1].
        maps: each method's map, of the micrograph's shape.

    Returns:
        The figure, written at ``PANEL_MAXIMUM_DPI``.
    """
    views = 1 + len(maps)
    columns = min(PANEL_COLUMNS, views)
    rows = math.ceil(views / columns)
    height, width = micrograph.shape
    figure = Figure(
        figsize=(
            columns * PANEL_COLUMN_INCHES,
            rows * (PANEL_COLUMN_INCHES * height / width + 0.4) + 0.5,
        )
    )
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    all_axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    all_axes[0].imshow(micrograph, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    all_axes[0].set_title("micrograph")
    image = None
    for axes, (method, values) in zip(all_axes[1:], maps.items(), strict=False):
        low, high = np.percentile(values, MAP_PERCENTILES)
        scaled = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else 0 * values
        image = axes.imshow(scaled, cmap=MAP_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest")
        axes.set_title(method)
    for axes in all_axes:
        axes.set_axis_off()
    if image is not None:
        figure.colorbar(
            image, ax=list(all_axes), shrink=0.6, label="map, from its 1st to its 99th percentile"
        )
    draw_title(figure, stem)
    return figure
