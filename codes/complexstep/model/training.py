"""Stage 1's model side: the autoencoder's training settings, state, epochs and devices.

The model learns to reproduce grey micrographs through a code 16 times smaller, with the paper's
settings: Adam at a learning rate of 5e-4, mean squared error, batches of 32, 50 epochs
(``TrainingSettings``, checked once when made; ``folders.training.train`` runs it over folders of
micrographs).

A run survives a crash. At the end of every epoch the training state (weights and optimiser) and
the loss history are saved in the models folder (``SavedState``), and a resume continues from the
last completed epoch: batches are a pure function of the seed and the epoch, so a resumed run sees
the batches an uninterrupted one would have, and with deterministic kernels ends with the same
weights. An epoch whose loss is not finite stops the run before it is saved.

Training is data-parallel over several accelerators where there are several:
``keras.distribution.DataParallel`` on JAX and ``tf.distribute.MirroredStrategy`` on TensorFlow.
"""

import contextlib
import csv
import dataclasses
import json
import math
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from complexstep import defaults
from complexstep.errors import DeviceError, SettingError, TrainingStateError, UnfinishedRunError
from complexstep.io import images
from complexstep.model import architecture
from complexstep.progress import Progress

LOSS = "mse"

# How many test micrographs the reconstruction plot shows.
RECONSTRUCTION_EXAMPLES = 4

# How many test micrographs, at most, the trained code is checked on for dead channels: enough
# for a channel zero on all of them to be dead in practice, few enough to take seconds.
DEAD_CHANNEL_EXAMPLES = 64

MODEL_FILE = defaults.MODEL_FILE
WEIGHTS_FILE = f"{defaults.MODEL_NAME}.weights.h5"
HISTORY_FILE = "training_history.csv"
LOSS_CURVES_FILE = "loss_curves.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
STATE_FILE = "training_state.keras"
SETTINGS_FILE = "training_settings.json"
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "seconds")


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """How the autoencoder is trained, checked once, when made: the paper's settings by default.

    The first six are recorded with a run (``record``), so that a resume cannot change them; the
    devices and the decoding threads change only how fast the same run goes.

    Attributes:
        epochs: passes over the training images, counting those done before a resume.
        batch_size: images per gradient step.
        learning_rate: Adam's learning rate.
        seed: seed of the initial weights, the shuffling and the crops. It is set globally, so
            Python's, NumPy's and the backend's generators are reset too.
        crop: train on random ``crop`` x ``crop`` windows of the micrographs at their own
            resolution, drawn afresh each epoch, and validate on their centres; None resizes
            every micrograph to ``defaults.IMAGE_SIZE`` square, as the paper does. A multiple
            of 16.
        deterministic: use deterministic kernels on TensorFlow for the rest of the process, so
            that the same seed and images give the same weights on the same machine (slower on
            some machines); JAX and PyTorch on a CPU are deterministic as they are.
        precision: "float32", or "bfloat16" for mixed precision (for GPUs; slow on CPUs).
        devices: the accelerators to train on, as ``keras.distribution.list_devices()`` names
            them (``gpu:0``); None for all of the backend's accelerators, or its CPU. With
            several, ``batch_size`` must be a multiple of their number, and each epoch leaves out
            the few images past the last such multiple.
        workers: threads that decode images ahead of the model.
        reading: how micrographs are read, as ``micrographs.read_micrograph`` takes it
            (``intensity``, ``crop_bottom``, ``max_pixels``), the same as stage 2 reads them;
            None or empty for its defaults. Recorded with the run, so that a resume reads alike.

    Raises:
        SettingError: for a count below its least, a learning rate that is not a positive finite
            number, a crop that is not a positive multiple of 16, or an unknown precision.
    """

    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    learning_rate: float = defaults.LEARNING_RATE
    seed: int = defaults.SEED
    crop: int | None = None
    deterministic: bool = False
    precision: str = defaults.PRECISION
    devices: Sequence[str] | None = None
    workers: int = defaults.WORKERS
    # Kept read-only, and out of the hash, as a mapping cannot be hashed.
    reading: Mapping | None = dataclasses.field(default=None, hash=False)

    def __post_init__(self):
        for name, least in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("workers", 1)):
            value = getattr(self, name)
            if value < least:
                raise SettingError(f"{name} must be at least {least}, not {value}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise SettingError(
                f"the learning rate must be a positive finite number, not {self.learning_rate}"
            )
        if self.crop is not None and (self.crop < 16 or self.crop % 16):
            raise SettingError(f"the crop must be a multiple of 16 of at least 16, not {self.crop}")
        if self.precision not in defaults.PRECISIONS:
            raise SettingError(f"precision must be one of {', '.join(defaults.PRECISIONS)}")
        if self.devices is not None:
            devices = (self.devices,) if isinstance(self.devices, str) else tuple(self.devices)
            object.__setattr__(self, "devices", devices)
        object.__setattr__(self, "reading", types.MappingProxyType(dict(self.reading or {})))

    def record(self, train_images: list[str], test_images: list[str]) -> dict:
        """What a run records of itself for a resume to match: these settings and its images.

        Args:
            train_images: the training micrographs, as paths relative to their folder.
            test_images: the test micrographs, likewise.

        Returns:
            The settings saved in ``SETTINGS_FILE`` but the epochs, which a resume may raise.
        """
        record = {
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "crop": self.crop,
            "precision": self.precision,
            # Recorded so that a resume cannot switch kernels, and with them bit-identical weights.
            "deterministic": self.deterministic,
            "train_images": train_images,
            "test_images": test_images,
        }
        if self.reading:
            # Only where given, so that runs saved before the reader's options resume as they were.
            record["reading"] = dict(self.reading)
        return record


