"""The files of stage 2's maps: their names, and reading them back, trusting nothing in them.

A pixel map is ``<stem>.npy`` (float32, raw), ``<stem>.png`` (8-bit grey) and ``<stem>.json``
(``provenance``); a wavelet map is ``<stem>.wavelet.npy`` (every coefficient's attribution) and
``<stem>.wavelet.json``, the same keys beside its summary: the transform, ``||J||_F**2`` and each
level's and orientation's share.

A ``.npy`` header says how much memory its array takes before any value is read, so a 128-byte
file can ask numpy for hundreds of gigabytes. The header is read and checked first: the shape
against the largest map a micrograph gives, the type against real numbers, the length against the
file's own; only then are the values read, and checked to be finite and to have a range that
float64 can scale.
"""

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from complexstep import defaults
from complexstep.errors import SettingError, UnreadableImageError
from complexstep.io.images import IMAGE_SUFFIXES, read_image

PIXEL_MAP_SUFFIXES = (".npy", ".png", ".json")
"""The files of a pixel map, ``<stem><suffix>``: the raw map first, its sidecar last."""

WAVELET_SUFFIX = ".wavelet.npy"
"""The end of a wavelet map's name, ``<stem>.wavelet.npy``."""

SUMMARY_SUFFIX = ".wavelet.json"
"""The end of a wavelet map's sidecar and summary, ``<stem>.wavelet.json``."""

WAVELET_MAP_SUFFIXES = (WAVELET_SUFFIX, SUMMARY_SUFFIX)
"""The files of a wavelet map, ``<stem><suffix>``: the raw map first, its sidecar last."""

Basis = TypeVar("Basis")
"""The wavelet basis a summary names, as the caller's ``basis_of`` makes it."""

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def read_map(path: str | os.PathLike, axes: int = 2) -> np.ndarray:
    """Reads a 2-D map of real numbers from a ``.npy`` file, or a volume's 3-D one.

    Axes of length 1 are dropped, so that a map saved as ``(1, H, W, 1)`` reads as ``(H, W)``.

    Args:
        path: the ``.npy`` file.
        axes: the axes the map has: 2, or 3 for a volume's.

    Returns:
        The map as float64.

    Raises:
        UnreadableImageError: if the file cannot be read, its header declares more than
            ``defaults.MAP_MAX_SIDE`` pixels a side, more values than it holds, another number of
            axes than ``axes`` or values other than real numbers (complex, boolean, text, objects),
            or its values are not finite or span too wide a range to scale.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in _HEADER_READERS:
                raise ValueError(
                    f"a .npy format {version[0]}.{version[1]}, not one numpy writes maps in"
                )
            shape, _, dtype = _HEADER_READERS[version](file)
            held = os.fstat(file.fileno()).st_size - file.tell()
            _check_header(path, shape, dtype, held, axes)
            file.seek(0)
            values = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise UnreadableImageError.of(path, error) from None
    values = np.squeeze(values).astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise UnreadableImageError(f"cannot read {path}: it holds NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    # Scaling divides by the span; where it overflows, every scaled value would be 0 or NaN.
    if not np.isfinite(high - low):
        raise UnreadableImageError(
            f"cannot read {path}: its values span {low:g} to {high:g}, too wide a range to scale "
            "in float64"
        )
    return values


def _check_header(
    path: Path, shape: tuple[int, ...], dtype: np.dtype, held: int, axes: int
) -> None:
    """Refuses a map by its header alone, before numpy allocates what the header asks for.

    Args:
        path: the file, for the messages.
        shape: the shape the header declares.
        dtype: the type the header declares.
        held: the bytes the file holds after its header.
        axes: the axes a map must have.

    Raises:
        UnreadableImageError: as ``read_map`` says.
    """
    sides = [side for side in shape if side != 1]
    if len(sides) != axes or min(sides) < 1:
        raise UnreadableImageError(
            f"cannot read {path}: expected a {axes}-D map, found shape {tuple(shape)}"
        )
    if max(sides) > defaults.MAP_MAX_SIDE:
        raise UnreadableImageError(
            f"cannot read {path}: its header declares a {'x'.join(map(str, shape))} map, larger "
            f"than any micrograph gives (at most {defaults.MAP_MAX_SIDE} pixels a side, twice "
            "the longest frame microscopes scan)"
        )
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise UnreadableImageError(f"cannot read {path}: values of type {dtype}, not real numbers")
    declared = int(np.prod(shape)) * dtype.itemsize
    if declared > held:
        raise UnreadableImageError(
            f"cannot read {path}: it holds {held} of the {declared} bytes its header declares"
        )


def load_attribution(image_path: str | os.PathLike, axes: int = 2) -> np.ndarray:
    """Reads an attribution map, from the lossless ``.npy`` beside its grey image where present.

    Args:
        image_path: a grey attribution image, such as stage 2's ``<stem>.png``.
        axes: the map's axes: 2, or 3 for a volume's, which only its ``.npy`` holds.

    Returns:
        A 2-D (or 3-D) float64 array: the ``.npy``'s raw values, or else the image's grey values
        in [0, 1].

    Raises:
        UnreadableImageError: if the ``.npy`` or the image cannot be read, or the ``.npy`` does
            not hold a map stage 2 could have written (``read_map``).
    """
    image_path = Path(image_path)
    array_path = image_path.with_suffix(".npy")
    if not array_path.is_file() and axes == 2:
        return read_image(image_path, size=None).astype(np.float64)
    return read_map(array_path, axes)


def is_pixel_map(path: Path) -> bool:
    """Whether a ``.wavelet.npy`` is the lossless half of a pixel map's pair, not a wavelet map:
    what stage 2 writes, with no ``<stem>.wavelet.json`` beside it but a grey image
    ``<stem>.wavelet.png``, for the pixel map of a micrograph named ``<stem>.wavelet.<suffix>``."""
    if summary_path(path).is_file():
        return False
    return any(path.with_suffix(suffix).is_file() for suffix in IMAGE_SUFFIXES)


def stem_of(path: Path) -> str:
    """The micrograph's stem of a wavelet map, ``<stem>`` of ``<stem>.wavelet.npy``."""
    return path.name[: -len(WAVELET_SUFFIX)]


