"""The explorer's folder driver: a page and an activation figure for every micrograph in a folder.

Micrographs are read as stage 2 reads them: resized to 256x256, as the paper does, or kept at
their own resolution and cropped from the bottom and right to the largest size the network takes.
A page holds the code's whole Jacobian, which grows with the micrograph's area (about 66 values a
pixel for the paper's code), so micrographs of more than ``max_pixels`` pixels are left out and
reported; crop the region to explore, or resize.
"""

import os
from collections.abc import Callable
from pathlib import Path

from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError
from complexstep.explorer.page import (
    ACTIVATIONS_PREFIX,
    PAGE_PREFIX,
    Explorer,
    check_bits,
    write_page,
)
from complexstep.folders import loop
from complexstep.folders.loop import FolderReport
from complexstep.rendering.activations import render_activations


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
    reading: dict | None = None,
) -> FolderReport:
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
        reading: ``micrographs.read_micrograph``'s options (``intensity``, ``crop_bottom``,
            ``pixel_size``, ``max_pixels``); its defaults where None.

    Returns:
        What was written (the report's outputs are the pages and figures), cropped and failed.

    Raises:
        FolderError: if the input folder is missing or holds no image, or the outputs would
            replace an input or cannot be written.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: for a ``max_pixels`` below one or bits other than 8 or 16.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    if max_pixels < 1:
        raise SettingError(f"max_pixels must be at least 1, not {max_pixels}")
    check_bits(bits)
    if resize is not None:
        explorer.explainer.check_size(resize, resize)
    reading = dict(reading or {})
    report = FolderReport()

    def size_of(path: Path) -> tuple[int, int]:
        size = loop.explained_size(
            path, resize, explorer.step, crop_bottom=reading.get("crop_bottom")
        )
        if size[0] * size[1] > max_pixels:
            raise ImageSizeError(
                f"left out {path}: {size[0]}x{size[1]} is {size[0] * size[1]:,} pixels, more "
                f"than the {max_pixels:,} a page holds; crop the region to explore, or resize it"
            )
        return size

    work = loop.plan(
        inputs,
        outputs,
        lambda path: targets(inputs, path, outputs),
        report,
        size_of=size_of,
        noun="page",
    )
    for done, item in enumerate(work, start=1):
        image = loop.read(item, resize, report, **reading)
        if image is not None:
            exploration = explorer.explore(image, item.path.stem)
            page_path, figure_path = targets(inputs, item.path, outputs)
            if report.write(page_path, lambda path: write_page(path, exploration, bits)) and (
                report.write(
                    figure_path,
                    lambda path: render_activations(
                        path,
                        image,
                        exploration.jacobian.output,
                        exploration.name,
                        exploration.layer,
                    ),
                )
            ):
                report.written.append(item.path)
        if on_progress is not None:
            on_progress(done, len(work), item.path)
    return report