def seed_everything(settings: TrainingSettings) -> None:
    """Sets the seed of every generator and, with ``deterministic``, TensorFlow's deterministic
    kernels, for the rest of the process."""
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def new_model(settings: TrainingSettings) -> keras.Model:
    """A freshly initialised autoencoder for the training images' size, compiled with Adam."""
    shape = architecture.INPUT_SHAPE if settings.crop is None else (settings.crop, settings.crop, 1)
    model = architecture.build_autoencoder(shape, settings.precision)
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
    model.compile(optimizer=optimizer, loss=LOSS)
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


def distributed(
    devices: Sequence[str] | None,
) -> tuple[contextlib.AbstractContextManager, int]:
    """The scope in which to build and train a model data-parallel over ``devices``, and how many
    devices that is.

    Raises:
        DeviceError: for a device the backend does not have, or several on PyTorch.
    """
    available = available_devices()
    chosen = list(available if devices is None else devices)
    unknown = [device for device in chosen if device not in available]
    if unknown:
        raise DeviceError(
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
    raise DeviceError(
        f"training on several devices needs the JAX or TensorFlow backend, not {backend}; "
        "train on one device"
    )


class SavedState:
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

    def check_before(self, resume: bool) -> None:
        """Refuses, before any image is checked, to resume where no run was saved or to start
        afresh over an unfinished run.

        Raises:
            TrainingStateError: for nothing to resume; ``UnfinishedRunError`` for a run that
                starting afresh would lose.
        """
        if resume:
            self.check_saved()
        else:
            self.check_not_unfinished()

    def check_not_unfinished(self) -> None:
        """Refuses to start afresh over an unfinished run, whose hours of work would be lost."""
        if not self.settings_path.is_file():
            return
        saved = self._read_settings()
        done = len(self._read_history())
        # A run stopped before its first epoch ended has nothing to lose.
        if 0 < done < saved.get("epochs", 0):
            raise UnfinishedRunError(self.folder, done, saved["epochs"], self.settings_path)

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


class EpochEnd(keras.callbacks.Callback):
    """Saves the training state after every epoch and reports the run's batches as they end.

    The reports count the batches done of the run's batches (its epochs times ``steps``, those
    done before a resume included), with the epoch as the detail, "epoch 2/3". An epoch's last
    batch is reported only once the epoch is validated and its state saved, and its detail adds
    the epoch's losses and seconds: "epoch 2/3: loss 0.0123, val_loss 0.0145, 12 s; state
    saved". So every count is reported once, and one that completes an epoch says its state is
    safe.
    """

    def __init__(
        self,
        state: SavedState,
        history: list,
        steps: int,
        epochs: int,
        on_progress: Progress | None = None,
    ):
        super().__init__()
        self.state = state
        self.history = history
        self.steps = steps
        self.epochs = epochs
        self.on_progress = on_progress

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 < self.steps:
            self._report(batch + 1, f"epoch {self._epoch + 1}/{self.epochs}")

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
        self._report(
            self.steps,
            f"epoch {epoch + 1}/{self.epochs}: loss {row['loss']:.4g}, val_loss "
            f"{row['val_loss']:.4g}, {row['seconds']:.0f} s; state saved",
        )

    def _report(self, batch: int, detail: str) -> None:
        """Reports the ``batch``-th batch of the current epoch, counted over the run."""
        if self.on_progress is not None:
            self.on_progress(self._epoch * self.steps + batch, self.epochs * self.steps, detail)


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
