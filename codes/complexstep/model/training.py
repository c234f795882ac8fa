"""Stage 1: training the paper's convolutional autoencoder on a folder of micrographs.

The model learns to reproduce grey micrographs through a code 16 times smaller, with the paper's
settings: Adam at a learning rate of 5e-4, mean squared error, batches of 32, 50 epochs. Images
stream from disk through ``data.MicrographBatches`` on any Keras backend, resized to 256x256 as in
the paper, or as random crops at their own resolution. Each file is decoded once before training;
unreadable ones are left out and returned, so that a bad file neither stops a long run nor is
silently lost.

A run survives a crash. At the end of every epoch the training state (weights and optimiser) and
the loss history are saved in the models folder, and ``resume=True`` continues from the last
completed epoch: batches are a pure function of the seed and the epoch, so a resumed run sees the
batches an uninterrupted one would have, and with deterministic kernels ends with the same weights.

Training is data-parallel over several accelerators where there are several:
``keras.distribution.DataParallel`` on JAX and ``tf.distribute.MirroredStrategy`` on TensorFlow.

The models folder finally receives the full model, its weights alone, the loss per epoch as CSV and
as a plot, and a plot of a few test micrographs beside their reconstructions. Every file is written
atomically, and the folder is checked before training, so that a run never ends with a trained
model that cannot be saved.
"""

import contextlib
import csv
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from complexstep import defaults
from complexstep.errors import (
    FolderError,
    SettingError,
    TrainingStateError,
    UnreadableImageError,
)
from complexstep.io import images
from complexstep.model import architecture, data
from complexstep.rendering.titles import draw_title

LOSS = "mse"

# How many test micrographs the reconstruction plot shows.
RECONSTRUCTION_EXAMPLES = 4

MODEL_FILE = defaults.MODEL_FILE
WEIGHTS_FILE = f"{defaults.MODEL_NAME}.weights.h5"
HISTORY_FILE = "training_history.csv"
LOSS_CURVES_FILE = "loss_curves.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
STATE_FILE = "training_state.keras"
SETTINGS_FILE = "training_settings.json"
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "seconds")


@dataclasses.dataclass(frozen=True)
class Progress:
    """What training reports as it goes, through the ``on_progress`` callback.

    Attributes:
        kind: "check" (an image decoded before training), "batch" (a training step done) or
            "epoch" (an epoch done and saved).
        done: images checked, batches done in the epoch, or epochs done.
        total: of how many.
        epoch: the epoch, from 1, of a "batch" or "epoch" report; 0 for "check".
        logs: for "epoch", the epoch's "loss", "val_loss" and "seconds".
        label: for "check", which folder is being checked.
    """

    kind: str
    done: int
    total: int
    epoch: int = 0
    logs: dict = dataclasses.field(default_factory=dict)
    label: str = ""


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
        skipped: the errors of the files that were left out.
        first_epoch: the epoch this run started from: 0, or the epochs done before a resume.
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
    skipped: tuple[UnreadableImageError, ...]
    first_epoch: int
    loss: float
    val_loss: float


def _ignore(progress: Progress) -> None:
    """The default ``on_progress``: nobody is told."""


