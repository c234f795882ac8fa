"""Stage 3's pictures of wavelet maps: which positions at which scales the output rests on.

Stage 2 in the wavelet domain leaves, for each micrograph, ``<stem>.wavelet.npy`` (the attribution
of every coefficient, in PyWavelets' ``coeffs_to_array`` layout) and ``<stem>.wavelet.json`` (the
transform and each level's and orientation's share of the squared attribution). Three pictures
are drawn from them:

- the coefficients' attributions in the dyadic layout, as WCAM shows its maps, the blocks outlined
  and labelled, coloured on one scale or level by level;
- per-scale maps: each level's detail attributions over the three orientations, squared and
  summed, spread at the micrograph's size over the ``2**level`` pixels square each coefficient
  stands for, and drawn over the micrograph; the maps of all levels and the approximation add up
  to ``||J||_F**2``, the squared pixel map's sum;
- a bar chart of the shares per level and orientation.

Levels are labelled with the periods of the variations they hold (``wavelets.level_periods``), in
pixels, or in micrometres given the pixel size.
"""

import dataclasses
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from complexstep.engines.wavelet_basis import ORIENTATIONS, WaveletBasis, level_periods
from complexstep.errors import SettingError
from complexstep.rendering.heatmaps import (
    OVERLAY_ALPHA,
    PANEL_MAXIMUM_DPI,
    draw_micrograph,
)
from complexstep.rendering.titles import draw_title

LAYOUT_PREFIX = "wavelet_"
"""Start of the layout picture's name, ``wavelet_<stem>.png``."""

SCALES_PREFIX = "scales_"
"""Start of the per-scale maps' name, ``scales_<stem>.png``."""

SHARES_PREFIX = "shares_"
"""Start of the bar chart's name, ``shares_<stem>.png``."""

CMAP = "magma"
"""A colormap that rises in lightness, so that no attribution reads as a middle value."""

DETAILS = ("horizontal", "vertical", "diagonal")

SCALES_PERCENTILE = 99.0
"""The percentile of a per-scale map drawn with the colormap's last colour: a few coefficients
stand far above the rest, and scaling by the maximum would leave everything else dark."""


@dataclasses.dataclass(frozen=True)
class WaveletStyle:
    """How wavelet maps are drawn.

    Attributes:
        per_level: colour each level's blocks, and the approximation, on their own scale in the
            layout, so that fine levels are seen beside coarse ones.
        pixel_size: the micrographs' pixel size in micrometres, to label levels with physical
            sizes; None labels them in pixels.
        dpi: the pictures' resolution.

    Raises:
        SettingError: on construction, for a pixel size or dpi that is not a positive number.
    """

    per_level: bool = False
    pixel_size: float | None = None
    dpi: float = PANEL_MAXIMUM_DPI

    def __post_init__(self) -> None:
        if self.pixel_size is not None and not (
            math.isfinite(self.pixel_size) and self.pixel_size > 0
        ):
            raise SettingError(f"pixel_size must be a number > 0, not {self.pixel_size}")
        if not (math.isfinite(self.dpi) and self.dpi > 0):
            raise SettingError(f"dpi must be a number > 0, not {self.dpi}")

    def scale(self, level: int, approximation: bool = False) -> str:
        """The periods a level's details hold, or those its approximation keeps, as a label."""
        low, high = level_periods(level)
        unit, factor = ("px", 1.0) if self.pixel_size is None else ("µm", self.pixel_size)
        if approximation:
            return f"> {high * factor:g} {unit}"
        return f"{low * factor:g}–{high * factor:g} {unit}"


def layout_colours(values: np.ndarray, basis: WaveletBasis, per_level: bool) -> np.ndarray:
    """The map scaled to [0, 1] for colouring: by its maximum, or level by level (the
    approximation on its own); a block of zeros stays 0."""
    scaled = np.zeros_like(values, dtype=np.float64)
    groups: dict[tuple, list] = {}
    for block in basis.blocks:
        group = (block.level, block.key == "aa") if per_level else ()
        groups.setdefault(group, []).append(block)
    for blocks in groups.values():
        peak = max(float(np.max(values[block.region])) for block in blocks)
        for block in blocks:
            if peak > 0:
                scaled[block.region] = values[block.region] / peak
    return scaled


def level_energies(values: np.ndarray, basis: WaveletBasis) -> dict[int, np.ndarray]:
    """Each level's squared detail attributions summed over orientations, and the
    approximation's under key 0, each spread evenly over the ``2**level`` pixels square its
    coefficient stands for, at the image's size; all of them add up to the squared map's sum."""
    energies = {}
    for block in basis.blocks:
        key = 0 if block.key == "aa" else block.level
        factor = 1 << block.level
        squares = np.square(values[block.region]) / factor**2
        squares = squares.repeat(factor, axis=0).repeat(factor, axis=1)
        energies[key] = energies.get(key, 0.0) + squares
    return energies


