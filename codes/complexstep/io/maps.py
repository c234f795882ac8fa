"""Reading the attribution maps stage 2 writes as ``.npy`` files, trusting nothing in them.

A ``.npy`` header says how much memory its array takes before any value is read, so a 128-byte
file can ask numpy for hundreds of gigabytes. The header is read and checked first: the shape
against the largest map a micrograph gives, the type against real numbers, the length against the
file's own; only then are the values read, and checked to be finite and to have a range that
float64 can scale.
"""

import os
from pathlib import Path

import numpy as np

from complexstep import defaults
from complexstep.errors import UnreadableImageError

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
