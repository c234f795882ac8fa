"""The regions' folder driver: how much of each map in a folder every region of its micrograph
carries, per micrograph and over the folder.

``measure_folder`` takes every map stage 2 wrote in a folder and its subfolders (``<stem>.npy``
pixel maps, and ``<stem>.wavelet.npy`` wavelet maps, measured level by level), finds the
micrograph of the same stem as stage 3 does, divides it into regions (Otsu phases, or label
images, and the boundary between them), and writes:

- ``regions.csv``: one row per micrograph, map and region;
- ``regions_summary.md``: per map and region, the mean over micrographs with a bootstrap interval,
  and the regions compared micrograph by micrograph;
- ``regions_enrichment.png``: the headline enrichment per region with its interval;
- ``<sub>/regions_<stem>.png`` (``regions_<stem>.wavelet.png`` for a wavelet map): the region
  outlines over the map's heatmap.

A wavelet level's map is ``sqrt(e)``, where ``e`` is the level's squared attribution spread over
the pixels its coefficients stand for (``rendering.wavelets.level_energies``), so that its
``Σa²`` share in a region is the region's part of that level's ``||J||²``.

A map whose micrograph or label image is missing, or which cannot be read or divided, is recorded
and the run goes on; maps of different kinds are never measured together.
"""

import collections
import dataclasses
import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from complexstep import defaults
from complexstep.engines.wavelet_basis import WaveletBasis
from complexstep.errors import (
    FolderError,
    ImageSizeError,
    RegionError,
    SettingError,
    UnreadableImageError,
)
from complexstep.folders import loop, runner
from complexstep.folders.heatmaps import Micrographs, micrograph_on_grid
from complexstep.folders.loop import FolderReport
from complexstep.io import maps as map_files
from complexstep.io import provenance
from complexstep.io.images import save_figure, write_atomically
from complexstep.progress import Progress, Tally
from complexstep.regions import sources, statistics, tables
from complexstep.rendering import regions as region_rendering
from complexstep.rendering import wavelets as wavelet_rendering
from complexstep.rendering.heatmaps import PANEL_MAXIMUM_DPI, HeatmapStyle

if TYPE_CHECKING:
    import distributed

PIXEL_MAP = "pixel"
"""The ``map`` column of a pixel map's rows; a wavelet map's are ``level <n>`` and
``approximation``."""


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """How micrographs are divided into regions.

    Attributes:
        classes: how many Otsu phases, where there are no label images.
        sigma: the smoothing before Otsu's threshold, in pixels.
        labels: a folder of label images named after the micrographs, with an optional
            ``defaults.LABEL_NAMES_FILE`` naming the labels; None for Otsu phases.
        boundary_width: the boundary region's half-width, in pixels or, given ``pixel_size``, in
            micrometres; 0 for no boundary region.
        pixel_size: the micrographs' pixel size in micrometres, or None.

    Raises:
        SettingError: on construction, for a setting out of range.
    """

    classes: int = defaults.REGION_CLASSES
    sigma: float = defaults.REGION_SIGMA
    labels: Path | None = None
    boundary_width: float = defaults.BOUNDARY_WIDTH
    pixel_size: float | None = None

    def __post_init__(self) -> None:
        # Checked now rather than on the first map, with the same checks the sources make.
        sources.check_classes(self.classes)
        sources.boundary_width_in_pixels(self.boundary_width, self.pixel_size)

    @property
    def width(self) -> float:
        """The boundary's half-width in pixels."""
        return sources.boundary_width_in_pixels(self.boundary_width, self.pixel_size)


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How the folder's intervals are drawn, checked on construction rather than after every map
    was measured.

    Attributes:
        samples: bootstrap resamples, at least ``defaults.BOOTSTRAP_MIN_SAMPLES``.
        confidence: the intervals' level, between 0 and 1.
        seed: seeds the bootstrap, so that a rerun gives the same intervals.

    Raises:
        SettingError: on construction, for too few resamples or a level outside (0, 1).
    """

    samples: int = defaults.BOOTSTRAP_SAMPLES
    confidence: float = defaults.CONFIDENCE
    seed: int = defaults.SEED

    def __post_init__(self) -> None:
        statistics.check_bootstrap(self.samples, self.confidence)


@dataclasses.dataclass(frozen=True)
class RegionTask:
    """What measuring one map needs beside what is read of it, as it travels to a Dask worker.

    Attributes:
        segmentation: how the micrograph is divided.
        style: how the heatmap under the outlines is drawn.
        kind: the maps' kind, written into every row.
        names: the labels' names, or None.
    """

    segmentation: Segmentation
    style: HeatmapStyle
    kind: str
    names: dict[int, str] | None = None


class _Inputs(NamedTuple):
    """What one map is measured from, as ``_read_inputs`` reads it."""

    micrograph: str
    """The micrograph's name in the rows: its path under the folder, without suffix."""
    maps: dict[str, np.ndarray]
    """The maps measured, by name."""
    drawn: np.ndarray
    """The map the outlines are drawn over."""
    source: np.ndarray
    """The label image, or the micrograph, on the map's grid."""


