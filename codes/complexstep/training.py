"""Stage 1: training the paper's convolutional autoencoder on a folder of micrographs.

The model learns to reproduce 256x256 grey micrographs through a 16x16x8 code, with the paper's
settings: Adam at a learning rate of 5e-4, mean squared error, batches of 32, 50 epochs. Images are
streamed from disk by a ``tf.data`` pipeline that decodes them with ``images.read_image``, so a
folder of any size trains in constant memory and every format the project reads (16-bit TIFF
included) is accepted. Each file is decoded once before training; unreadable ones are reported one
line each and left out, so that a bad file neither stops a long run nor is silently lost.

The models folder receives the full model, its weights alone (for a freshly built autoencoder), the
loss per epoch as CSV and as a plot, and a plot of a few test micrographs beside their
reconstructions. Every file is written atomically, and the folder is checked before training, so
that a run never ends with a trained model that cannot be saved.
"""

import csv
import dataclasses
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from complexstep import architecture, cli, images
from complexstep.cli import UserError
from complexstep.hyperparameters import BATCH_SIZE, EPOCHS, LEARNING_RATE, SEED

LOSS = "mse"

# How many test micrographs the reconstruction plot shows.
RECONSTRUCTION_EXAMPLES = 4

MODEL_FILE = f"{architecture.MODEL_NAME}.keras"
WEIGHTS_FILE = f"{architecture.MODEL_NAME}.weights.h5"
HISTORY_FILE = "training_history.csv"
LOSS_CURVES_FILE = "loss_curves.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"

