"""Stage 2 over a folder against the engines' own time for the same maps: what reading and writing
cost once they overlap with computing.

Times, with one warmed-up ``Explainer`` (so that building the twin and compiling are not timed):

- the engines alone: ``Explainer.attribute_many`` over the folder's micrographs, read into memory
  beforehand, in chunks as the folder loop makes them, no file touched;
- stage 2: ``folders.attribution.attribute_folder`` over the same micrographs, finding, reading,
  explaining and writing every map (``.npy``, ``.png``, ``.json``) into a new folder.

The micrographs are taken in blocks (a folder of links each), and each block is timed both ways
one right after the other, in turn engines first and stage 2 first, so that a machine whose load
changes (one shared with other work) weighs on both alike. Wall-clock seconds and the process's
CPU seconds (all its threads) are given; the target is stage 2 within 1.1 times the engines'
wall-clock time.

    python benchmarks/overlap.py [--inputs ../shared/data/micrographs/test] [--block 20]

The study's test micrographs lie in ``../shared`` beside the repository; where they are absent
the benchmark says so and exits without timing.
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

TEST_MICROGRAPHS = Path(__file__).resolve().parents[1].parent / "shared/data/micrographs/test"


def timed(work) -> tuple[float, float]:
    """The wall-clock and CPU seconds ``work()`` takes."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def engines(explainer, images, per_call: int) -> None:
    """``attribute_many`` over the images, ``per_call`` at a time."""
    for first in range(0, len(images), per_call):
        explainer.attribute_many(images[first : first + per_call])


def stage_2(explainer, inputs: Path, outputs: Path) -> None:
    """Stage 2's folder driver over ``inputs``, which must write every map."""
    from complexstep.folders import attribution

    report = attribution.attribute_folder(inputs, outputs, explainer, resize=defaults.IMAGE_SIZE)
    if report.failed:
        raise cli.UsageError(f"{len(report.failed)} micrograph(s) failed: {report.failed[0]}")


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inputs",
        default=str(TEST_MICROGRAPHS),
        help="the folder of micrographs (by default the study's 163 test micrographs)",
    )
    parser.add_argument("--model", default=defaults.PRETRAINED, help="the model to explain")
    parser.add_argument("--engine", default=defaults.ENGINE, choices=defaults.ENGINES)
    parser.add_argument(
        "--block",
        type=cli.at_least(1),
        default=20,
        help="micrographs timed both ways one right after the other",
    )
    arguments = parser.parse_args()
    inputs = Path(arguments.inputs)
    if not inputs.is_dir():
        print(f"skipped: no micrographs at {inputs} (the study's data lie in ../shared)")
        return 0
    cli.start_keras()
    import numpy as np

    from complexstep import api
    from complexstep.folders import loop
    from complexstep.io import micrographs

    explainer = api.Explainer(arguments.model, engine=arguments.engine)
    report = loop.FolderReport()
    paths = loop.find_micrographs(inputs, inputs / ".none", report)
    images = np.stack(
        [micrographs.read_micrograph(path).resized(defaults.IMAGE_SIZE).pixels for path in paths]
    )
    explainer.attribute_many(images[:1])
    load = os.getloadavg()
    totals = {"engines": [0.0, 0.0], "stage 2": [0.0, 0.0]}
    ratios = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, first in enumerate(range(0, len(paths), arguments.block)):
            block = Path(scratch) / f"block{number}"
            block.mkdir()
            for path in paths[first : first + arguments.block]:
                (block / path.name).symlink_to(path.resolve())
            ways = {
                "engines": lambda first=first: engines(
                    explainer, images[first : first + arguments.block], explainer.images_per_call
                ),
                "stage 2": lambda block=block: stage_2(explainer, block, block.with_suffix(".out")),
            }
            order = list(ways) if number % 2 == 0 else list(reversed(ways))
            seconds = {way: timed(ways[way]) for way in order}
            for way, (wall, cpu) in seconds.items():
                totals[way][0] += wall
                totals[way][1] += cpu
            ratios.append(seconds["stage 2"][0] / seconds["engines"][0])
    after = os.getloadavg()
    print(
        f"{len(images)} micrographs of {inputs} at 256x256 ({arguments.engine} engine, model "
        f"{arguments.model}), Keras backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}, "
        f"{os.cpu_count()} CPU core(s), blocks of {arguments.block}; load average "
        f"{load[0]:.1f} before, {after[0]:.1f} after"
    )
    print(f"{'':<9} {'wall s':>8} {'s/map':>7} {'CPU s':>8}")
    for way, (wall, cpu) in totals.items():
        print(f"{way:<9} {wall:>8.1f} {wall / len(images):>7.3f} {cpu:>8.1f}")
    ratio = totals["stage 2"][0] / totals["engines"][0]
    print(
        f"stage 2 / engines: {ratio:.3f}x wall-clock (target <= 1.1x), "
        f"{totals['stage 2'][1] / totals['engines'][1]:.3f}x CPU; per block, median "
        f"{statistics.median(ratios):.3f}x, from {min(ratios):.3f}x to {max(ratios):.3f}x"
    )
    return 0 if ratio <= 1.1 else 1


if __name__ == "__main__":
    cli.run(main)
