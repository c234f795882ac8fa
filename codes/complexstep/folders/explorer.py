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
import functools
import os
import pickle
import tempfile
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
    ExplorerSettings,
    check_bits,
    write_page,
)
from complexstep.folders import loop, runner
from complexstep.folders.loop import FolderReport
from complexstep.io.images import save_figure
from complexstep.progress import Progress, Tally
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
    """Writes a page and an activation figure for every micrograph in a folder and its
    subfolders, ``<outputs>/<sub>/explore_<stem>.html`` and ``activations_<stem>.png``, each
    atomically, with a scale bar where the pixel size is known. A micrograph that cannot be read,
    is too large, or whose stem another of its folder took, is recorded and the run goes on.

    Args:
        inputs, outputs: the folder of micrographs and the folder to write into.
        explorer: the model and layer to explore.
        max_pixels, bits: the most pixels a page explains, and its bits per value, 8 or 16.
        scale: how heatmaps are scaled, one of ``defaults.SCALES``: "map", each by its own
            minimum and maximum; "folder", all pages of the run (of the shard, with ``shard``) by
            the least and greatest raw attribution of any, which the report's notes give.
        resize, on_progress, reading, shard, client: as every folder driver takes them (see
            ``folders.runner``); progress is counted in micrographs.

    Raises:
        FolderError: if the input folder is missing or holds no image, or the outputs would
            replace an input or cannot be written.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: for a ``max_pixels`` below one, bits other than 8 or 16, an unknown scale,
            or a shard that is not ``(k, n)`` with 0 <= k < n.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    _check_settings(explorer, resize, max_pixels, bits, scale)
    reading = dict(reading or {})
    report = FolderReport()
    size_of = functools.partial(_size_of, explorer, resize, reading.get("crop_bottom"), max_pixels)
    named = functools.partial(targets, inputs, outputs=outputs)
    work = loop.plan(inputs, outputs, named, report, size_of=size_of, noun="page", shard=shard)
    run = functools.partial(
        runner.run,
        work,
        exploring(explorer),
        report,
        read=loop.reader(resize, reading),
        tally=Tally(len(work), on_progress),
        client=client,
    )
    if scale == "map":
        run(write=functools.partial(_write_both, report, named, bits))
        return report
    with tempfile.TemporaryDirectory(dir=outputs, prefix=SPOOL_PREFIX) as folder:
        spool = _Spool(Path(folder), report, named)
        run(write=spool.keep)
        spool.write_pages(bits)
    return report


def _write_both(
    report: FolderReport, named, bits: int, item: loop.Item, micrograph, exploration: Exploration
) -> bool:
    """Writes a micrograph's page, coloured by its own range, and its activation figure."""
    exploration = _named(exploration, item, micrograph)
    page_path, figure_path = named(item.path)
    return _write_page(report, page_path, exploration, bits, None) and _write_figure(
        report, figure_path, exploration
    )


def _check_settings(
    explorer: Explorer, resize: int | None, max_pixels: int, bits: int, scale: str
) -> None:
    """Refuses settings no page can be made with."""
    if max_pixels < 1:
        raise SettingError(f"max_pixels must be at least 1, not {max_pixels}")
    check_bits(bits)
    if scale not in defaults.SCALES:
        raise SettingError(f"unknown scale {scale!r}: choose one of {', '.join(defaults.SCALES)}")
    if resize is not None:
        explorer.explainer.check_size(resize, resize)


def _size_of(
    explorer: Explorer,
    resize: int | None,
    crop_bottom: int | None,
    max_pixels: int,
    path: Path,
) -> tuple[int, int]:
    """The size a micrograph is explored at, refusing one larger than a page holds."""
    size = loop.explained_size(path, resize, explorer.step, crop_bottom=crop_bottom)
    if size[0] * size[1] > max_pixels:
        raise ImageSizeError(
            f"left out {path}: {size[0]}x{size[1]} is {size[0] * size[1]:,} pixels, more "
            f"than the {max_pixels:,} a page holds; crop the region to explore, or resize it"
        )
    return size


def exploring(explorer: Explorer) -> runner.Step:
    """Exploring micrographs one at a time, in this process or one a task on a cluster, where
    each worker builds the explorer's explainers once."""

    def explore(chunk: runner.Chunk, add) -> list[Exploration]:
        explored = []
        for _, micrograph in chunk:
            explored.append(explorer.explore(micrograph.pixels, ""))
            add(1)
        return explored

    return runner.Step(
        compute=explore,
        worker=explore_on_worker,
        settings=explorer.settings,
        model=explorer.model,
        grouped=False,
    )


def _named(exploration: Exploration, item: loop.Item, micrograph) -> Exploration:
    """An exploration with its micrograph's name and pixel size, which the worker knew not."""
    return dataclasses.replace(exploration, name=item.path.stem, pixel_size=micrograph.pixel_size)


class _Spool:
    """Where a ``scale="folder"`` run's explorations wait, pickled, until the range of every
    page is known; their activation figures, which need no range, are written at once.

    Args:
        folder: the hidden temporary folder they wait in.
        report: the run's report.
        targets: the page and the figure of a micrograph.
    """

    def __init__(self, folder: Path, report: FolderReport, targets):
        self.folder, self.report, self.targets = folder, report, targets
        self.waiting: list[tuple[loop.Item, Path]] = []
        self.extremes: list[np.ndarray] = []

    def keep(self, item: loop.Item, micrograph, exploration: Exploration) -> bool:
        """Writes the figure and keeps the exploration; its page is not written yet."""
        exploration = _named(exploration, item, micrograph)
        _, figure_path = self.targets(item.path)
        if _write_figure(self.report, figure_path, exploration):
            kept = _keep(self.report, self.folder / f"{len(self.waiting)}.pickle", exploration)
            if kept is not None:
                self.waiting.append((item, kept))
                attribution = exploration.attribution
                self.extremes.append(np.array([attribution.min(), attribution.max()]))
        return False

    def write_pages(self, bits: int) -> None:
        """Writes every page kept, coloured on the range of them all."""
        if not self.waiting:
            return
        value_range = folder_range(self.extremes)
        self.report.notes.append(
            f"coloured {len(self.waiting)} page(s) on one range of raw attributions, "
            f"{value_range[0]:.6g} to {value_range[1]:.6g}"
        )
        for item, kept in self.waiting:
            with open(kept, "rb") as file:
                exploration = pickle.load(file)
            kept.unlink()
            page_path, _ = self.targets(item.path)
            if _write_page(self.report, page_path, exploration, bits, value_range):
                self.report.written.append(item.path)


def explore_on_worker(
    data: bytes, sha256: str, settings: ExplorerSettings, images: np.ndarray
) -> list[Exploration]:
    """A Dask task: the explorations of images of one size, unnamed, with the explainers this
    worker keeps for the model of these bytes and an ``Explorer``'s ``settings``."""
    with (
        workers.explainer(data, sha256, settings.code) as code,
        workers.explainer(data, sha256, settings.reconstruction) as reconstruction,
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
