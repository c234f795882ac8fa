"""How fast stage 1 trains: its pipeline from disk against a plain fit on arrays in memory.

Prints training images per second, on the current Keras backend and device, for:

- ``model.fit`` of the paper's autoencoder on the same micrographs held in memory as arrays, the
  fastest a pipeline could feed it;
- stage 1's ``training.train``, reading the micrographs from disk through ``data.MicrographBatches``
  and saving its state after every epoch;
- the same with ``deterministic=True`` (deterministic kernels on TensorFlow).

Every run validates on the same test micrographs after each epoch and runs in a fresh process; the
first epoch, which compiles, is not counted.

    python benchmarks/training_speed.py --train-dir ../shared/data/micrographs/train

Without the folders it uses synthetic micrographs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

RUNS = ("plain fit", "stage 1", "stage 1 deterministic")


def folder_of(source: str | None, count: int, seed: int, into: Path) -> Path:
    """A folder of ``count`` micrographs: links to the first of ``source``, or synthetic ones."""
    from complexstep.folders import loop, synthetic

    into.mkdir(parents=True, exist_ok=True)
    if source and Path(source).is_dir():
        for path in loop.find_micrographs(Path(source), into, loop.FolderReport())[:count]:
            (into / path.name).symlink_to(path.resolve())
    else:
        synthetic.fill_empty_folders({into: count}, seed=seed)
    return into


def measure(run: str, train_dir: Path, test_dir: Path, epochs: int, batch_size: int) -> dict:
    """Trains in this process and returns the training images per second after the first epoch."""
    cli.start_keras()
    import keras
    import numpy as np

    from complexstep.folders import loop, training
    from complexstep.io import images
    from complexstep.model import architecture

    def found(folder: Path) -> list[Path]:
        return loop.find_micrographs(folder, folder, loop.FolderReport())

    if run == "plain fit":
        read = [images.read_image(path) for path in found(train_dir)]
        x = np.stack(read)[..., None]
        validation = np.stack([images.read_image(path) for path in found(test_dir)])
        keras.utils.set_random_seed(defaults.SEED)
        model = architecture.build_autoencoder()
        model.compile(optimizer=keras.optimizers.Adam(defaults.LEARNING_RATE), loss="mse")
        seconds = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.monotonic()

            def on_epoch_end(self, epoch, logs=None):
                seconds.append(time.monotonic() - self.start)

        model.fit(
            x,
            x,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=(validation[..., None], validation[..., None]),
            callbacks=[Clock()],
            verbose=0,
        )
        count = len(x)
    else:
        result = training.train(
            train_dir,
            test_dir,
            tempfile.mkdtemp(),
            settings=training.TrainingSettings(
                epochs=epochs,
                batch_size=batch_size,
                deterministic=run.endswith("deterministic"),
            ),
        )
        with open(result.history_path) as file:
            seconds = [float(line.split(",")[3]) for line in file.readlines()[1:]]
        count = result.train_images
    return {"images_per_second": count * (epochs - 1) / sum(seconds[1:])}


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-dir", help="training micrographs; synthetic ones if missing")
    parser.add_argument("--test-dir", help="test micrographs; synthetic ones if missing")
    parser.add_argument(
        "--count", type=cli.at_least(1), default=128, help="training micrographs used"
    )
    parser.add_argument(
        "--test-count", type=cli.at_least(1), default=32, help="test micrographs used"
    )
    parser.add_argument(
        "--epochs", type=cli.at_least(2), default=3, help="epochs per run; the first is not timed"
    )
    parser.add_argument(
        "--batch-size", type=cli.at_least(1), default=defaults.BATCH_SIZE, help="images per step"
    )
    parser.add_argument("--run", choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--folders", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        train_dir, test_dir = map(Path, arguments.folders)
        found = measure(arguments.run, train_dir, test_dir, arguments.epochs, arguments.batch_size)
        print(json.dumps(found))
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        train_dir = folder_of(arguments.train_dir, arguments.count, 1, Path(scratch) / "train")
        test_dir = folder_of(arguments.test_dir, arguments.test_count, 2, Path(scratch) / "test")
        found = {}
        for run in RUNS:
            completed = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--run",
                    run,
                    "--folders",
                    str(train_dir),
                    str(test_dir),
                    "--epochs",
                    str(arguments.epochs),
                    "--batch-size",
                    str(arguments.batch_size),
                ],
                capture_output=True,
                text=True,
                env=dict(os.environ),
            )
            if completed.returncode:
                raise cli.UsageError(f"{run} failed: {completed.stderr.strip()[-300:]}")
            found[run] = json.loads(completed.stdout.strip().splitlines()[-1])
    print(
        f"training images per second, Keras backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}"
        f", {os.cpu_count()} CPU core(s), {arguments.count} training and {arguments.test_count} "
        f"test micrographs, batch {arguments.batch_size}, {arguments.epochs - 1} timed epoch(s)"
    )
    plain = found["plain fit"]["images_per_second"]
    for run, result in found.items():
        speed = result["images_per_second"]
        print(f"{run:<24} {speed:>8.1f} images/s {speed / plain:>7.0%} of the plain fit")
    return 0


if __name__ == "__main__":
    cli.run(main)