_IMAGE_SHAPE = (images.IMAGE_SIZE, images.IMAGE_SIZE, 1)


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training run produced.

    Attributes:
        model: the trained model.
        model_path: the full model, loadable with ``keras.models.load_model``.
        weights_path: the weights alone, loadable into ``architecture.build_autoencoder()``.
        history_path: the CSV of training and validation loss per epoch.
        loss_curves_path: the plot of the loss per epoch.
        reconstructions_path: the plot of test micrographs and their reconstructions.
        train_images: how many training images were used.
        test_images: how many test images were used for validation.
        skipped: the unreadable files that were left out.
        loss: the training mean squared error of the last epoch.
        val_loss: the test mean squared error after the last epoch.
    """

    model: keras.Model = dataclasses.field(repr=False)
    model_path: Path
    weights_path: Path
    history_path: Path
    loss_curves_path: Path
    reconstructions_path: Path
    train_images: int
    test_images: int
    skipped: tuple[Path, ...]
    loss: float
    val_loss: float


def train(
    train_dir: str | os.PathLike,
    test_dir: str | os.PathLike,
    models_dir: str | os.PathLike,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    seed: int = SEED,
    verbose: int = 1,
) -> TrainingResult:
    """Trains the autoencoder on one folder, validates it on another and saves the results.

    The same seed and images give the same weights on the same machine: the seed fixes the initial
    weights and the order of the batches, and TensorFlow is made to use deterministic kernels. Both
    settings are global: the seed also resets Python's and NumPy's generators, and determinism stays
    on for the rest of the process.

    Args:
        train_dir: folder of training micrographs, searched recursively.
        test_dir: folder of test micrographs, searched recursively, for the validation loss.
        models_dir: folder that receives the model, weights, history and plots.
        epochs: passes over the training images.
        batch_size: images per gradient step.
        learning_rate: Adam's learning rate.
        seed: seed of the initial weights and of the shuffling.
        verbose: Keras's progress display: 0 silent, 1 progress bar, 2 one line per epoch.

    Returns:
        The trained model, the paths written and the final losses.

    Raises:
        UserError: if the models folder cannot be written, or a folder holds no readable image.
    """
    models_dir = prepare_models_dir(models_dir)
    train_paths, train_skipped = readable_images(train_dir, "checking training images")
    test_paths, test_skipped = readable_images(test_dir, "checking test images")

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = architecture.build_autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=LOSS)
    # The pipeline shuffles the training images itself; Keras cannot shuffle a dataset and would
    # warn about its own default shuffle=True.
    history = model.fit(
        make_dataset(train_paths, batch_size, shuffle_seed=seed),
        validation_data=make_dataset(test_paths, batch_size),
        epochs=epochs,
        verbose=verbose,
        shuffle=False,
    ).history

    examples = np.stack([images.read_image(path) for path in test_paths[:RECONSTRUCTION_EXAMPLES]])
    # A direct call suits these few images; predict would first compile a function for them.
    reconstructions = keras.ops.convert_to_numpy(model(examples[..., np.newaxis]))[..., 0]
    return TrainingResult(
        model=model,
        model_path=images.write_atomically(models_dir / MODEL_FILE, model.save),
        weights_path=images.write_atomically(models_dir / WEIGHTS_FILE, model.save_weights),
        history_path=write_history(models_dir / HISTORY_FILE, history),
        loss_curves_path=plot_loss_curves(models_dir / LOSS_CURVES_FILE, history),
        reconstructions_path=plot_reconstructions(
            models_dir / RECONSTRUCTIONS_FILE,
            examples,
            reconstructions,
            [path.name for path in test_paths[:RECONSTRUCTION_EXAMPLES]],
        ),
        train_images=len(train_paths),
        test_images=len(test_paths),
        skipped=tuple(train_skipped + test_skipped),
        loss=float(history["loss"][-1]),
        val_loss=float(history["val_loss"][-1]),
    )


def prepare_models_dir(models_dir: str | os.PathLike) -> Path:
    """Creates the models folder if needed and checks that files can be written into it.

    Args:
        models_dir: the folder that will receive the trained model and its plots.

    Returns:
        The folder as a Path.

    Raises:
        UserError: if the path is a file, or the folder cannot be created or written to.
    """
    models_dir = Path(models_dir)
    if models_dir.exists() and not models_dir.is_dir():
        raise UserError(f"models directory {models_dir} is a file, not a folder")
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=models_dir):
            pass
    except OSError as error:
        raise UserError(
            f"cannot write to models directory {models_dir}: {error.strerror or error}"
        ) from None
    return models_dir


def readable_images(folder: str | os.PathLike, label: str) -> tuple[list[Path], list[Path]]:
    """Finds the images of a folder and decodes each once, reporting those that cannot be read.

    Each unreadable file is reported on standard error as one line beginning with "skipped", after
    the progress line, so that a bad file costs a line in the log rather than the run.

    Args:
        folder: folder searched recursively, as ``images.find_images`` does.
        label: the progress line's label.

    Returns:
        The readable paths and the skipped paths, each in ``find_images`` order.

    Raises:
        UserError: if the folder is missing or holds no image, or none of its images is readable.
    """
    paths = images.list_images(folder)
    if not paths:
        raise UserError(
            f"no images in {folder} or its subfolders; put micrographs there, or run "
            "codes/generate_synthetic_micrographs.py to fill empty folders with synthetic ones"
        )
    readable, skipped, reasons = [], [], []
    for path in cli.progress(paths, label):
        try:
            images.read_image(path)
        except images.UnreadableImageError as error:
            skipped.append(path)
            reasons.append(str(error))
        else:
            readable.append(path)
    for reason in reasons:
        print(f"skipped: {reason}", file=sys.stderr)
    if not readable:
        raise UserError(f"none of the {len(skipped)} images in {folder} could be read")
    return readable, skipped


def make_dataset(
    paths: Sequence[str | os.PathLike], batch_size: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Builds a pipeline that streams micrographs from disk as (input, target) batches.

    Only the paths are held in memory; each image is decoded by ``images.read_image`` when its
    batch is needed, on background threads while the model trains on the previous batch.

    Args:
        paths: image files, each readable by ``images.read_image``.
        batch_size: images per batch; the last batch may be smaller.
        shuffle_seed: where given, the order is shuffled afresh each epoch from this seed;
            where None, the images come in the order of ``paths``.

    Returns:
        A dataset of (x, x) pairs of float32 tensors of shape (batch, 256, 256, 1) in [0, 1].
    """
    dataset = tf.data.Dataset.from_tensor_slices([os.fspath(path) for path in paths])
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _load(path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes one image inside the pipeline, as the autoencoder's input and its target."""
    # read_image is a pure function of the file, which lets tf.data decode in parallel even with
    # op determinism enabled.
    image = tf.numpy_function(_read_with_channel, [path], tf.float32, stateful=False)
    image.set_shape(_IMAGE_SHAPE)
    return image, image


def _read_with_channel(path: bytes) -> np.ndarray:
    """Reads one image as a (256, 256, 1) array, the shape the model takes."""
    return images.read_image(os.fsdecode(path))[..., np.newaxis]


def write_history(path: Path, history: dict[str, list[float]]) -> Path:
    """Writes the loss per epoch as CSV with the columns epoch, loss and val_loss.

    Args:
        path: the destination file.
        history: Keras's history, with equal-length "loss" and "val_loss" lists.

    Returns:
        The destination path.
    """

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["epoch", "loss", "val_loss"])
            for epoch, (loss, val_loss) in enumerate(zip(history["loss"], history["val_loss"])):
                writer.writerow([epoch + 1, repr(float(loss)), repr(float(val_loss))])

    return images.write_atomically(path, write)


