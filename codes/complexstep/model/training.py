"""Stage 1's model side: the autoencoder's training state, epochs and devices.

The model learns to reproduce grey micrographs through a code 16 times smaller, with the paper's
settings: Adam at a learning rate of 5e-4, mean squared error, batches of 32, 50 epochs
(``folders.training.train`` runs it over folders of micrographs).

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
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from complexstep import defaults
from complexstep.errors import DeviceError, TrainingStateError, UnfinishedRunError
from complexstep.io import images
from complexstep.model import architecture

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
class TrainingEvent:
    """What training reports as it goes, through the ``on_event`` callback: not a ``Progress``
    but an event, since an epoch's report carries its losses.

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


def new_model(crop: int | None, precision: str, learning_rate: float) -> keras.Model:
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
    """Saves the training state after every epoch and reports batches and epochs as they end."""

    def __init__(self, state: SavedState, history: list, steps: int, epochs: int, report):
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
        self.report(TrainingEvent("batch", batch + 1, self.steps, epoch=self._epoch))

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
        self.report(TrainingEvent("epoch", epoch + 1, self.epochs, epoch=epoch + 1, logs=row))


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