def train(
    train_dir: str | os.PathLike,
    test_dir: str | os.PathLike,
    models_dir: str | os.PathLike,
    *,
    epochs: int = defaults.EPOCHS,
    batch_size: int = defaults.BATCH_SIZE,
    learning_rate: float = defaults.LEARNING_RATE,
    seed: int = defaults.SEED,
    crop: int | None = None,
    resume: bool = False,
    deterministic: bool = False,
    precision: str = defaults.PRECISION,
    devices: Sequence[str] | None = None,
    workers: int = defaults.WORKERS,
    on_progress: Callable[[Progress], None] = _ignore,
) -> TrainingResult:
    """Trains the autoencoder on one folder, validates it on another and saves the results.

    The seed fixes the initial weights, the order of the batches and the crops; it is set globally,
    so Python's, NumPy's and the backend's generators are reset too. With ``deterministic``, the
    TensorFlow backend also uses deterministic kernels for the rest of the process, so that the
    same seed and images give the same weights on the same machine; JAX and PyTorch on a CPU are
    deterministic as they are.

    Args:
        train_dir: folder of training micrographs, searched recursively.
        test_dir: folder of test micrographs, searched recursively, for the validation loss.
        models_dir: folder that receives the model, weights, history, plots and training state.
        epochs: passes over the training images, counting those done before a resume.
        batch_size: images per gradient step.
        learning_rate: Adam's learning rate.
        seed: seed of the initial weights, the shuffling and the crops.
        crop: train on random ``crop`` x ``crop`` windows of the micrographs at their own
            resolution, drawn afresh each epoch, and validate on their centres; None resizes
            every micrograph to 256x256, as the paper does. A multiple of 16.
        resume: continue the unfinished run saved in ``models_dir`` from its last completed epoch.
        deterministic: use deterministic kernels on TensorFlow (slower on some machines).
        precision: "float32", or "bfloat16" for mixed precision (for GPUs; slow on CPUs).
        devices: the accelerators to train on, as ``keras.distribution.list_devices()`` names
            them (``gpu:0``); None for all of the backend's accelerators, or its CPU. With
            several, ``batch_size`` must be a multiple of their number, and each epoch leaves out
            the few images past the last such multiple.
        workers: threads that decode images ahead of the model.
        on_progress: called with a ``Progress`` as images are checked and batches and epochs end.

    Returns:
        The trained model, the paths written and the final losses.

    Raises:
        SettingError: for a crop that is not a positive multiple of 16, an unknown precision,
            devices the backend does not have, or a batch size they do not divide.
        FolderError: if the models folder cannot be written, or a folder holds no usable image.
        TrainingStateError: if ``resume`` finds nothing to resume or a run with other settings,
            or if, without ``resume``, the folder holds an unfinished run that would be lost.
    """
    if crop is not None and (crop < 16 or crop % 16):
        raise SettingError(f"the crop must be a multiple of 16 of at least 16, not {crop}")
    if precision not in defaults.PRECISIONS:
        raise SettingError(f"precision must be one of {', '.join(defaults.PRECISIONS)}")
    models_dir = prepare_models_dir(models_dir)
    state = _SavedState(models_dir)
    if resume:
        state.check_saved()
    else:
        state.check_not_unfinished()
    train_paths, train_skipped = usable_images(train_dir, crop, "training images", on_progress)
    test_paths, test_skipped = usable_images(test_dir, crop, "test images", on_progress)
    settings = {
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "crop": crop,
        "precision": precision,
        # Recorded so that a resume cannot switch kernels, and with them bit-identical weights.
        "deterministic": deterministic,
        "train_images": [path.relative_to(train_dir).as_posix() for path in train_paths],
        "test_images": [path.relative_to(test_dir).as_posix() for path in test_paths],
    }
    scope, count = _distributed(devices)
    if batch_size % count or min(len(train_paths), len(test_paths)) < count:
        raise SettingError(
            f"batches of {batch_size} and folders of {len(train_paths)} and {len(test_paths)} "
            f"images cannot be split evenly over {count} devices; choose a batch size that is a "
            "multiple of the number of devices, or fewer devices"
        )
    train_batches = data.MicrographBatches(
        train_paths, batch_size, crop=crop, seed=seed, multiple=count
    )
    steps = train_batches.batches_per_epoch

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    with scope:
        if resume:
            model, history = state.load(settings, steps, epochs)
        else:
            model, history = _new_model(crop, precision, learning_rate), []
            state.start(settings, epochs)
        first_epoch = len(history)
        validation = data.MicrographBatches(
            test_paths, batch_size, crop=crop, workers=workers, multiple=count
        )
        epoch_end = _EpochEnd(state, history, steps, epochs, on_progress)
        # One fit per epoch, each given that epoch's batches alone, so that nothing a loader
        # prefetched can carry batches from one epoch into the next.
        for epoch in range(first_epoch, epochs):
            model.fit(
                data.MicrographBatches(
                    train_paths,
                    batch_size,
                    crop=crop,
                    seed=seed,
                    first_epoch=epoch,
                    workers=workers,
                    multiple=count,
                ),
                validation_data=validation,
                epochs=epoch + 1,
                initial_epoch=epoch,
                callbacks=[epoch_end],
                verbose=0,
                # The batches are already shuffled; Keras would shuffle their order again.
                shuffle=False,
            )

    examples = np.stack(
        [
            data.MicrographBatches(test_paths, 1, crop=crop).read(number, 0)
            for number in range(min(RECONSTRUCTION_EXAMPLES, len(test_paths)))
        ]
    )
    # A direct call suits these few images; predict would first compile a function for them.
    reconstructions = keras.ops.convert_to_numpy(model(examples[..., np.newaxis]))[..., 0]
    return TrainingResult(
        model=model,
        model_path=images.write_atomically(models_dir / MODEL_FILE, model.save),
        weights_path=images.write_atomically(models_dir / WEIGHTS_FILE, model.save_weights),
        history_path=models_dir / HISTORY_FILE,
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
        first_epoch=first_epoch,
        loss=float(history[-1]["loss"]),
        val_loss=float(history[-1]["val_loss"]),
    )


