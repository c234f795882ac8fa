"""Stage 2 over a folder against the engines' own time for the same maps: what reading and writing
cost once they overlap with computing.

Times, with one warmed-up ``Explainer`` (so that building the twin and compiling are not timed):

- the engines alone: ``Explainer.attribute_many`` over the folder's micrographs, read into memory
  beforehand, in chunks as the folder loop makes them, no file touched;
- stage 2: ``folders.attribution.attribute_folder`` over the same micrographs into a new folder,
  finding, reading, explaining and writing every map (``.npy``, ``.png``, ``.json``).

The target is stage 2 within 1.1 times the engines' time.

    python benchmarks/overlap.py [--inputs ../shared/data/micrographs/test] [--rounds 1]

The study's test micrographs lie in ``../shared`` beside the repository; where they are absent
the benchmark says so and exits without timing.
"""

import os
import tempfile
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

TEST_MICROGRAPHS = Path(__file__).resolve().parents[1].parent / "shared/data/micrographs/test"


def engines_seconds(explainer, images, per_call: int) -> float:
    """Seconds ``attribute_many`` takes over the images, ``per_call`` at a time."""
    start = time.perf_counter()
    for first in range(0, len(images), per_call):
        explainer.attribute_many(images[first : first + per_call])
    return time.perf_counter() - start


def stage_2_seconds(explainer, inputs: Path, outputs: Path) -> tuple[float, int]:
    """Seconds stage 2's folder driver takes over ``inputs``, and the maps it wrote."""
    from complexstep.folders import attribution

    start = time.perf_counter()
    report = attribution.attribute_folder(inputs, outputs, explainer, resize=defaults.IMAGE_SIZE)
    seconds = time.perf_counter() - start
    if report.failed:
        raise cli.UsageError(f"{len(report.failed)} micrograph(s) failed: {report.failed[0]}")
    return seconds, len(report.written)


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inputs",
        default=str(TEST_MICROGRAPHS),
        help="the folder of micrographs (by default the study's 163 test micrographs)",
    )
    parser.add_argument("--model", default=defaults.PRETRAINED, help="the model to explain")
    parser.add_argument("--method", default=defaults.METHOD, choices=defaults.METHODS)
    parser.add_argument(
        "--rounds", type=cli.at_least(1), default=1, help="times each of the two is timed, in turn"
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

    explainer = api.Explainer(arguments.model, method=arguments.method)
    report = loop.FolderReport()
    paths = loop.find_micrographs(inputs, inputs / ".none", report)
    images = np.stack(
        [micrographs.read_micrograph(path).resized(defaults.IMAGE_SIZE).pixels for path in paths]
    )
    explainer.attribute_many(images[:1])
    engines, stage_2 = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(arguments.rounds):
            engines.append(engines_seconds(explainer, images, explainer.images_per_call))
            seconds, written = stage_2_seconds(explainer, inputs, Path(scratch) / f"out{round_}")
            stage_2.append(seconds)
    load = os.getloadavg()
    print(
        f"{len(images)} micrographs of {inputs} at 256x256 ({arguments.method}, model "
        f"{arguments.model}), Keras backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}, "
        f"{os.cpu_count()} CPU core(s), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"{'round':<6} {'engines s':>10} {'stage 2 s':>10} {'ratio':>7}")
    for round_, (alone, folder) in enumerate(zip(engines, stage_2, strict=True), start=1):
        print(f"{round_:<6} {alone:>10.1f} {folder:>10.1f} {folder / alone:>6.3f}x")
    ratio = min(stage_2) / min(engines)
    print(f"best of each: {ratio:.3f}x (target <= 1.1x); {written} maps written")
    return 0 if ratio <= 1.1 else 1


if __name__ == "__main__":
    cli.run(main)