@dataclasses.dataclass
class RegionsReport(FolderReport):
    """What ``measure_folder`` did: a folder report whose ``written`` are the maps measured, whose
    ``notes`` name the maps skipped for want of a micrograph or label image and whose ``failed``
    those that could not be read, divided or drawn (any fails the run), with what was measured.

    Attributes:
        folder: the folder written into.
        kind: the kind of every map measured.
        rows: one per micrograph, map and region, as ``regions.csv`` holds them.
        summaries: per map, the folder's statistics.
        tables: the folder-wide files written: the tables and the enrichment figure.
    """

    folder: Path = Path()
    kind: str = defaults.MAP_KIND
    rows: list[dict] = dataclasses.field(default_factory=list)
    summaries: list[statistics.Summary] = dataclasses.field(default_factory=list)
    tables: list[Path] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """The final line of a run.

        Returns:
            For example ``measured 3 regions of 4 complex-step maps; wrote regions.csv,
            regions_summary.md, regions_enrichment.png and 4 outline pictures to out``.
        """
        maps = len({(row["micrograph"], row["map"]) for row in self.rows})
        regions = len({row["region"] for row in self.rows})
        measured = loop.counted(maps, f"{self.kind} map")
        line = f"measured {loop.counted(regions, 'region')} of {measured}"
        if self.tables:
            outlines = len(self.outputs) - len(self.tables)
            line += (
                f"; wrote {tables.CSV_NAME}, {tables.SUMMARY_NAME}, "
                f"{region_rendering.ENRICHMENT_NAME} and "
                f"{loop.counted(outlines, 'outline picture')} to {self.folder}"
            )
        if self.failed:
            line += f" ({loop.counted(len(self.failed), 'problem')} listed above)"
        return line


