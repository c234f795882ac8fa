"""Stage 2's folder loop over up to 100,000 tiny micrographs: its own cost per file, by count.

A stub engine returns zero maps at once, so that what is timed is the loop itself: finding the
micrographs, planning their outputs, reading them, writing each map's three files and recording
the report; then a rerun with ``skip_existing``, which reads every sidecar and leaves every map
alone. The loop's cost per file should be flat from 1,000 to 100,000 files: a step that grows with
the square of the count (checking each output against a list) shows as seconds per file that
climb with it.

    python benchmarks/folder_loop_scale.py --counts 1000 10000 100000 --folder /tmp/scale
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from complexstep import defaults
from complexstep.explain import kinds
from complexstep.explain.domains import Pixels
from complexstep.folders import attribution

SIDE = 16
"""The micrographs' side: the least the paper's network takes, so that reading costs little."""

PER_FOLDER = 1000
"""Micrographs a subfolder holds, as an archive is laid out by session or sample."""


class StubExplainer:
    """What the folder loop asks of an ``Explainer``, with maps of zeros made at once."""

    layer, engine, h = defaults.LAYER, defaults.ENGINE, defaults.H
    step, images_per_call = SIDE, defaults.IMAGES_PER_CALL
    spatial, channels, per_channel = 2, 1, False
    # The sidecar names the framework that made a map; the stub's maps are made by none.
    backend = "none"
    # Nothing to send to a cluster: the benchmark runs in one process.
    settings = model = None

    def __init__(self):
        self.domain = Pixels()
        self.kind = kinds.kind_of(defaults.MAP_KIND, self.domain)

    def check_size(self, height: int, width: int) -> None:
        """Every multiple of the step is taken."""

    def passes(self, height: int, width: int) -> int:
        return 1

    def attribute_many(self, images, on_pass=None) -> np.ndarray:
        if on_pass is not None:
            on_pass(len(images))
        return np.zeros((len(images), SIDE, SIDE), np.float32)


def write_micrographs(folder: Path, count: int) -> None:
    """``count`` tiny grey PNGs, ``PER_FOLDER`` a subfolder."""
    data = Path(tempfile.mkstemp(suffix=".png")[1])
    Image.fromarray(np.arange(SIDE * SIDE, dtype=np.uint8).reshape(SIDE, SIDE)).save(data)
    for index in range(count):
        sub = folder / f"session_{index // PER_FOLDER:04d}"
        if index % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        shutil.copyfile(data, sub / f"m{index:06d}.png")
    data.unlink()


def timed(count: int, root: Path) -> tuple[float, float]:
    """Seconds of a first run and of a rerun with ``skip_existing`` over ``count`` micrographs."""
    inputs, outputs = root / f"inputs_{count}", root / f"maps_{count}"
    write_micrographs(inputs, count)
    explainer = StubExplainer()
    start = time.perf_counter()
    first = attribution.attribute_folder(inputs, outputs, explainer, resize=None)
    made = time.perf_counter() - start
    start = time.perf_counter()
    again = attribution.attribute_folder(
        inputs, outputs, explainer, resize=None, skip_existing=True
    )
    skipped = time.perf_counter() - start
    if len(first.written) != count or len(again.existing) != count or first.failed:
        raise SystemExit(f"the loop lost files: {first.failed[:3]}")
    shutil.rmtree(inputs)
    shutil.rmtree(outputs)
    return made, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts", type=int, nargs="+", default=[1000, 10000, 100000], help="micrographs a run"
    )
    parser.add_argument("--folder", help="where the micrographs go; a temporary folder if none")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=arguments.folder) as root:
        print(f"{'files':>8} {'run s':>8} {'ms/file':>8} {'skip s':>8} {'ms/file':>8}")
        for count in arguments.counts:
            made, skipped = timed(count, Path(root))
            print(
                f"{count:>8} {made:>8.1f} {1000 * made / count:>8.3f} "
                f"{skipped:>8.1f} {1000 * skipped / count:>8.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
