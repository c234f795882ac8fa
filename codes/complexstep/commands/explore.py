"""Explore each micrograph's code in the browser: from a pixel to the code cells it drives and back.

Writes, for every micrograph in the inputs folder, a self-contained web page
``explore_<stem>.html`` (open it in any browser; it needs no server and no network) that links the
micrograph, its attribution heatmap, the code's channels, the reconstruction and its error through
the code's exact Jacobian, and a figure of the code's channels, ``activations_<stem>.png``.
Where a micrograph's pixel size is known, both draw a scale bar and the page gives lengths in µm.

    python codes/explore_attributions.py --inputs contour_inputs --model pretrained
    python codes/explore_attributions.py --scale folder --pixel-size 0.05
    python codes/explore_attributions.py --shard $SLURM_ARRAY_TASK_ID/100
    python codes/explore_attributions.py --cluster local:2
"""

import argparse
import sys
import time
from collections.abc import Sequence

from complexstep import defaults
from complexstep.commands import cli


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_inputs_argument(parser, "explore")
    parser.add_argument(
        "--outputs",
        default=defaults.SMAPS,
        help="folder for explore_<stem>.html and activations_<stem>.png, mirroring the inputs' "
        "subfolders",
    )
    cli.add_layer_argument(
        parser,
        "output the pages show as the code",
        "; the reconstruction is always the model's last layer",
    )
    cli.add_model_arguments(parser, "explores")
    cli.add_kind_arguments(parser)
    cli.add_reading_arguments(parser)
    parser.add_argument(
        "--max-pixels",
        type=cli.at_least(1),
        default=defaults.EXPLORER_MAX_PIXELS,
        help="the most pixels a page explains: a page holds the code's whole Jacobian, about 66 "
        "values a pixel for the paper's code, so larger micrographs are left out and listed; "
        "crop the region to explore, or resize",
    )
    parser.add_argument(
        "--bits",
        type=int,
        choices=defaults.EXPLORER_BITS_CHOICES,
        default=defaults.EXPLORER_BITS,
        help="bits per Jacobian value in the page, each cell's values scaled by their largest "
        "magnitude; 8 makes pages about half as large",
    )
    cli.add_scale_argument(
        parser,
        "map: each page's heatmap min-max scaled on its own, as in the paper; folder: every page "
        "of the run scaled by one range, the least and greatest raw attribution of all of them "
        "(of this shard's, with --shard), so that colours compare between micrographs; the pages "
        "are then written once all are explored, each waiting meanwhile on disk in a hidden "
        "folder in --outputs; each page states which",
    )
    cli.add_spreading_arguments(parser, verb="explore")


parse_arguments = cli.parse_arguments_with(__doc__.split("\n\n")[0], _add_arguments)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    arguments = cli.started(parse_arguments, argv, prog)
    from complexstep.explorer import page as explorer
    from complexstep.folders import explorer as explorer_folder
    from complexstep.rendering.heatmaps import SCALE_LABELS

    start = time.monotonic()

    report = cli.run_folder(
        explorer_folder.explore_folder,
        arguments,
        explorer.Explorer(arguments.model, layer=arguments.layer, **cli.kind(arguments)),
        resize=arguments.resize,
        max_pixels=arguments.max_pixels,
        bits=arguments.bits,
        scale=arguments.scale,
        on_progress=cli.ProgressBarCallback("explorer pages", units="micrographs"),
        reading=cli.reading(arguments),
    )
    if any(line.startswith("left out ") for line in report.failed):
        print("(--max-pixels sets how many pixels a page may hold)", file=sys.stderr)
    pages = [path for path in report.outputs if path.suffix == ".html"]
    largest = max((path.stat().st_size for path in pages), default=0)
    print(
        f"wrote {len(pages)} page(s) and activation figure(s) to {arguments.outputs} in "
        f"{time.monotonic() - start:.1f} s (layer {arguments.layer!r}, {arguments.bits}-bit "
        f"Jacobians, heatmaps {SCALE_LABELS[arguments.scale]}; largest page {largest / 1e6:.1f} MB)"
    )
    return cli.exit_status(report, "micrograph(s) could not be explored")