def plot_loss_curves(path: Path, history: dict[str, list[float]]) -> Path:
    """Plots the training and validation mean squared error per epoch on a logarithmic scale.

    The scale is logarithmic because the error falls by orders of magnitude over a run, which a
    linear axis would flatten into a line along the bottom after the first epochs.

    Args:
        path: the destination PNG.
        history: Keras's history, with equal-length "loss" and "val_loss" lists.

    Returns:
        The destination path.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(epochs, history["loss"], marker="o", markersize=3, label="training images")
    axes.plot(epochs, history["val_loss"], marker="s", markersize=3, label="test images")
    axes.set_yscale("log")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("mean squared error (log scale)")
    axes.set_title("Autoencoder reconstruction error per epoch")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return images.write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=120))


def plot_reconstructions(
    path: Path, originals: np.ndarray, reconstructions: np.ndarray, names: Sequence[str]
) -> Path:
    """Plots micrographs in the top row and the autoencoder's reconstructions beneath them.

    Both rows share the grey scale 0 (black) to 1 (white), so that a loss of contrast in a
    reconstruction shows as such rather than being stretched away.

    Args:
        path: the destination PNG.
        originals: micrographs, shape (count, 256, 256), values in [0, 1].
        reconstructions: the model's outputs for them, same shape.
        names: a label for each micrograph, such as its file name.

    Returns:
        The destination path.
    """
    count = len(originals)
    # Two columns' width at least, so that the title fits above a single example.
    figure = Figure(figsize=(2.6 * max(count, 2), 5.8), layout="constrained")
    grid = figure.subplots(2, count, squeeze=False)
    for column, (original, reconstruction, name) in enumerate(
        zip(originals, reconstructions, names)
    ):
        error = float(np.mean((original - reconstruction) ** 2))
        for row, (image, title) in enumerate(
            [(original, name), (reconstruction, f"MSE {error:#.2g}")]
        ):
            axes = grid[row, column]
            axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
            axes.set_title(title, fontsize=9)
            axes.set_xticks([])
            axes.set_yticks([])
    grid[0, 0].set_ylabel("test micrograph")
    grid[1, 0].set_ylabel("reconstruction")
    figure.suptitle("Test micrographs (top row) and\ntheir reconstructions by the autoencoder")
    return images.write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100))