def measure_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    micrographs: str | os.PathLike = defaults.CONTOUR_INPUTS,
    *,
    segmentation: Segmentation = Segmentation(),
    kind: str | None = None,
    style: HeatmapStyle = HeatmapStyle(),
    bootstrap: Bootstrap = Bootstrap(),
    on_progress: Progress | None = None,
    shard: loop.Shard | None = None,
    client: "distributed.Client | None" = None,
) -> RegionsReport:
    """Measures every map of a folder and its subfolders by region, and writes the results.

    A map's kind is the ``kind`` its sidecar JSON (``<stem>.json``, or ``<stem>.wavelet.json``)
    names, where it names one, else ``kind``, else ``defaults.MAP_KIND``.

    Args:
        inputs, outputs: the folder of maps stage 2 wrote, and the folder to write into.
        micrographs: the folder, searched with its subfolders, of the micrographs the maps were
            computed from, matched by stem; not read where label images are given.
        segmentation: how micrographs are divided into regions.
        kind: the maps' kind, one of ``defaults.MAP_KINDS``; None to take it from the sidecars.
        style: how the heatmaps under the outlines are drawn.
        bootstrap: how the folder's intervals are drawn.
        shard: measure only the k-th of n disjoint parts of the maps (by the map's path, see
            ``loop.in_shard``), naming the folder's tables and figure for it
            (``loop.shard_name``): the n runs' ``regions.csv`` rows together are the folder's.
        on_progress, client: as every folder driver takes them (see ``folders.runner``), in
            maps; a cluster's task divides one micrograph, measures its map, draws its outlines.

    Returns:
        The rows, summaries, files written, notes and failures.

    Raises:
        FolderError: if the input folder holds no map, the micrograph or label folder no image,
            or the output folder cannot be created.
        RegionError: if the maps are of several kinds, or of another kind than ``kind``, or the
            label names cannot be read.
        SettingError: for a shard that is not ``(k, n)`` with 0 <= k < n.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    kind, paths, unread = _one_kind(_find_maps(inputs, shard), kind, inputs)
    index, names = _sources(segmentation, Path(micrographs))
    loop.make_folder(outputs)
    report = RegionsReport(folder=outputs, kind=kind)
    loop.remove_stale_partials(outputs, report)
    report.failed += unread
    work = [loop.Item(path, ()) for path in paths]
    rows: dict[Path, list[dict]] = {}
    step = measuring(RegionTask(segmentation, style, kind, names))
    read = functools.partial(_read_inputs, inputs, index, segmentation)
    write = functools.partial(_record, inputs, rows, report)
    tally = Tally(len(work), on_progress)
    runner.run(work, step, report, read=read, write=write, tally=tally, client=client)
    # Rows in the folder's order, whatever order a cluster gives them back in.
    report.rows = [row for path in paths if path in rows for row in rows[path]]
    _write_tables(report, bootstrap, shard)
    return report


def _find_maps(inputs: Path, shard: loop.Shard | None) -> list[Path]:
    """The pixel maps and then the wavelet maps of a folder and its subfolders, of the shard.

    Raises:
        FolderError: if the folder holds no map.
        SettingError: for a shard that is not ``(k, n)`` with 0 <= k < n.
    """
    if shard is not None:
        loop.check_shard(shard)
    paths = _find_pixel_maps(inputs) + _find_wavelet_maps(inputs)
    if not paths:
        raise FolderError(
            f"no maps in {inputs} or its subfolders (looked for stage 2's <stem>.npy and "
            "<stem>.wavelet.npy)"
        )
    if shard is not None:
        # A shard may hold no map of a small folder, as a job array's task may: it measures none.
        paths = [path for path in paths if loop.in_shard(path.relative_to(inputs), shard)]
    return paths


def _sources(
    segmentation: Segmentation, micrographs: Path
) -> tuple[Micrographs, dict[int, str] | None]:
    """The images the regions come from, the micrographs or the label images, by stem, and the
    labels' names where a names file gives them.

    Raises:
        FolderError: if the folder holds no image.
        RegionError: if the label names cannot be read.
    """
    if segmentation.labels is None:
        return Micrographs.of(micrographs), None
    index = Micrographs.of(Path(segmentation.labels), what="label image")
    names_path = Path(segmentation.labels) / defaults.LABEL_NAMES_FILE
    return index, sources.read_label_names(names_path) if names_path.is_file() else None


def _write_tables(report: RegionsReport, bootstrap: Bootstrap, shard: loop.Shard | None) -> None:
    """Summarises the rows measured and writes the folder's tables and enrichment figure, named
    for the shard, where any map was measured."""
    if not report.rows:
        return
    report.summaries = statistics.summarise(
        report.rows, bootstrap.samples, bootstrap.confidence, bootstrap.seed
    )
    for name, render, content in (
        (tables.CSV_NAME, tables.write_csv, report.rows),
        (tables.SUMMARY_NAME, tables.write_summary, report.summaries),
        (
            region_rendering.ENRICHMENT_NAME,
            lambda path, summaries: save_figure(
                region_rendering.enrichment_figure(summaries), path, PANEL_MAXIMUM_DPI
            ),
            report.summaries,
        ),
    ):
        named = report.folder / loop.shard_name(name, shard)
        if report.write(named, lambda path: render(path, content)):
            report.tables.append(named)


def measuring(task: RegionTask) -> runner.Step:
    """Measuring one map a chunk, counted in maps: in this process, where each map is measured
    and its outlines drawn before the next map's lines are recorded, as they always were, or one
    map a task on a cluster."""

    def compute(chunk: runner.Chunk, add) -> list[tuple[list[dict], bytes] | str]:
        measured = []
        for _, read in chunk:
            measured.append(_measure(task, *read))
            add(1)
        return measured

    return runner.Step(
        compute=compute,
        worker=measure_on_worker,
        settings=task,
        payload=lambda chunk: tuple(chunk[0][1]),
        overlap=False,
    )


def measure_on_worker(
    task: RegionTask,
    micrograph: str,
    maps: dict[str, np.ndarray],
    drawn: np.ndarray,
    source: np.ndarray,
) -> list[tuple[list[dict], bytes] | str]:
    """A Dask task: one map's rows and its outline picture, or why it cannot be divided."""
    return [_measure(task, micrograph, maps, drawn, source)]