def summary_path(path: Path) -> Path:
    """Where stage 2 writes a wavelet map's summary: ``<stem>.wavelet.json`` beside it."""
    return path.with_name(f"{stem_of(path)}{SUMMARY_SUFFIX}")


def load_wavelet_map(
    path: str | os.PathLike, basis_of: Callable[[str, int, tuple[int, int]], Basis]
) -> tuple[np.ndarray, Basis, dict]:
    """Reads a wavelet map and the summary beside it.

    Args:
        path: the map, ``<stem>.wavelet.npy``.
        basis_of: makes the basis a summary names from its wavelet, levels and shape, raising
            ``SettingError`` for one there is not; ``wavelet_basis.WaveletBasis``, which
            ``engines/`` holds above this module.

    Returns:
        The float64 map, the basis its summary names, and the summary.

    Raises:
        UnreadableImageError: if either file cannot be read, either is not what stage 2 writes
            (``read_map``, ``read_summary``), or they do not fit each other.
    """
    path = Path(path)
    values = read_map(path)
    if not summary_path(path).is_file():
        raise UnreadableImageError(
            f"cannot read {path}: no {summary_path(path).name} beside it, which stage 2 writes "
            "with every wavelet map"
        )
    basis, summary = read_summary(summary_path(path), basis_of)
    if values.shape != basis.shape:
        raise UnreadableImageError(
            f"cannot read {path}: expected a map of shape {basis.shape} as "
            f"{summary_path(path).name} says, found {values.shape}"
        )
    return values, basis, summary


def read_summary(
    path: str | os.PathLike, basis_of: Callable[[str, int, tuple[int, int]], Basis]
) -> tuple[Basis, dict]:
    """Reads a wavelet map's summary, checking every field the pictures use.

    Args:
        path: stage 2's ``<stem>.wavelet.json``.
        basis_of: as ``load_wavelet_map`` takes it.

    Returns:
        The basis the summary names, and the summary.

    Raises:
        UnreadableImageError: if the file cannot be read or is not JSON, lacks a field, names no
            basis (an unknown wavelet, a shape of other than two sides above 0, levels the shape
            does not take), or does not give a finite share for every block of its basis.
    """
    path = Path(path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnreadableImageError.of(path, error) from None
    if not isinstance(summary, dict):
        raise UnreadableImageError(f"cannot read {path}: expected a JSON object")
    for key in ("wavelet", "levels", "shape", "shares"):
        if key not in summary:
            raise UnreadableImageError(f"cannot read {path}: it has no {key!r}")
    shape = summary["shape"]
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(type(side) is int and side > 0 for side in shape)
    ):
        raise UnreadableImageError(
            f"cannot read {path}: 'shape' must be two whole numbers above 0, not "
            f"{json.dumps(shape)}"
        )
    try:
        basis = basis_of(summary["wavelet"], summary["levels"], tuple(shape))
    except (SettingError, TypeError, ValueError) as error:
        raise UnreadableImageError(f"cannot read {path}: {error}") from None
    try:
        shares = {
            (share["level"], share["orientation"]): float(share["share"])
            for share in summary["shares"]
        }
    except (KeyError, TypeError, ValueError):
        raise UnreadableImageError(
            f"cannot read {path}: 'shares' must list a level, an orientation and a share each"
        ) from None
    for block in basis.blocks:
        if not math.isfinite(shares.get((block.level, block.orientation), math.nan)):
            raise UnreadableImageError(
                f"cannot read {path}: 'shares' gives no finite share for level {block.level}'s "
                f"{block.orientation}"
            )
    return basis, summary
