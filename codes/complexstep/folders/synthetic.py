"""The embedded data's folders: empty image folders filled with synthetic micrographs, so that a
fresh clone runs end to end (``model.synthetic`` draws them)."""

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from complexstep.errors import FolderError, SettingError
from complexstep.folders import loop
from complexstep.io.images import write_atomically
from complexstep.model import synthetic
from complexstep.progress import Progress


def fill_empty_folders(
    counts: Mapping[str | os.PathLike, int],
    seed: int,
    on_progress: Progress | None = None,
) -> dict[Path, int]:
    """Writes synthetic micrographs into each folder that holds no image yet.

    A folder that already holds an image, anywhere below it, is left completely alone, so a user's
    data are never overwritten or mixed with synthetic ones. Image ``index`` of the folder at
    ``position`` in ``counts`` is drawn from a generator seeded by ``(seed, position, index)``, so
    it is the same whichever other folders were skipped and however many images were asked for.
    Every folder is checked and created before any image is written.

    Args:
        counts: How many images to write into each folder, in a fixed order.
        seed: The non-negative seed every image is derived from.
        on_progress: called after each image with the images written, the images to write
            into every folder filled, and the folder being filled.

    Returns:
        How many images were written into each folder, 0 for the folders left alone.

    Raises:
        SettingError: if a count or the seed is negative.
        FolderError: if a folder cannot be created or written.
    """
    if seed < 0:
        raise SettingError(f"the seed must be 0 or more, not {seed}")
    to_fill = {}
    for position, (folder, count) in enumerate(counts.items()):
        folder = Path(folder)
        if count < 0:
            raise SettingError(f"the number of images for {folder} must be 0 or more, not {count}")
        if folder.exists() and not folder.is_dir():
            raise FolderError(f"{folder} is a file, not a folder")
        if not _holds_images(folder):
            to_fill[folder] = (position, count)
    for folder in to_fill:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FolderError(f"cannot create folder {folder}: {error.strerror or error}") from None
    written = dict.fromkeys(map(Path, counts), 0)
    total = sum(count for _, count in to_fill.values())
    done = 0
    for folder, (position, count) in to_fill.items():
        for index in range(count):
            pixels = synthetic.generate_micrograph(np.random.default_rng([seed, position, index]))
            _write_png(folder / synthetic.SYNTHETIC_NAME.format(index=index), pixels)
            done += 1
            if on_progress is not None:
                on_progress(done, total, str(folder))
        written[folder] = count
    return written


def _write_png(path: Path, pixels: np.ndarray) -> None:
    """Writes 8-bit grey pixels to a PNG file as they are, atomically.

    Raises:
        FolderError: if the file cannot be written.
    """
    try:
        write_atomically(
            path, lambda temporary: Image.fromarray(pixels).save(temporary, "PNG", compress_level=1)
        )
    except OSError as error:
        raise FolderError(f"cannot write {path}: {error.strerror or error}") from None


def _holds_images(folder: Path) -> bool:
    """Whether a folder holds a micrograph anywhere below it, as every stage would find it."""
    if not folder.is_dir():
        return False
    try:
        loop.find_micrographs(folder, folder, loop.FolderReport())
    except FolderError:
        return False
    return True
