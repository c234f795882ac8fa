"""The explorer's folder driver: a page and an activation figure for every micrograph in a folder.

Micrographs are read as stage 2 reads them: resized to 256x256, as the paper does, or kept at
their own resolution and cropped from the bottom and right to the largest size the network takes.
A page holds the code's whole Jacobian, which grows with the micrograph's area (about 66 values a
pixel for the paper's code), so micrographs of more than ``max_pixels`` pixels are left out and
reported; crop the region to explore, or resize.

Pages are coloured as stage 3 colours heatmaps: each map by its own minimum and maximum, or, with
``scale="folder"``, every page of the run by one range of raw attributions. That range is known
only once every micrograph is explored, and a run's explorations do not fit in memory together (a
256x256 micrograph's Jacobian takes 17 MB), so each waits, pickled, in a hidden temporary folder
inside the outputs (``.explore-scale-*``, removed at the end) until the range is known, and its page
is written then; the activation figures, which do not depend on it, are written at once.

The micrographs are explored in this process, or on a Dask cluster (``client``), one task each:
the workers keep the explainers they build (``cluster.workers``), and this process reads every
micrograph and writes every file, as in process.
"""

import dataclasses
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.cluster import workers
from complexstep.errors import ImageSizeError, SettingError
from complexstep.explorer.page import (
    ACTIVATIONS_PREFIX,
    PAGE_PREFIX,
    Exploration,
    Explorer,
    check_bits,
    write_page,
)
from complexstep.folders import loop
from complexstep.folders.loop import FolderReport
from complexstep.io.images import save_figure
from complexstep.progress import Progress
from complexstep.rendering.activations import activations_figure
from complexstep.rendering.heatmaps import PANEL_MAXIMUM_DPI, folder_range

if TYPE_CHECKING:
    import distributed

SPOOL_PREFIX = ".explore-scale-"
"""Start of the hidden folder where a ``scale="folder"`` run's explorations wait for its range."""

