"""The exceptions the library raises: each message says what went wrong and what to do about it.

Every exception derives from ``ComplexStepError``, so a caller can catch the library's problems
apart from its own; the stage scripts print each as one line. Errors about a value the caller passed
also derive from ``ValueError``.
"""


class ComplexStepError(Exception):
    """A problem with what the library was asked to do or was given."""


class SettingError(ComplexStepError, ValueError):
    """A setting out of range or unknown: a step size, a method, a colormap, a count."""


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


class ModelError(ComplexStepError):
    """A model that cannot be loaded, or has no layer of the name asked for."""


class UnsupportedLayerError(ModelError):
    """A layer the complex twin cannot mirror."""


class TrainingStateError(ComplexStepError):
    """A saved training state that cannot be resumed with the settings asked for."""


class RegionError(ComplexStepError, ValueError):
    """Regions that cannot be made or measured: a label image of another size than its map, a
    label its names do not name, a micrograph without phases."""


class ClusterError(ComplexStepError):
    """A Dask cluster that cannot be reached or started, or Dask missing."""
