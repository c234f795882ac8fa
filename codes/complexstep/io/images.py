"""Reading and atomically writing images.

Every stage reads micrographs the same way: any file with a known image suffix (``IMAGE_SUFFIXES``;
``folders.loop.find_micrographs`` finds them in a folder and its subfolders), read by
``micrographs.read_micrograph`` as values in [0, 1] at its own size, which a stage resizes to
256x256 where asked, and says so. Every output is written to a temporary file beside its
destination and renamed into place, so that an interrupted run never
leaves a half-written file where a user or the next stage would read it.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from complexstep import defaults
from complexstep.errors import UnreadableImageError  # noqa: F401 (re-exported)
from complexstep.io.micrographs import read_micrograph, resize

IMAGE_SIZE = defaults.IMAGE_SIZE
_UMASK = os.umask(0)
os.umask(_UMASK)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")
"""The files a 3-D model's folder is searched for: NumPy arrays too, which hold volumes alone."""


def read_image(path: str | os.PathLike, size: int | None = None, **reading) -> np.ndarray:
    """Reads an image as a float32 array with values in [0, 1], at its own size by default.

    The image is read by ``micrographs.read_micrograph`` (bit depth, channels, pages, data bars:
    see there), grey of shape (height, width) unless ``reading`` asks for channels or a volume.
    A micrograph is never resampled unless asked: resampling a non-square one to a square
    distorts it.

    Args:
        path: the image file.
        size: a side to resample a grey image to with antialiasing, as the paper's 256x256 input
            (``IMAGE_SIZE``); None keeps its own size.
        **reading: ``read_micrograph``'s keyword arguments (``intensity``, ``crop_bottom``,
            ``channels``, ...).

    Raises:
        SettingError: if a reading option is out of range for the file.
        UnreadableImageError: if the file cannot be decoded.
    """
    pixels = read_micrograph(path, **reading).pixels
    return pixels if size is None else resize(pixels, size)


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Calls ``write`` on a temporary path beside ``path``, then renames it into place.

    The temporary name ends with all of the destination's suffixes, because writers choose the
    format from them (matplotlib) or insist on them (Keras's ``.weights.h5``). On any failure the
    temporary file is removed and the error re-raised.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _partial_name(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        # mkstemp creates the file readable by its owner only; outputs get the usual permissions.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


_NAME_MAX = 255
"""The longest file name, in bytes, of the file systems outputs are written to."""

_RANDOM = 8
"""The random characters ``tempfile.mkstemp`` puts between its prefix and suffix."""


def _partial_name(path: Path) -> tuple[str, str]:
    """The prefix and suffix of ``write_atomically``'s temporary name beside ``path``, the name
    cut short where needed so that the whole fits ``_NAME_MAX`` bytes as the output's own does."""
    suffix = "".join(path.suffixes[-2:])
    marker = ".partial-"
    room = _NAME_MAX - len(os.fsencode(f".{marker}{suffix}")) - _RANDOM
    name = os.fsencode(path.name)[: max(room, 1)]
    return f".{os.fsdecode(name)}{marker}", suffix


JPEG_OPTIONS = {"quality": 95, "subsampling": 0}
"""Pillow JPEG settings: high quality and full-resolution chroma, so that the thin borders between
red and blue regions keep their colours instead of bleeding into each other."""


def save_figure(figure, path: str | os.PathLike, dpi: float) -> Path:
    """Writes a matplotlib ``Figure`` atomically, in the format its suffix names, at ``dpi``.

    Returns:
        The destination path.
    """
    suffix = Path(path).suffix.lower()
    options = {"pil_kwargs": JPEG_OPTIONS} if suffix in (".jpg", ".jpeg") else {}
    return write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=dpi, **options))


def write_grey_png(path: str | os.PathLike, values: np.ndarray) -> Path:
    """Writes a 2-D array as an 8-bit grey PNG, min-max scaled (a constant array becomes black)."""
    return write_atomically(
        path, lambda temporary: Image.fromarray(to_uint8(values)).save(temporary, format="PNG")
    )


def write_array(path: str | os.PathLike, values: np.ndarray) -> Path:
    """Writes an array as a ``.npy`` file."""

    def save(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.save(file, values)

    return write_atomically(path, save)


def scale_to_unit(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Min-max scales an array to [0, 1].

    Args:
        values: a finite array.

    Returns:
        The scaled float64 array and whether the array was constant; a constant array has no
        range to scale by, so it becomes all zeros rather than NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros(values.shape), True
    return (values - low) / (high - low), False


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Min-max scales an array to 0..255 as uint8; a constant array becomes all zeros."""
    return np.round(scale_to_unit(values)[0] * 255.0).astype(np.uint8)