def _find_pixel_maps(folder: Path) -> list[Path]:
    """Stage 2's pixel maps, ``<stem>.npy``, in a folder and its subfolders, sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*.npy")
        if path.is_file()
        and not path.name.endswith(map_files.WAVELET_SUFFIX)
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _find_wavelet_maps(folder: Path) -> list[Path]:
    """Stage 2's wavelet maps, ``<stem>.wavelet.npy``, in a folder and its subfolders, sorted;
    not the lossless halves of pixel maps that share the suffix (``is_pixel_map``)."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob(f"*{map_files.WAVELET_SUFFIX}")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and not map_files.is_pixel_map(path)
    )


def _one_kind(
    paths: list[Path], kind: str | None, inputs: Path
) -> tuple[str, list[Path], list[str]]:
    """The one kind of every map, from the sidecars that name one and ``kind``.

    Returns:
        The kind, the maps whose sidecars can be read, and one line for each of the others.

    Raises:
        RegionError: if the maps are of several kinds, or of another kind than ``kind``.
    """
    counts: collections.Counter = collections.Counter()
    kept, unread = [], []
    for path in paths:
        try:
            named = provenance.read_sidecar(path).get("kind")
        except UnreadableImageError as error:
            unread.append(f"skipped {path}: {error}")
            continue
        kept.append(path)
        counts[named or kind or defaults.MAP_KIND] += 1
    if kind is not None and counts and set(counts) != {kind}:
        others = ", ".join(f"{name} ({number})" for name, number in counts.items() if name != kind)
        raise RegionError(
            f"maps in {inputs} are of another kind than {kind}: {others}; measure one kind a run"
        )
    if len(counts) > 1:
        found = ", ".join(f"{name} ({number})" for name, number in counts.items())
        raise RegionError(
            f"maps in {inputs} are of several kinds: {found}; measure one kind a run, from a "
            "folder of that kind"
        )
    return next(iter(counts), kind or defaults.MAP_KIND), kept, unread


