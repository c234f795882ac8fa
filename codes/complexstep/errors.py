"""The exceptions the library raises: each message says what went wrong and what to do about it.

Every exception derives from ``ComplexStepError``, so a caller can catch the library's problems
apart from its own; the stage scripts print each as one line. Errors about a value the caller passed
also derive from ``ValueError``.
"""

from pathlib import Path


class ComplexStepError(Exception):
    """A problem with what the library was asked to do or was given."""


class SettingError(ComplexStepError, ValueError):
    """A setting out of range or unknown: a step size, an engine, a colormap, a count."""


class DeviceError(SettingError):
    """Devices to train on that the backend does not have, or cannot train on together."""


class ImageError(ComplexStepError, ValueError):
    """Images of the wrong shape, type or value range."""


class ImageSizeError(ImageError):
    """An image whose height or width the network cannot take."""


class UnreadableImageError(ComplexStepError):
    """An image file that exists but cannot be decoded."""

    @classmethod
    def of(cls, path, error: Exception) -> "UnreadableImageError":
        """The error for ``path``, giving the first line of the decoder's complaint as reason."""
        lines = str(error).strip().splitlines()
        return cls(f"cannot read {path}: {lines[0] if lines else type(error).__name__}")


class FolderError(ComplexStepError):
    """A folder that is missing, holds no image, or cannot be written."""


class NoMicrographsError(FolderError):
    """A training or test folder that is missing, or holds no micrograph training can use."""


class ModelError(ComplexStepError):
    """A model that cannot be loaded, or has no layer of the name asked for."""


class UnsupportedLayerError(ModelError):
    """A layer the complex twin cannot mirror."""


class Refusal(ComplexStepError):
    """Why one layer or operation has no twin, and the nearest form that has one.

    A twin maker (one of one's own, registered with ``register_twin``, too) raises it; the twin's
    builder gathers every layer's and raises one ``UnsupportedLayerError`` naming them all.
    """

    def __init__(self, reason: str, nearest: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.nearest = nearest


class TrainingStateError(ComplexStepError):
    """A saved training state that cannot be resumed with the settings asked for."""


class UnfinishedRunError(TrainingStateError):
    """A models folder holding an unfinished run, whose epochs starting afresh would lose.

    Attributes:
        folder: the models folder.
        done: the epochs the run completed.
        epochs: the epochs it was started for.
        settings_path: the settings file whose removal lets a new run start there.
    """

    def __init__(self, folder: Path, done: int, epochs: int, settings_path: Path):
        super().__init__(
            f"{folder} holds an unfinished run ({done} of {epochs} epochs): resume it to "
            f"continue, or delete {settings_path} to start afresh"
        )
        self.folder, self.done, self.epochs, self.settings_path = (
            folder,
            done,
            epochs,
            settings_path,
        )


class RegionError(ComplexStepError, ValueError):
    """Regions that cannot be made or measured: a label image of another size than its map, a
    label its names do not name, a micrograph without phases."""


class ClusterError(ComplexStepError):
    """A Dask cluster that cannot be reached or started, or Dask missing."""


class UsageError(ComplexStepError):
    """A command line that cannot be carried out, reported as one line."""
