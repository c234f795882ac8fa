"""The explorer's folder driver: a page and an activation figure for every micrograph in a folder.

Micrographs are read as stage 2 reads them: resized to 256x256, as the paper does, or kept at
their own resolution and cropped from the bottom and right to the largest size the network takes.
A page holds the code's whole Jacobian, which grows with the micrograph's area (about 66 values a
pixel for the paper's code), so micrographs of more than ``max_pixels`` pixels are left out and
reported; crop the region to explore, or resize.
"""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError, UnreadableImageError
from complexstep.explorer.page import (
    ACTIVATIONS_PREFIX,
    PAGE_PREFIX,
    Explorer,
    check_bits,
    render_activations,
    write_page,
)
from complexstep.folders.attribution import explained_size
from complexstep.io import images


@dataclasses.dataclass
class ExplorerReport:
    """What ``explore_folder`` did.

    Attributes:
        pages: the pages written, with their sizes in bytes.
        figures: the activation figures written.
        cropped: ``(micrograph, its size, the size explained)`` for those cropped to fit.
        too_large: one line for each micrograph left out for its size.
        failed: one line for each micrograph that could not be read, explained or written.
    """

    pages: list[tuple[Path, int]] = dataclasses.field(default_factory=list)
    figures: list[Path] = dataclasses.field(default_factory=list)
    cropped: list[tuple[Path, tuple[int, int], tuple[int, int]]] = dataclasses.field(
        default_factory=list
    )
    too_large: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)


def targets(inputs: Path, path: Path, outputs: Path) -> tuple[Path, Path]:
    """Where the page and the activation figure of the micrograph at ``path`` go."""
    folder = Path(outputs) / path.parent.relative_to(inputs)
    return (
        folder / f"{PAGE_PREFIX}{path.stem}.html",
        folder / f"{ACTIVATIONS_PREFIX}{path.stem}.png",
    )


def explore_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    explorer: Explorer,
    *,
    resize: int | None = defaults.IMAGE_SIZE,
    max_pixels: int = defaults.EXPLORER_MAX_PIXELS,
    bits: int = defaults.EXPLORER_BITS,
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> ExplorerReport:
    """Writes a page and an activation figure for every micrograph in a folder and its subfolders.

    For an input ``<inputs>/<sub>/<stem>.<ext>`` it writes ``<outputs>/<sub>/explore_<stem>.html``
    and ``<outputs>/<sub>/activations_<stem>.png``, each atomically. A micrograph that cannot be
    read, is too large, or whose stem another micrograph of its folder already took, is recorded
    and the run goes on.

    Args:
        inputs: the folder of micrographs.
        outputs: the folder to write into.
        explorer: the model and layer to explore.
        resize: the side micrographs are resized to, or None to keep each at its own resolution,
            cropped from the bottom and right to the largest size the network takes.
        max_pixels: the most pixels a page explains.
        bits: bits per Jacobian value in the pages, 8 or 16.
        on_progress: called with the micrographs done, the micrographs to explore, and the one
            just done, after each.

    Returns:
        What was written, cropped, left out and failed.

    Raises:
        FolderError: if the input folder is missing or holds no image.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: for a ``max_pixels`` below one or bits other than 8 or 16.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    paths = images.find_images(inputs)
    if max_pixels < 1:
        raise SettingError(f"max_pixels must be at least 1, not {max_pixels}")
    check_bits(bits)
    if resize is not None:
        explorer.explainer.check_size(resize, resize)
    report = ExplorerReport()
    work, claimed = [], {}
    for path in paths:
        page_path, _ = targets(inputs, path, outputs)
        if page_path in claimed:
            report.failed.append(
                f"skipped {path}: its page would overwrite that of {claimed[page_path]}"
            )
            continue
        claimed[page_path] = path
        try:
            size = explained_size(path, resize, explorer.step)
        except (UnreadableImageError, ImageSizeError) as error:
            report.failed.append(str(error))
            continue
        if size[0] * size[1] > max_pixels:
            report.too_large.append(
                f"left out {path}: {size[0]}x{size[1]} is {size[0] * size[1]:,} pixels, more "
                f"than the {max_pixels:,} a page holds; crop the region to explore, or resize it"
            )
            continue
        work.append((path, size))
    for done, (path, size) in enumerate(work, start=1):
        _explore_one(path, size, inputs, outputs, explorer, resize, bits, report)
        if on_progress is not None:
            on_progress(done, len(work), path)
    return report


def _explore_one(
    path: Path,
    size: tuple[int, int],
    inputs: Path,
    outputs: Path,
    explorer: Explorer,
    resize: int | None,
    bits: int,
    report: ExplorerReport,
) -> None:
    """Writes the page and the figure of one micrograph, or records why not."""
    try:
        image = images.read_image(path, size=resize)
    except UnreadableImageError as error:
        report.failed.append(str(error))
        return
    if image.shape != size:
        report.cropped.append((path, image.shape, size))
        image = image[: size[0], : size[1]]
    exploration = explorer.explore(image, path.stem)
    page_path, figure_path = targets(inputs, path, outputs)
    try:
        write_page(page_path, exploration, bits)
        render_activations(figure_path, exploration)
    except OSError as error:
        report.failed.append(f"cannot write {page_path.parent}: {error.strerror or error}")
        return
    report.pages.append((page_path, page_path.stat().st_size))
    report.figures.append(figure_path)
