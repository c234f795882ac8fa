"""Stage 3: renders grey attribution images as the paper's heatmaps.

Every grey attribution image in ``--inputs`` and its subfolders (stage 2's ``<stem>.png``, read
from the lossless ``<stem>.npy`` beside it where there is one) becomes ``smp_cpa_<stem>.jpeg`` in
``--outputs``, under the same subfolder: min-max scaled, smoothed with a Gaussian and coloured with
the paper's 'bwr' colormap between 0.15 and 0.4 for the paper's map, and over the full range for
the maps weighted by |x - b|, as each map's sidecar names its kind. ``--overlay`` and ``--panel``
add the heatmap blended over its micrograph and a panel of all views for review. Every wavelet map
(``<stem>.wavelet.npy``) becomes ``wavelet_<stem>.png`` (its coefficients in the dyadic layout),
``scales_<stem>.png`` (a map per level over the micrograph) and ``shares_<stem>.png`` (the shares
of levels and orientations).

Run as ``complexstep heatmaps [options]``, or from a clone's root as ``python
codes/generate_heatmaps.py [options]``.
"""

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli
from complexstep.errors import FolderError
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.folders import loop
from complexstep.folders.loop import counted
from complexstep.rendering import heatmaps as rendering
from complexstep.rendering import wavelets as wavelet_rendering


def _add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the folders read and written, and the model the maps should come from."""
    cli.add_maps_argument(
        parser,
        "folder of grey attribution images, searched with its subfolders; where <stem>.npy lies "
        "beside <stem>.png its lossless values are used; wavelet maps (<stem>.wavelet.npy from "
        "stage 2's --domain wavelet) are drawn too",
    )
    parser.add_argument(
        "--outputs",
        default=defaults.SMAPS,
        metavar="DIR",
        help=(
            f"folder for the heatmaps, written as {rendering.HEATMAP_PREFIX}<stem>.jpeg under the "
            "same subfolder as their input"
        ),
    )
    cli.add_micrographs_argument(
        parser,
        "used by --overlay and --panel, and by wavelet maps' per-scale maps where it holds images",
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help=(
            "the model the maps should come from (stage 1's file, or "
            f"'{defaults.PRETRAINED}'): a map whose <stem>.json names another model, by its "
            "SHA-256, is listed on one line and still drawn; without it, maps of one run that "
            "name several models or several kinds are listed all the same"
        ),
    )


def _add_colour_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds how maps are smoothed, scaled and coloured."""
    parser.add_argument(
        "--sigma",
        type=cli.number_between(0.0, defaults.SIGMA_MAX),
        default=defaults.SIGMA,
        help=(
            "standard deviation, in map pixels, of the Gaussian smoothing, up to "
            f"{defaults.SIGMA_MAX:g}; 0 turns smoothing off"
        ),
    )
    parser.add_argument(
        "--cmap",
        default=defaults.CMAP,
        metavar="NAME",
        help="matplotlib colormap; 'bwr' shows low attribution blue and high red",
    )
    limits = "; ".join(
        f"{kind} {low:g}-{high:g}" for kind, (low, high) in defaults.KIND_COLOUR_LIMITS.items()
    )
    for name, end, percentile in (
        ("--vmin", "first", rendering.AUTO_PERCENTILES[0]),
        ("--vmax", "last", rendering.AUTO_PERCENTILES[1]),
    ):
        parser.add_argument(
            name,
            type=_colour_limit,
            default=None,
            metavar="VALUE|auto",
            help=(
                f"scaled value drawn with the colormap's {end} colour, for every map kind, or "
                f"'auto' for the smoothed map's percentile {percentile:g}; by default each kind's "
                f"(the kind its <stem>.json names, the paper's map without one): {limits}, "
                "since the paper's limits suit its map and the maps weighted by |x - b| crowd "
                "near 0"
            ),
        )
    cli.add_scale_argument(
        parser,
        "map: each map min-max scaled on its own, as in the paper; folder: every map of the run "
        "scaled by one range, the least and greatest raw value (.npy) of all of them, so that "
        "colours compare between micrographs (one range for each map kind, never pooled); "
        "panels state which",
    )


