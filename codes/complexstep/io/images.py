"""Finding, reading and atomically writing images.

Every stage reads micrographs the same way: any file in a folder or its subfolders with a known
image suffix, converted to grey and scaled to [0, 1], then resized to 256x256 or kept at its own
size. Every output is written to
a temporary file beside its destination and renamed into place, so that an interrupted run never
leaves a half-written file where a user or the next stage would read it.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from complexstep import defaults
from complexstep.errors import FolderError, UnreadableImageError

IMAGE_SIZE = defaults.IMAGE_SIZE
_UMASK = os.umask(0)
os.umask(_UMASK)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Lists the image files in a folder and its subfolders, in a stable order.

    Returns:
        The paths with a known image suffix (case-insensitive), sorted, hidden files and folders
        left out; an empty list where the folder holds none or does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Lists the image files in a folder and its subfolders, as ``list_images`` does.

    Raises:
        FolderError: if the folder does not exist or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderError(f"folder not found: {folder}")
    paths = list_images(folder)
    if not paths:
        raise FolderError(
            f"no images in {folder} or its subfolders (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return paths


def read_image(path: str | os.PathLike, size: int | None = IMAGE_SIZE) -> np.ndarray:
    """Reads an image as a grey float32 array of shape (size, size) with values in [0, 1].

    8- and 16-bit images are scaled by their type's maximum, colour is converted to grey with the
    ITU-R 601 luma weights, and other sizes are resampled with antialiasing; ``size=None`` keeps
    the image's own size.

    Raises:
        UnreadableImageError: if the file cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            image.load()
            grey = _to_unit_grey(image)
    except UnidentifiedImageError:
        raise UnreadableImageError(f"cannot read {path}: not an image PIL can decode") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UnreadableImageError.of(path, error) from None
    if size is not None and grey.shape != (size, size):
        resized = Image.fromarray(grey, mode="F").resize((size, size), Image.Resampling.BILINEAR)
        grey = np.asarray(resized, dtype=np.float32)
    return np.clip(grey, 0.0, 1.0)


def _to_unit_grey(image: Image.Image) -> np.ndarray:
    """Converts a decoded PIL image of any common mode to grey float32 values in [0, 1]."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode == "I":
        # Decoders give 8-bit files other modes, so "I" holds 16-bit samples (PNG, TIFF), however
        # dark the image; only a 32-bit TIFF holds more.
        values = np.asarray(image, dtype=np.float64)
        return (values / (65535.0 if values.max() <= 65535 else 2147483647.0)).astype(np.float32)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


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
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.partial-", suffix="".join(path.suffixes)
    )
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
