"""How many maps a second stage 2 makes in process and on local Dask clusters, and what the
scheduler costs a task.

Prints, for the current machine and Keras backend:

- maps per second over the same micrographs in process and on ``local:N`` clusters (``local:1``
  and ``local:2`` by default), each after a warm-up run that builds every worker's explainer, so
  that compiling is not timed; written as ``attribute_folder`` writes them, reading and writing
  included;
- the scheduler's overhead per task on ``local:1``: the round trip of a task that does nothing,
  and of one that carries a 256x256 float32 image there and back, against the time of one
  256x256 map in process.

    python benchmarks/cluster_throughput.py [--model pretrained] [--count 20] [--inputs FOLDER]

Without ``--inputs`` it explains ``--count`` synthetic 256x256 micrographs. On 2 cores no speed-up
is expected from more workers: each worker's TensorFlow already uses every core.
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

ROUND_TRIPS = 30


def synthetic_folder(folder: Path, count: int) -> Path:
    """Writes ``count`` synthetic 256x256 micrographs into ``folder``."""
    import numpy as np
    from PIL import Image

    from complexstep.model import synthetic

    rng = np.random.default_rng(0)
    for index in range(count):
        image = synthetic.generate_micrograph(rng, defaults.IMAGE_SIZE)
        Image.fromarray(image).save(folder / f"synthetic_{index:03d}.png")
    return folder


def maps_per_second(inputs: Path, scratch: Path, explainer, resize, client=None) -> float:
    """Stage 2's maps per second over ``inputs``, after a warm-up run over a few of them."""
    from complexstep.folders import attribution

    threads = 1 if client is None else sum(client.nthreads().values())
    warm = scratch / "warm"
    warm.mkdir()
    for path in sorted(inputs.rglob("*"))[: 2 * threads]:
        if path.is_file():
            (warm / path.name).symlink_to(path.resolve())
    attribution.attribute_folder(
        warm, scratch / "warm-out", explainer, resize=resize, client=client
    )
    start = time.perf_counter()
    report = attribution.attribute_folder(
        inputs, scratch / "out", explainer, resize=resize, client=client
    )
    seconds = time.perf_counter() - start
    if report.failed:
        raise cli.UsageError(f"{len(report.failed)} micrograph(s) failed: {report.failed[0]}")
    return len(report.written) / seconds


def round_trip(client, payload) -> float:
    """The median seconds from submitting a task that returns ``payload`` to holding its result."""
    times = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        client.submit(lambda value: value, payload, pure=False).result()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=defaults.PRETRAINED, help="the model to explain")
    parser.add_argument("--engine", default=defaults.ENGINE, choices=defaults.ENGINES)
    parser.add_argument("--inputs", help="a folder of micrographs; synthetic ones if not given")
    parser.add_argument(
        "--count", type=cli.at_least(1), default=20, help="synthetic micrographs to explain"
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        type=cli.at_least(1),
        default=[1, 2],
        help="worker processes of each local cluster timed",
    )
    arguments = parser.parse_args()
    cli.start_keras()
    import numpy as np

    from complexstep import api
    from complexstep.cluster import clients

    explainer = api.Explainer(arguments.model, engine=arguments.engine)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if arguments.inputs:
            inputs = Path(arguments.inputs)
        else:
            (scratch / "inputs").mkdir()
            inputs = synthetic_folder(scratch / "inputs", arguments.count)
        rows = []
        (scratch / "in-process").mkdir()
        rows.append(
            (
                "in process",
                maps_per_second(inputs, scratch / "in-process", explainer, defaults.IMAGE_SIZE),
            )
        )
        overhead = None
        for workers in arguments.workers:
            with clients.connect(f"local:{workers}") as client:
                threads = sum(client.nthreads().values())
                folder = scratch / f"local-{workers}"
                folder.mkdir()
                rows.append(
                    (
                        f"local:{workers} ({threads} thread(s))",
                        maps_per_second(inputs, folder, explainer, defaults.IMAGE_SIZE, client),
                    )
                )
                if overhead is None:
                    image = np.zeros((defaults.IMAGE_SIZE,) * 2, np.float32)
                    overhead = (round_trip(client, None), round_trip(client, image))
    source = inputs if arguments.inputs else f"{arguments.count} synthetic"
    print(
        f"stage 2 over {source} micrographs at 256x256 ({arguments.engine} engine, model "
        f"{arguments.model}) on {clients.cores()} CPU core(s), Keras backend "
        f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}"
    )
    print(f"{'where':<26} {'maps/s':>8} {'s/map':>8} {'vs in process':>14}")
    reference = rows[0][1]
    for where, rate in rows:
        print(f"{where:<26} {rate:>8.2f} {1 / rate:>8.2f} {rate / reference:>13.2f}x")
    map_seconds = 1 / reference
    print()
    print(f"scheduler overhead per task on local:{arguments.workers[0]}, median of {ROUND_TRIPS}")
    for what, seconds in zip(("no-op task", "256x256 image there and back"), overhead, strict=True):
        print(
            f"{what:<30} {seconds * 1000:>7.1f} ms {seconds / map_seconds:>7.1%} of a "
            f"{map_seconds:.2f} s map"
        )
    return 0


if __name__ == "__main__":
    cli.run(main)