Explored = tuple[loop.Item, Exploration]
"""A micrograph to do and what its page shows."""


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
    scale: str = defaults.SCALE,
    on_progress: Progress | None = None,
    reading: dict | None = None,
    shard: loop.Shard | None = None,
    client: "distributed.Client | None" = None,
) -> FolderReport:
    """Writes a page and an activation figure for every micrograph in a folder and its subfolders.

    For an input ``<inputs>/<sub>/<stem>.<ext>`` it writes ``<outputs>/<sub>/explore_<stem>.html``
    and ``<outputs>/<sub>/activations_<stem>.png``, each atomically. Where the micrograph's pixel
    size is known (from the file, or ``reading``'s ``pixel_size``), both draw a scale bar and the
    page gives lengths in micrometres. A micrograph that cannot be read, is too large, or whose
    stem another micrograph of its folder already took, is recorded and the run goes on.

    Args:
        inputs: the folder of micrographs.
        outputs: the folder to write into.
        explorer: the model and layer to explore.
        resize: the side micrographs are resized to, or None to keep each at its own resolution,
            cropped from the bottom and right to the largest size the network takes.
        max_pixels: the most pixels a page explains.
        bits: bits per Jacobian value in the pages, 8 or 16.
        scale: how heatmaps are scaled, one of ``defaults.SCALES``: "map", each by its own
            minimum and maximum; "folder", all pages of the run (of the shard, with ``shard``) by
            the least and greatest raw attribution of any, which the report's notes give.
        on_progress: called with the micrographs done, the micrographs to explore, and the one
            just done, after each.
        reading: ``micrographs.read_micrograph``'s options (``intensity``, ``crop_bottom``,
            ``pixel_size``, ``max_pixels``); its defaults where None.
        shard: explore only the k-th of n disjoint parts of the micrographs, ``(k, n)`` (see
            ``loop.in_shard``), so that n runs cover the folder once; all of them if None.
        client: a ``distributed.Client`` whose cluster explores the micrographs, one task each;
            this process still reads and writes every file. In this process if None.

    Returns:
        What was written (the report's outputs are the pages and figures), cropped and failed.
        On a cluster, ``written`` is in the order the explorations came back.

    Raises:
        FolderError: if the input folder is missing or holds no image, or the outputs would
            replace an input or cannot be written.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: for a ``max_pixels`` below one, bits other than 8 or 16, an unknown scale,
            or a shard that is not ``(k, n)`` with 0 <= k < n.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    if max_pixels < 1:
        raise SettingError(f"max_pixels must be at least 1, not {max_pixels}")
    check_bits(bits)
    if scale not in defaults.SCALES:
        raise SettingError(f"unknown scale {scale!r}: choose one of {', '.join(defaults.SCALES)}")
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
        shard=shard,
    )
    done = 0

    def advance(path: Path) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, len(work), path.name)

    def chunks() -> Iterator[loop.Chunk]:
        # One micrograph a chunk, in the folder's order.
        for item in work:
            micrograph = loop.read_micrograph(item, resize, report, **reading)
            if micrograph is None:
                advance(item.path)
            else:
                yield [(item, micrograph)]

    explored = _explorations(explorer, chunks(), client)
    if scale == "map":
        for item, exploration in explored:
            page_path, figure_path = targets(inputs, item.path, outputs)
            if _write_page(report, page_path, exploration, bits, None) and _write_figure(
                report, figure_path, exploration
            ):
                report.written.append(item.path)
            advance(item.path)
        return report
    with tempfile.TemporaryDirectory(dir=outputs, prefix=SPOOL_PREFIX) as spool:
        waiting: list[tuple[loop.Item, Path]] = []
        extremes = []
        for item, exploration in explored:
            _, figure_path = targets(inputs, item.path, outputs)
            if _write_figure(report, figure_path, exploration):
                kept = _keep(report, Path(spool) / f"{len(waiting)}.pickle", exploration)
                if kept is not None:
                    waiting.append((item, kept))
                    attribution = exploration.attribution
                    extremes.append(np.array([attribution.min(), attribution.max()]))
            advance(item.path)
        if not waiting:
            return report
        value_range = folder_range(extremes)
        report.notes.append(
            f"coloured {len(waiting)} page(s) on one range of raw attributions, "
            f"{value_range[0]:.6g} to {value_range[1]:.6g}"
        )
        for item, kept in waiting:
            with open(kept, "rb") as file:
                exploration = pickle.load(file)
            kept.unlink()
            page_path, _ = targets(inputs, item.path, outputs)
            if _write_page(report, page_path, exploration, bits, value_range):
                report.written.append(item.path)
    return report


def _explorations(
    explorer: Explorer, chunks: Iterable[loop.Chunk], client: "distributed.Client | None"
) -> Iterator[Explored]:
    """Each micrograph of the chunks explored, in this process or on the cluster of ``client``
    (whose package is imported only then), with its name and pixel size."""
    if client is None:
        explored = (
            (chunk, [explorer.explore(micrograph.pixels, "") for _, micrograph in chunk])
            for chunk in chunks
        )
    else:
        from complexstep.cluster.executor import DaskExecutor

        runner = DaskExecutor(client, explorer, task=explore_on_worker)
        # Progress is counted in micrographs as each is written, not in the executor's passes.
        explored = runner.map(chunks, lambda count, chunk: None)
    for chunk, explorations in explored:
        for (item, micrograph), exploration in zip(chunk, explorations, strict=True):
            yield (
                item,
                dataclasses.replace(
                    exploration, name=item.path.stem, pixel_size=micrograph.pixel_size
                ),
            )


def explore_on_worker(
    data: bytes, sha256: str, settings: dict, images: np.ndarray
) -> list[Exploration]:
    """A Dask task: the explorations of images of one size, unnamed, with the explainers this
    worker keeps for the model of these bytes and an ``Explorer``'s ``settings``."""
    with (
        workers.explainer(data, sha256, settings["code"]) as code,
        workers.explainer(data, sha256, settings["reconstruction"]) as reconstruction,
    ):
        explorer = Explorer.of(code, reconstruction)
        return [explorer.explore(image, "") for image in images]


def _write_figure(report: FolderReport, path: Path, exploration: Exploration) -> bool:
    """Writes a micrograph's activation figure through the report."""
    return report.write(
        path,
        lambda target: save_figure(
            activations_figure(
                exploration.micrograph,
                exploration.jacobian.output,
                exploration.name,
                exploration.layer,
                exploration.pixel_size,
            ),
            target,
            PANEL_MAXIMUM_DPI,
        ),
    )


def _write_page(
    report: FolderReport,
    path: Path,
    exploration: Exploration,
    bits: int,
    value_range: tuple[float, float] | None,
) -> bool:
    """Writes a micrograph's page through the report."""
    return report.write(path, lambda target: write_page(target, exploration, bits, value_range))


def _keep(report: FolderReport, path: Path, exploration: Exploration) -> Path | None:
    """Pickles an exploration until its page can be written, or records why it cannot."""
    try:
        with open(path, "wb") as file:
            pickle.dump(exploration, file, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as error:
        report.failed.append(
            f"cannot keep the exploration of {exploration.name} in {path.parent}: "
            f"{error.strerror or error}"
        )
        return None
    return path
