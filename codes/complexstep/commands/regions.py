"""Attribution by region: how much of each map the phases, labels and boundaries of its micrograph
carry, per micrograph and over the folder, with bootstrap intervals.

Every map stage 2 wrote in ``--inputs`` (``<stem>.npy``, and ``<stem>.wavelet.npy`` level by
level) is divided by the micrograph of the same stem in ``--micrographs`` into Otsu phases, or by
the label images in ``--labels``, and the boundary between them; ``--outputs`` receives
``regions.csv``, ``regions_summary.md``, ``regions_enrichment.png`` and ``regions_<stem>.png``;
with ``--shard K/N`` the first three are named for the shard (``regions.shard-K-of-N.csv`` ...).

Run from the repository root: ``python codes/measure_regions.py [options]``.
"""

import argparse
import functools
import math
import sys
from collections.abc import Sequence

from complexstep import defaults
from complexstep.commands import cli
from complexstep.folders import regions as region_folder
from complexstep.folders.loop import counted
from complexstep.rendering.heatmaps import HeatmapStyle


def _add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the maps, the micrographs and the outputs are."""
    cli.add_maps_argument(
        parser,
        "folder of stage 2's maps, searched with its subfolders: <stem>.npy pixel maps and "
        "<stem>.wavelet.npy wavelet maps, the latter measured level by level",
    )
    cli.add_micrographs_argument(parser, "divided into Otsu phases")
    parser.add_argument(
        "--outputs",
        default=defaults.REGIONS_DIR,
        metavar="DIR",
        help=(
            "folder for regions.csv, regions_summary.md, regions_enrichment.png and, under the "
            "maps' subfolders, regions_<stem>.png (outlines over the heatmap)"
        ),
    )


def _add_region_arguments(parser: argparse.ArgumentParser) -> None:
    """Which regions the maps are measured over."""
    parser.add_argument(
        "--labels",
        default=None,
        metavar="DIR",
        help=(
            "folder of label images named after the micrographs, one whole number a pixel at the "
            "map's size, used instead of Otsu phases; a "
            f'{defaults.LABEL_NAMES_FILE} there, {{"1": "ferrite", ...}}, names the labels'
        ),
    )
    parser.add_argument(
        "--classes",
        type=cli.whole_between(2, defaults.REGION_MAX_CLASSES),
        default=defaults.REGION_CLASSES,
        help=(
            "how many Otsu phases: 2 (dark, light) with Otsu's threshold, up to "
            f"{defaults.REGION_MAX_CLASSES} with multi-Otsu, whose search grows steeply with each"
        ),
    )
    parser.add_argument(
        "--boundary-width",
        type=_width,
        default=defaults.BOUNDARY_WIDTH,
        metavar="WIDTH",
        help=(
            "the boundary region holds the pixels within this of a boundary between two "
            "regions, in pixels, or in micrometres with --pixel-size; 0 for no boundary region"
        ),
    )
    cli.add_pixel_size_argument(
        parser, "the micrographs' pixel size, so that --boundary-width is in micrometres"
    )


def _add_statistics_arguments(parser: argparse.ArgumentParser) -> None:
    """What the tables and pictures say and how they are drawn."""
    parser.add_argument(
        "--kind",
        choices=defaults.MAP_KINDS,
        default=None,
        help=(
            "the maps' kind, written into regions.csv; by default a map's sidecar JSON says, "
            f"else {defaults.MAP_KIND}; maps of several kinds are refused"
        ),
    )
    parser.add_argument(
        "--samples",
        type=cli.at_least(defaults.BOOTSTRAP_MIN_SAMPLES),
        default=defaults.BOOTSTRAP_SAMPLES,
        help=f"bootstrap resamples for the {defaults.CONFIDENCE * 100:g} %% intervals",
    )
    cli.add_seed_argument(parser, "seed of the bootstrap, so that a rerun gives the same intervals")
    cli.add_dpi_argument(
        parser,
        "the outline pictures",
        " as for stage 3's heatmaps; each map pixel is dpi/100 picture pixels",
    )


parse_arguments = cli.parse_arguments_with(
    "Measure how much of each attribution map the regions of its micrograph carry: phases found "
    "by Otsu's threshold, or label images, and the boundary between them. Per micrograph and "
    "region: area fraction, share of the attribution (by sum and by sum of squares, the "
    "headline), mean attribution and enrichment (share / area fraction); over the folder, means "
    "with bootstrap intervals and paired comparisons.",
    _add_folder_arguments,
    _add_region_arguments,
    _add_statistics_arguments,
    functools.partial(cli.add_spreading_arguments, what="maps", verb="measure"),
)


def _width(text: str) -> float:
    """An argparse type for a boundary width: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Measures every map by region, reporting maps that cannot be measured without stopping.

    Returns:
        0 if every map was measured and every file written, else 1.

    Raises:
        ComplexStepError: for a missing or empty folder, maps of several kinds or bad label names.
    """
    arguments = parse_arguments(argv, prog)
    segmentation = region_folder.Segmentation(
        classes=arguments.classes,
        labels=arguments.labels,
        boundary_width=arguments.boundary_width,
        pixel_size=arguments.pixel_size,
    )
    report = cli.run_folder(
        region_folder.measure_folder,
        arguments,
        micrographs=arguments.micrographs,
        segmentation=segmentation,
        kind=arguments.kind,
        style=HeatmapStyle(dpi=arguments.dpi),
        bootstrap=region_folder.Bootstrap(samples=arguments.samples, seed=arguments.seed),
        on_progress=cli.ProgressBarCallback("regions", units="maps"),
    )
    print(report.summary())
    micrographs = len({row["micrograph"] for row in report.rows})
    if 0 < micrographs < defaults.FEWEST_MICROGRAPHS_FOR_INTERVALS:
        print(
            f"caution: the bootstrap intervals are over {counted(micrographs, 'micrograph')}; "
            f"below {defaults.FEWEST_MICROGRAPHS_FOR_INTERVALS} they are rough, narrower than "
            "the spread between micrographs they stand for",
            file=sys.stderr,
        )
    return cli.EXIT_FAILURE if report.failed else 0