def _new_model(crop: int | None, precision: str, learning_rate: float) -> keras.Model:
    """A freshly initialised autoencoder for the training images' size, compiled with Adam."""
    shape = architecture.INPUT_SHAPE if crop is None else (crop, crop, 1)
    model = architecture.build_autoencoder(shape, precision)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=LOSS)
    return model


def available_devices() -> list[str]:
    """The devices training can use: the backend's accelerators, or else its CPUs."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [f"gpu:{number}" for number in range(len(gpus))] or ["cpu:0"]
    if keras.backend.backend() == "jax":
        return keras.distribution.list_devices()
    import torch

    return [f"cuda:{number}" for number in range(torch.cuda.device_count())] or ["cpu:0"]


def _distributed(
    devices: Sequence[str] | None,
) -> tuple[contextlib.AbstractContextManager, int]:
    """The scope in which to build and train a model data-parallel over ``devices``, and how many
    devices that is.

    Raises:
        SettingError: for a device the backend does not have, or several on PyTorch.
    """
    available = available_devices()
    chosen = list(available if devices is None else devices)
    unknown = [device for device in chosen if device not in available]
    if unknown:
        raise SettingError(
            f"no device {', '.join(unknown)} on the {keras.backend.backend()} backend; it has "
            f"{', '.join(available)}"
        )
    if len(chosen) <= 1:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.distribution.DataParallel(devices=chosen).scope(), len(chosen)
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy([f"/{device}" for device in chosen])
        return strategy.scope(), len(chosen)
    raise SettingError(
        f"training on several devices needs the JAX or TensorFlow backend, not {backend}; "
        "name one device with --devices"
    )


class _SavedState:
    """The training state in a models folder: settings, weights and optimiser, loss history.

    The settings are written when a run starts. At the end of every epoch the history is written,
    then the model with its optimiser; the optimiser's step count in the model file is what says
    how many epochs are done, so a crash between the two writes loses at most that epoch's row,
    which a resumed run writes again.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.settings_path = folder / SETTINGS_FILE
        self.model_path = folder / STATE_FILE
        self.history_path = folder / HISTORY_FILE

    def check_not_unfinished(self) -> None:
        """Refuses to start afresh over an unfinished run, whose hours of work would be lost."""
        if not self.settings_path.is_file():
            return
        saved = self._read_settings()
        done = len(self._read_history())
        # A run stopped before its first epoch ended has nothing to lose.
        if 0 < done < saved.get("epochs", 0):
            raise TrainingStateError(
                f"{self.folder} holds an unfinished run ({done} of {saved['epochs']} epochs): "
                f"pass --resume to continue it, or delete {self.settings_path} to start afresh"
            )

    def check_saved(self) -> None:
        """Refuses to resume where no run was saved, before any image is checked.

        Raises:
            TrainingStateError: if the settings or the training state are missing.
        """
        if not (self.settings_path.is_file() and self.model_path.is_file()):
            raise TrainingStateError(
                f"nothing to resume in {self.folder}: no {SETTINGS_FILE} and {STATE_FILE} from "
                "an earlier run"
            )

    def start(self, settings: dict, epochs: int) -> None:
        """Records the settings of a new run and forgets any earlier one."""
        self.history_path.unlink(missing_ok=True)
        self.model_path.unlink(missing_ok=True)
        self._write_settings({**settings, "epochs": epochs})

    def load(self, settings: dict, steps: int, epochs: int) -> tuple[keras.Model, list[dict]]:
        """The model and history of the last completed epoch of the saved run.

        Raises:
            TrainingStateError: if there is no saved run, or it was made with other settings.
        """
        self.check_saved()
        saved = self._read_settings()
        changed = [name for name in settings if saved.get(name) != settings[name]]
        if changed:
            raise TrainingStateError(
                f"the run saved in {self.folder} was made with other {', '.join(changed)}; "
                "resume it with the same settings and images, or start afresh in another folder"
            )
        try:
            model = keras.models.load_model(self.model_path)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise TrainingStateError(f"cannot load {self.model_path}: {error}") from None
        done, remainder = divmod(int(model.optimizer.iterations), steps)
        if remainder or done > epochs:
            raise TrainingStateError(
                f"{self.model_path} stopped after {int(model.optimizer.iterations)} steps, not a "
                f"whole number of epochs of {steps} steps below {epochs}"
            )
        history = self._read_history()[:done]
        if len(history) < done:
            raise TrainingStateError(
                f"{self.history_path} holds {len(history)} epochs, but the model has {done}"
            )
        self._write_settings({**settings, "epochs": epochs})
        return model, history

    def save(self, model: keras.Model, history: list[dict]) -> None:
        """Saves the history, then the model and optimiser, at the end of an epoch."""
        write_history(self.history_path, history)
        images.write_atomically(self.model_path, model.save)

    def _read_settings(self) -> dict:
        try:
            return json.loads(self.settings_path.read_text())
        except (OSError, ValueError) as error:
            raise TrainingStateError(f"cannot read {self.settings_path}: {error}") from None

    def _write_settings(self, settings: dict) -> None:
        images.write_atomically(
            self.settings_path,
            lambda temporary: temporary.write_text(json.dumps(settings, indent=1) + "\n"),
        )

    def _read_history(self) -> list[dict]:
        if not self.history_path.is_file():
            return []
        with open(self.history_path, newline="") as file:
            return [
                {name: float(value) for name, value in row.items() if name != "epoch"}
                for row in csv.DictReader(file)
            ]


