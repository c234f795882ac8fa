"""Fills empty image folders with synthetic ferrite-pearlite micrographs, so the pipeline can run.

Run from the repository root as ``python codes/generate_synthetic_micrographs.py``; ``--help``
explains each flag. A folder that already holds any image is left alone, so real micrographs put
in place of the synthetic ones are never overwritten; the same seed always gives the same images.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli
from complexstep.folders import synthetic

# Each folder the command fills: the flag of how many images it gets, its name in that flag's
# help, the flag of the folder and what the folder is for.
_FOLDERS = (
    ("--train", "training", "--train-dir", "folder for the training images"),
    ("--test", "test", "--test-dir", "folder for the test images"),
    (
        "--contour-inputs",
        "contour-input",
        "--contour-dir",
        "folder of the images stage 2 draws attribution contours on",
    ),
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the image counts, their folders and the seed."""
    for count, name, folder, use in _FOLDERS:
        parser.add_argument(
            count,
            type=cli.at_least(0),
            help=f"how many images to write into the {name} folder if it holds none",
        )
        parser.add_argument(folder, type=Path, help=use)
    parser.set_defaults(
        train=defaults.SYNTHETIC_TRAIN,
        train_dir=Path(defaults.SYNTHETIC_TRAIN_DIR),
        test=defaults.SYNTHETIC_TEST,
        test_dir=Path(defaults.SYNTHETIC_TEST_DIR),
        contour_inputs=defaults.SYNTHETIC_CONTOUR_INPUTS,
        contour_dir=Path(defaults.CONTOUR_INPUTS),
    )
    cli.add_seed_argument(parser, "seed the images are drawn from, 0 or more")


parse_arguments = cli.parse_arguments_with(
    "Write seeded synthetic 256x256 grey micrographs of ferrite-pearlite steel into the training, "
    "test and contour-input folders, skipping any folder that already holds an image.",
    _add_arguments,
)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Fills the empty folders and reports what was done to each.

    Returns:
        The exit status, 0 on success.
    """
    arguments = parse_arguments(argv, prog)
    counts = {
        arguments.train_dir: arguments.train,
        arguments.test_dir: arguments.test,
        arguments.contour_dir: arguments.contour_inputs,
    }
    if len(counts) < 3:
        raise cli.UsageError("the training, test and contour-input folders must be different")
    written = synthetic.fill_empty_folders(
        counts, arguments.seed, on_progress=cli.ProgressBarCallback("synthetic micrographs")
    )
    for folder, count in written.items():
        if count == 0 and counts[folder] > 0:
            print(f"left {folder} alone because it already holds images")
        else:
            print(f"written {count} images to {folder}")
    return 0
