"""Stage 1: trains the paper's convolutional autoencoder on a folder of micrographs.

Run from the repository root as ``python codes/build_convolutional_autoencoder.py``; every flag
defaults to the paper's setting, and ``--help`` explains each. The trained model, its weights, the
loss per epoch and two plots are written to the models folder for stages 2 and 3; the training
state is saved there after every epoch, so that ``--resume`` continues an interrupted run.
"""

import argparse
import functools
import sys
from collections.abc import Sequence

from complexstep import defaults
from complexstep.commands import cli


def _add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds where the micrographs are and where the model goes, and --resume."""
    parser.add_argument(
        "--train-dir",
        default=defaults.TRAIN_DIR,
        help="folder of training micrographs (PNG, JPEG, TIFF or BMP; subfolders are searched)",
    )
    parser.add_argument(
        "--test-dir",
        default=defaults.TEST_DIR,
        help="folder of test micrographs, used for the validation loss after each epoch",
    )
    parser.add_argument(
        "--models-dir",
        default=defaults.MODELS_DIR,
        help="folder that receives the model, weights, loss history, plots and the training "
        "state saved after every epoch (created if needed)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run saved in --models-dir from its last completed epoch, "
        "with the same settings and images",
    )


def _add_optimisation_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds what the optimisation does: epochs, batches, learning rate, seed and crops."""
    parser.add_argument(
        "--epochs",
        type=cli.at_least(1),
        default=defaults.EPOCHS,
        help="passes over the training images, counting those done before a --resume",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.at_least(1),
        default=defaults.BATCH_SIZE,
        help="images per gradient step",
    )
    parser.add_argument(
        "--learning-rate",
        type=cli.positive_number,
        default=defaults.LEARNING_RATE,
        help="learning rate of the Adam optimiser",
    )
    cli.add_seed_argument(
        parser,
        "seed of the initial weights, the shuffling and the crops; with --deterministic the same "
        "seed and images give the same model on the same machine",
    )
    parser.add_argument(
        "--crop",
        type=_crop_size,
        default=None,
        metavar="SIZE",
        help="train on random SIZE x SIZE crops of the micrographs at their own resolution, drawn "
        "afresh each epoch (validated on their centres), instead of resizing them to "
        f"{defaults.IMAGE_SIZE}x{defaults.IMAGE_SIZE} as the paper does; a multiple of 16, "
        "no larger than the smallest micrograph",
    )


def _add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds how the machine computes: kernels, precision, devices and decoding threads."""
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="use deterministic kernels (TensorFlow backend), so that a rerun or a resumed run "
        "ends with bit-identical weights; may be slower",
    )
    parser.add_argument(
        "--precision",
        choices=defaults.PRECISIONS,
        default=defaults.PRECISION,
        help="bfloat16 computes in mixed precision with float32 weights: for GPUs, since it is "
        "several times slower on CPUs",
    )
    parser.add_argument(
        "--devices",
        default=None,
        metavar="LIST",
        help="comma-separated devices to train on data-parallel, as the backend names them "
        "(gpu:0,gpu:1); default all of the backend's accelerators, or its CPU",
    )
    parser.add_argument(
        "--workers",
        type=cli.at_least(1),
        default=defaults.WORKERS,
        help="threads decoding images ahead of the model; more help a fast GPU",
    )


parse_arguments = cli.parse_arguments_with(
    "Train the convolutional autoencoder of Arumugam & Kiran (2022) on grey micrographs and save "
    "the model, its weights, the loss per epoch and plots of the loss and of a few "
    "reconstructions. Defaults are the paper's settings. Runs on the Keras backend named by "
    "KERAS_BACKEND (tensorflow, jax or torch), on its GPUs where it sees any.",
    _add_folder_arguments,
    _add_optimisation_arguments,
    _add_machine_arguments,
    # The pixel size labels maps; training has no use for it.
    functools.partial(cli.add_reading_arguments, pixel_size=False),
)


def _crop_size(text: str) -> int:
    """Parses a crop side: a multiple of 16, as the network's four poolings need."""
    value = cli.at_least(16)(text)
    if value % 16:
        raise argparse.ArgumentTypeError(f"must be a multiple of 16, got {value}")
    return value


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Trains the autoencoder as the command line asks and reports the final validation loss."""
    arguments = parse_arguments(argv, prog)
    cli.start_keras()
    from complexstep.folders import training

    reading = cli.reading(arguments)
    reading.pop("pixel_size")
    try:
        result = training.train(
            arguments.train_dir,
            arguments.test_dir,
            arguments.models_dir,
            settings=training.TrainingSettings(
                epochs=arguments.epochs,
                batch_size=arguments.batch_size,
                learning_rate=arguments.learning_rate,
                seed=arguments.seed,
                crop=arguments.crop,
                deterministic=arguments.deterministic,
                precision=arguments.precision,
                devices=None if arguments.devices is None else arguments.devices.split(","),
                workers=arguments.workers,
                reading=reading,
            ),
            resume=arguments.resume,
            on_progress=_Reporter(arguments.epochs),
        )
    except training.NoMicrographsError as error:
        raise cli.UsageError(
            f"{error}; put micrographs there, or run {cli.command_for('synthesize', prog)} to "
            "fill empty folders "
            "with synthetic ones"
        ) from None
    except training.UnfinishedRunError as error:
        raise cli.UsageError(
            f"{error.folder} holds an unfinished run ({error.done} of {error.epochs} epochs): "
            f"pass --resume to continue it, or delete {error.settings_path} to start afresh"
        ) from None
    except training.DeviceError as error:
        raise cli.UsageError(f"{error} (--devices)") from None
    for line in result.notes:
        print(line, file=sys.stderr)
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    if result.dead_channels:
        print(dead_channels_line(result), file=sys.stderr)
    resumed = f", resumed after epoch {result.first_epoch}" if result.first_epoch else ""
    print(
        f"validation loss (MSE) {result.val_loss:.4g} after {arguments.epochs} epoch(s) on "
        f"{result.train_images} training images{resumed}; model, weights, history and plots "
        f"written to {arguments.models_dir}"
    )
    return cli.EXIT_FAILURE if result.skipped else 0


def dead_channels_line(result) -> str:
    """The line that names the code's dead channels, which no map can show anything of."""
    dead = [str(channel) for channel in result.dead_channels]
    names = ", ".join(dead[:-1]) + " and " + dead[-1] if len(dead) > 1 else dead[0]
    return (
        f"note: {len(dead)} of the code's {result.code_channels} channels ({names}) "
        f"{'are' if len(dead) > 1 else 'is'} zero on all {result.checked_images} test "
        "micrographs checked: a dead channel carries nothing, so the maps explain the other "
        f"{result.code_channels - len(dead)} alone"
    )


class _Reporter:
    """Shows training's progress reports: a bar for each folder checked, on a terminal a bar for
    each epoch's batches, and a line for each epoch saved, which its last batch's report carries.

    Args:
        epochs: the run's epochs, which its batches are counted over.
    """

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.bar = None

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        if detail.startswith("checking "):
            if done == 1:
                self.bar = cli.ProgressBar(total, detail)
            self.bar.advance()
            return
        steps = total // self.epochs
        epoch, batch = divmod(done - 1, steps)
        # In a log, the line per epoch says enough.
        if sys.stderr.isatty():
            if batch == 0:
                self.bar = cli.ProgressBar(steps, f"epoch {epoch + 1}", units="batches")
            self.bar.advance()
        if batch + 1 == steps:
            print(detail, file=sys.stderr, flush=True)