class _EpochEnd(keras.callbacks.Callback):
    """Saves the training state after every epoch and reports batches and epochs as they end."""

    def __init__(self, state: _SavedState, history: list, steps: int, epochs: int, report):
        super().__init__()
        self.state = state
        self.history = history
        self.steps = steps
        self.epochs = epochs
        self.report = report

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.report(Progress("batch", batch + 1, self.steps, epoch=self._epoch))

    def on_epoch_end(self, epoch, logs=None):
        row = {
            "loss": float(logs["loss"]),
            "val_loss": float(logs["val_loss"]),
            "seconds": time.monotonic() - self._start,
        }
        if not (np.isfinite(row["loss"]) and np.isfinite(row["val_loss"])):
            # Saving would replace the last good state with weights that are NaN or infinite,
            # from which no resume can recover.
            kept = f"epoch {epoch}'s state is kept" if epoch else "nothing was saved"
            raise TrainingStateError(
                f"the loss became {row['loss']:g} (validation {row['val_loss']:g}) in epoch "
                f"{epoch + 1}, so training stopped; {kept} in {self.state.folder}. Lower the "
                "learning rate, or look for images with extreme values"
            )
        self.history.append(row)
        self.state.save(self.model, self.history)
        self.report(Progress("epoch", epoch + 1, self.epochs, epoch=epoch + 1, logs=row))