def _read_inputs(
    inputs: Path,
    index: Micrographs,
    segmentation: Segmentation,
    item: loop.Item,
    report: FolderReport,
) -> _Inputs | None:
    """Reads what one map is measured from, recording what goes wrong.

    Args:
        inputs: the input folder, whose subfolders are mirrored under the output folder.
        index: the micrographs, or the label images.
        segmentation: how the micrograph is divided.
        item: the map, ``<stem>.npy`` or ``<stem>.wavelet.npy``.
        report: where notes and failures go.

    Returns:
        What ``_measure`` takes of the map; None where it cannot be measured.
    """
    path = item.path
    subfolder = path.parent.relative_to(inputs)
    try:
        maps, drawn, shape, stem = _read_map(path)
    except UnreadableImageError as error:
        report.failed.append(str(error))
        return None
    # The stem's own name, as stage 3 pairs a wavelet map: <stem>.wavelet's stem is <stem>.
    found = index.path_for(path.with_name(f"{stem}{path.suffix}"), subfolder, report)
    if found is None:
        return None
    try:
        if segmentation.labels is not None:
            source = sources.read_labels(found, shape)
        else:
            source = micrograph_on_grid(found, path, shape)
    except (RegionError, UnreadableImageError, SettingError, ImageSizeError) as error:
        report.failed.append(f"{path}: {error}")
        return None
    return _Inputs((subfolder / stem).as_posix(), maps, drawn, source)


def _measure(
    task: RegionTask,
    micrograph: str,
    maps: dict[str, np.ndarray],
    drawn: np.ndarray,
    source: np.ndarray,
) -> tuple[list[dict], bytes] | str:
    """One map's rows and its outline picture as PNG bytes, or why it cannot be divided; what
    ``_Inputs`` names its arguments after the task."""
    segmentation = task.segmentation
    try:
        if segmentation.labels is not None:
            regions = sources.label_regions(source, task.names)
        else:
            regions = sources.otsu_phases(source, segmentation.classes, segmentation.sigma)
        regions = sources.with_boundary(regions, segmentation.width)
        rows = [
            {"micrograph": micrograph, "kind": task.kind, "map": name} | row
            for name, values in maps.items()
            for row in statistics.region_statistics(values, regions)
        ]
    except RegionError as error:
        return str(error)
    with tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "outlines.png"
        save_figure(
            region_rendering.outlines_figure(drawn, regions, task.style), picture, task.style.dpi
        )
        return rows, picture.read_bytes()


def _record(
    inputs: Path,
    rows: dict[Path, list[dict]],
    report: RegionsReport,
    item: loop.Item,
    read: _Inputs,
    outcome: tuple[list[dict], bytes] | str,
) -> bool:
    """Keeps one map's rows and writes its outline picture, or records why it failed; says
    whether the map was measured."""
    path = item.path
    if isinstance(outcome, str):
        report.failed.append(f"{path}: {outcome}")
        return False
    rows[path], picture = outcome
    wavelet = path.name.endswith(map_files.WAVELET_SUFFIX)
    stem = map_files.stem_of(path) if wavelet else path.stem
    name = f"{region_rendering.OUTLINES_PREFIX}{stem}{'.wavelet' if wavelet else ''}.png"
    report.write(
        report.folder / path.parent.relative_to(inputs) / name,
        lambda target: write_atomically(target, lambda part: part.write_bytes(picture)),
    )
    return True


def _read_map(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[int, int], str]:
    """Reads a pixel or wavelet map as the maps measured and the map drawn.

    Returns:
        The maps by name (one for a pixel map, one per level and the approximation for a
        wavelet map), the map to draw outlines over (a wavelet map's levels together), the
        micrograph's shape, and the stem.

    Raises:
        UnreadableImageError: if the map cannot be read.
    """
    if not path.name.endswith(map_files.WAVELET_SUFFIX):
        values = map_files.load_attribution(path.with_suffix(".png"))
        return {PIXEL_MAP: values}, values, values.shape, path.stem
    values, basis, _ = map_files.load_wavelet_map(path, WaveletBasis)
    energies = wavelet_rendering.level_energies(values, basis)
    maps = {
        ("approximation" if level == 0 else f"level {level}"): np.sqrt(energy)
        for level, energy in sorted(energies.items(), key=lambda item: item[0] or 1 << 30)
    }
    return maps, np.sqrt(sum(energies.values())), basis.shape, map_files.stem_of(path)
