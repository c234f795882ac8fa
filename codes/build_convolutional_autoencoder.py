"""Stage 1: trains the paper's convolutional autoencoder on a folder of micrographs.

Run from the repository root as ``python codes/build_convolutional_autoencoder.py``; every flag
defaults to the paper's setting, and ``--help`` explains each. The trained model, its weights, the
loss per epoch and two plots are written to the models folder for stages 2 and 3.
"""

import argparse
import sys
from collections.abc import Sequence

from complexstep import cli, hyperparameters

TRAIN_DIR = "microstructural_images/train"
TEST_DIR = "microstructural_images/test"
MODELS_DIR = "models"


def parse_arguments(arguments: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and checks the command line.

    Args:
        arguments: the command-line arguments; None reads them from ``sys.argv``.

    Returns:
        The flags' values.

    Raises:
        UserError: if a flag is unknown or its value is invalid.
    """
    parser = cli.ArgumentParser(
        description=(
            "Train the convolutional autoencoder of Arumugam & Kiran (2022) on grey micrographs "
            "and save the model, its weights, the loss per epoch and plots of the loss and of a "
            "few reconstructions. Defaults are the paper's settings."
        ),
    )
    parser.add_argument(
        "--train-dir",
        default=TRAIN_DIR,
        help="folder of training micrographs (PNG, JPEG, TIFF or BMP; subfolders are searched)",
    )
    parser.add_argument(
        "--test-dir",
        default=TEST_DIR,
        help="folder of test micrographs, used for the validation loss after each epoch",
    )
    parser.add_argument(
        "--epochs",
        type=cli.at_least(1),
        default=hyperparameters.EPOCHS,
        help="passes over the training images",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.at_least(1),
        default=hyperparameters.BATCH_SIZE,
        help="images per gradient step",
    )
    parser.add_argument(
        "--learning-rate",
        type=cli.positive_number,
        default=hyperparameters.LEARNING_RATE,
        help="learning rate of the Adam optimiser",
    )
    parser.add_argument(
        "--models-dir",
        default=MODELS_DIR,
        help="folder that receives the model, weights, loss history and plots (created if needed)",
    )
    parser.add_argument(
        "--seed",
        type=cli.at_least(0),
        default=hyperparameters.SEED,
        help="seed of the initial weights and the shuffling; the same seed and images give the "
        "same model on the same machine",
    )
    return parser.parse_args(arguments)


def main() -> int:
    """Trains the autoencoder as the command line asks and reports the final validation loss."""
    arguments = parse_arguments()
    cli.start_keras()
    from complexstep import training

    result = training.train(
        train_dir=arguments.train_dir,
        test_dir=arguments.test_dir,
        models_dir=arguments.models_dir,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate,
        seed=arguments.seed,
        # A progress bar redrawn in place suits a terminal; a log file gets one line per epoch.
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(
        f"validation loss (MSE) {result.val_loss:.4g} after {arguments.epochs} epoch(s) on "
        f"{result.train_images} training images; model, weights, history and plots written to "
        f"{arguments.models_dir}"
    )
    return 0


if __name__ == "__main__":
    cli.run(main)