def prepare_models_dir(models_dir: str | os.PathLike) -> Path:
    """Creates the models folder if needed and checks that files can be written into it.

    Args:
        models_dir: the folder that will receive the trained model and its plots.

    Returns:
        The folder as a Path.

    Raises:
        FolderError: if the path is a file, or the folder cannot be created or written to.
    """
    models_dir = Path(models_dir)
    if models_dir.exists() and not models_dir.is_dir():
        raise FolderError(f"models directory {models_dir} is a file, not a folder")
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=models_dir):
            pass
    except OSError as error:
        raise FolderError(
            f"cannot write to models directory {models_dir}: {error.strerror or error}"
        ) from None
    return models_dir


def usable_images(
    folder: str | os.PathLike,
    crop: int | None,
    label: str,
    on_progress: Callable[[Progress], None] = _ignore,
) -> tuple[list[Path], list[UnreadableImageError]]:
    """Finds the images of a folder and decodes each once, keeping those training can use.

    Args:
        folder: folder searched recursively, as ``images.list_images`` does.
        crop: the side of the training crops; images smaller than it are left out. None for none.
        label: what the images are, for the progress reports.
        on_progress: called with a "check" ``Progress`` after each image.

    Returns:
        The usable paths, in ``list_images`` order, and the errors of the others.

    Raises:
        FolderError: if the folder is missing or holds no image, or none of its images is usable.
    """
    paths = images.list_images(folder)
    if not paths:
        raise FolderError(
            f"no images in {folder} or its subfolders; put micrographs there, or run "
            "codes/generate_synthetic_micrographs.py to fill empty folders with synthetic ones"
        )
    usable, skipped = [], []
    for number, path in enumerate(paths, start=1):
        try:
            height, width = images.read_image(path, size=None).shape
            if crop is not None and min(height, width) < crop:
                raise UnreadableImageError(
                    f"cannot crop {path}: it is {height}x{width}, smaller than the {crop}x{crop} "
                    "crops"
                )
        except UnreadableImageError as error:
            skipped.append(error)
        else:
            usable.append(path)
        on_progress(Progress("check", number, len(paths), label=label))
    if not usable:
        raise FolderError(f"none of the {len(paths)} images in {folder} could be used")
    return usable, skipped


def write_history(path: Path, history: Sequence[dict]) -> Path:
    """Writes the loss per epoch as CSV with the columns of ``HISTORY_COLUMNS``.

    Args:
        path: the destination file.
        history: one dict per epoch with "loss", "val_loss" and "seconds".

    Returns:
        The destination path.
    """

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(HISTORY_COLUMNS)
            for epoch, row in enumerate(history, start=1):
                writer.writerow([epoch, *(repr(float(row[name])) for name in HISTORY_COLUMNS[1:])])

    return images.write_atomically(path, write)


def plot_loss_curves(path: Path, history: Sequence[dict]) -> Path:
    """Plots the training and validation mean squared error per epoch on a logarithmic scale.

    The scale is logarithmic because the error falls by orders of magnitude over a run, which a
    linear axis would flatten into a line along the bottom after the first epochs.

    Args:
        path: the destination PNG.
        history: one dict per epoch with "loss" and "val_loss".

    Returns:
        The destination path.
    """
    epochs = np.arange(1, len(history) + 1)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name, marker, label in (("loss", "o", "training images"), ("val_loss", "s", "test images")):
        axes.plot(epochs, [row[name] for row in history], marker=marker, markersize=3, label=label)
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
        originals: micrographs, shape (count, height, width), values in [0, 1].
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
        zip(originals, reconstructions, names, strict=True)
    ):
        error = float(np.mean((original - reconstruction) ** 2))
        for row, (image, title) in enumerate(
            [(original, name), (reconstruction, f"MSE {error:#.2g}")]
        ):
            axes = grid[row, column]
            axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
            draw_title(axes, title, fontsize=9)
            axes.set_xticks([])
            axes.set_yticks([])
    grid[0, 0].set_ylabel("test micrograph")
    grid[1, 0].set_ylabel("reconstruction")
    figure.suptitle("Test micrographs (top row) and\ntheir reconstructions by the autoencoder")
    return images.write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100))