def _add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the pictures written beside the heatmaps, their resolution and their scale bars."""
    cli.add_dpi_argument(
        parser,
        "heatmaps and overlays",
        "; a figure is 1/100 inch per map pixel, so a 256x256 map at 600 dpi makes 1536x1536 "
        "pixels; below the range the smallest maps (16x16) make pictures of a few pixels, above "
        "it large maps pass the 65535 pixels a side matplotlib draws",
    )
    parser.add_argument(
        "--style",
        choices=defaults.HEATMAP_STYLES,
        default=defaults.HEATMAP_STYLE,
        help=(
            "readable: heatmaps and overlays carry a colour bar saying what their colours mean, "
            "so that each reads alone; paper: the bare picture, as the paper printed it"
        ),
    )
    parser.add_argument(
        "--overlay",
        action="store_true",
        help=(
            f"also write {rendering.OVERLAY_PREFIX}<stem>.jpeg, the heatmap blended over the "
            "micrograph of the same stem found in --micrographs; maps whose micrograph is "
            "missing are listed"
        ),
    )
    parser.add_argument(
        "--panel",
        action="store_true",
        help=(
            f"also write {rendering.PANEL_PREFIX}<stem>.png: micrograph, grey attribution, heatmap "
            "and overlay side by side with a colour bar, at most "
            f"{rendering.PANEL_MAXIMUM_DPI:g} dpi"
        ),
    )
    parser.add_argument(
        "--per-level",
        action="store_true",
        help=(
            f"colour each level of a wavelet map's layout ({wavelet_rendering.LAYOUT_PREFIX}"
            "<stem>.png) on its own scale, so that weak fine levels show beside strong coarse ones"
        ),
    )
    cli.add_pixel_size_argument(
        parser,
        "the maps' pixel size, for the scale bar of heatmaps, overlays and panels whose "
        "<stem>.json (written by stage 2) gives none, and to label wavelet levels with the "
        "physical periods they hold (level l: 2**l to 2**(l+1) pixels); without it levels are "
        "labelled in pixels",
    )


parse_arguments = cli.parse_arguments_with(
    "Render grey attribution images (stage 2's output) as heatmaps: min-max scaled to [0, 1], "
    "smoothed with a Gaussian and coloured with a matplotlib colormap. The defaults are the "
    "paper's.",
    _add_folder_arguments,
    _add_colour_arguments,
    _add_view_arguments,
)


def _colour_limit(text: str) -> float | str:
    """Parses a colour limit: a number or 'auto'."""
    if text.strip().lower() == rendering.AUTO:
        return rendering.AUTO
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or '{rendering.AUTO}', not {text!r}"
        ) from None


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Renders every attribution image, reporting unreadable ones without stopping.

    Returns:
        0 if every map and requested view was written, else 1.

    Raises:
        ComplexStepError: for a missing or empty input folder or an invalid setting.
    """
    arguments = parse_arguments(argv, prog)
    style = rendering.HeatmapStyle(
        sigma=arguments.sigma,
        cmap=arguments.cmap,
        vmin=arguments.vmin,
        vmax=arguments.vmax,
        dpi=arguments.dpi,
        scale=arguments.scale,
        look=arguments.style,
    )
    for kind in defaults.MAP_KINDS:
        # Each kind's limits, as the maps will be drawn, checked before any work.
        dataclasses.replace(style, kind=kind)
    wavelet_style = wavelet_rendering.WaveletStyle(
        per_level=arguments.per_level,
        pixel_size=arguments.pixel_size,
        dpi=min(arguments.dpi, rendering.PANEL_MAXIMUM_DPI),
    )
    if arguments.inputs == defaults.CONTOUR_OUTPUTS and not _holds_maps(Path(arguments.inputs)):
        # Run first, or in another folder, stage 3 would only say the folder holds no image.
        raise cli.UsageError(
            f"no attribution maps in {defaults.CONTOUR_OUTPUTS}, where stage 2 writes them: run "
            f"{cli.command_for('explain', prog)} first, or pass --inputs with a folder of maps"
        )
    report = heatmap_folder.render_folder(
        arguments.inputs,
        arguments.outputs,
        style,
        overlay=arguments.overlay,
        panel=arguments.panel,
        micrographs=arguments.micrographs,
        on_progress=cli.ProgressBarCallback("heatmaps"),
        wavelet_style=wavelet_style,
        pixel_size=arguments.pixel_size,
        model=_model_path(arguments.model),
    )
    cli.print_report(report)
    print(summary(report, arguments.outputs, overlay=arguments.overlay, panel=arguments.panel))
    return cli.EXIT_FAILURE if report.failed else 0


def _holds_maps(folder: Path) -> bool:
    """Whether a folder holds any file stage 3 reads."""
    try:
        loop.find_micrographs(folder, folder, loop.FolderReport(), heatmap_folder.MAP_SUFFIXES)
    except FolderError:
        return False
    return True


def _model_path(model: str | None) -> Path | None:
    """The model file --model names, checked to exist."""
    if model is None:
        return None
    if model == defaults.PRETRAINED:
        from complexstep import api

        return api.PRETRAINED_PATH
    if not Path(model).is_file():
        raise cli.UsageError(f"no model at {model} (--model)")
    return Path(model)


def summary(report, outputs: str, *, overlay: bool = False, panel: bool = False) -> str:
    """The final line of a run: what was written where, and how many problems were listed.

    Returns:
        For example ``wrote 4 heatmaps to smaps (3 overlays, 1 problem listed above)``.
    """
    written = heatmap_folder.written_counts(report)
    line = f"wrote {counted(written['heatmap'], 'heatmap')} to {outputs}"
    extras = []
    if overlay:
        extras.append(counted(written["overlay"], "overlay"))
    if panel:
        extras.append(counted(written["panel"], "panel"))
    if written["wavelet"]:
        extras.append(
            f"{counted(written['wavelet'], 'wavelet map')} drawn as layout, scales and shares"
        )
    if report.failed:
        extras.append(f"{counted(len(report.failed), 'problem')} listed above")
    return f"{line} ({', '.join(extras)})" if extras else line