def layout_figure(
    stem: str, values: np.ndarray, basis: WaveletBasis, style: WaveletStyle
) -> Figure:
    """The coefficients' attributions in the dyadic layout, blocks outlined and labelled.

    Args:
        stem: the micrograph's name, for the title.
        values: the wavelet map, ``basis.shape``.
        basis: the map's wavelet basis.
        style: a ``WaveletStyle``.

    Returns:
        The figure, shown as it is in a notebook; stage 3 writes it at the style's dpi.
    """
    height, width = basis.shape
    figure = Figure(figsize=(7.0, 6.0 * height / width + 0.5))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    image = axes.imshow(
        layout_colours(values, basis, style.per_level),
        cmap=CMAP,
        norm=Normalize(0.0, 1.0),
        interpolation="nearest",
    )
    for block in basis.blocks:
        top, left = block.rows.start - 0.5, block.columns.start - 0.5
        bottom, right = block.rows.stop - 0.5, block.columns.stop - 0.5
        axes.plot([left, right, right, left, left], [top, top, bottom, bottom, top], "w-", lw=0.6)
        label = "A" if block.key == "aa" else block.orientation[0].upper()
        axes.text(
            left + 1.5,
            top + 1.5,
            f"{label}{block.level}",
            color="white",
            fontsize=7,
            va="top",
            ha="left",
        )
    axes.set_axis_off()
    scaling = "each level on its own scale" if style.per_level else "one scale"
    figure.colorbar(image, ax=axes, shrink=0.8, label=f"attribution / maximum ({scaling})")
    draw_title(
        figure,
        f"{stem}: {basis.wavelet}, {basis.levels} levels (A approximation, H horizontal, "
        "V vertical, D diagonal)",
        fontsize=9,
    )
    return figure


def scales_figure(
    stem: str,
    values: np.ndarray,
    basis: WaveletBasis,
    style: WaveletStyle,
    micrograph: np.ndarray | None = None,
) -> Figure:
    """One map per level of what the output rests on at that scale, over the micrograph.

    Each level's detail attributions are squared, summed over orientations and spread over the
    ``2**level`` pixels square each coefficient stands for; the approximation's come last. Each
    map has its own colour scale, up to its ``SCALES_PERCENTILE``th percentile, with the level's
    share of the total in its title.

    Args:
        stem: the micrograph's name, for the title.
        values: the wavelet map, ``basis.shape``.
        basis: the map's wavelet basis.
        style: a ``WaveletStyle``.
        micrograph: the grey micrograph, values in [0, 1], or None where it was not found.

    Returns:
        The figure, shown as it is in a notebook; stage 3 writes it at the style's dpi.
    """
    energies = level_energies(values, basis)
    total = sum(float(np.sum(np.square(values[block.region]))) for block in basis.blocks)
    keys = [*range(1, basis.levels + 1), 0]
    height, width = basis.shape
    figure = Figure(figsize=(3.0 * len(keys) + 1.0, 3.0 * height / width + 0.9))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    for axes, key in zip(figure.subplots(1, len(keys)), keys, strict=True):
        energy = energies[key]
        if micrograph is not None:
            draw_micrograph(axes, micrograph, basis.shape)
        top = float(np.percentile(energy, SCALES_PERCENTILE))
        image = axes.imshow(
            energy / top if top > 0 else energy,
            cmap=CMAP,
            norm=Normalize(0.0, 1.0),
            interpolation="nearest",
            alpha=OVERLAY_ALPHA if micrograph is not None else None,
        )
        share = float(np.sum(energy)) / total if total > 0 else 0.0
        name = (
            f"approximation {basis.levels}\n{style.scale(basis.levels, approximation=True)}"
            if key == 0
            else f"level {key}\n{style.scale(key)}"
        )
        axes.set_title(f"{name}, {100 * share:.1f}%", fontsize=9)
        axes.set_axis_off()
    figure.colorbar(
        image,
        ax=figure.axes,
        shrink=0.8,
        label=f"squared attribution / its {SCALES_PERCENTILE:g}th percentile",
    )
    draw_title(figure, f"{stem}: what the output rests on at each scale", fontsize=10)
    return figure


def shares_figure(stem: str, summary: dict, style: WaveletStyle) -> Figure:
    """A bar chart of the share of the squared attribution per level and orientation.

    Args:
        stem: the micrograph's name, for the title.
        summary: stage 2's ``<stem>.wavelet.json``.
        style: a ``WaveletStyle``.

    Returns:
        The figure, shown as it is in a notebook; stage 3 writes it at the style's dpi.
    """
    levels = summary["levels"]
    shares = {(share["level"], share["orientation"]): share["share"] for share in summary["shares"]}
    figure = Figure(figsize=(1.6 * levels + 3.0, 3.6))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    width = 0.25
    for offset, orientation in enumerate(DETAILS):
        axes.bar(
            np.arange(levels) + (offset - 1) * width,
            [100 * shares[level, orientation] for level in range(1, levels + 1)],
            width,
            label=orientation,
        )
    axes.bar([levels], [100 * shares[levels, ORIENTATIONS["aa"]]], 3 * width, label="approximation")
    axes.set_xticks(
        np.arange(levels + 1),
        [f"level {level}\n{style.scale(level)}" for level in range(1, levels + 1)]
        + [f"approx. {levels}\n{style.scale(levels, approximation=True)}"],
        fontsize=8,
    )
    axes.set_ylabel("share of the squared attribution (%)")
    axes.legend(fontsize=8)
    draw_title(axes, f"{stem}: {summary['wavelet']}, {levels} levels", fontsize=10)
    return figure
