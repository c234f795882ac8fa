"""Stage 2's folder driver: the attribution map of every micrograph in a folder.

Each micrograph is read grey in [0, 1] and either resized to 256x256, as the paper does, or kept at
its own resolution, where it is cropped from the bottom and right to the largest size the network
takes (multiples of 16 for the paper's model), so that pixel ``(y, x)`` of the map is pixel
``(y, x)`` of the micrograph. Its map is written as ``<stem>.npy`` (float32, raw) and ``<stem>.png``
(8-bit, min-max scaled), mirroring the input folder's subfolders; in the wavelet domain, as
``<stem>.wavelet.npy`` (float32, every coefficient's attribution) and ``<stem>.wavelet.json`` (the
share of each level and orientation). A multi-page file is explained at its first page, or at
each page k asked, as ``<stem>_p<k>``; a model of several channels may give one map a channel k,
as ``<stem>_c<k>``. Interrupted runs over thousands of micrographs continue
where they stopped with ``skip_existing``.
"""

import dataclasses
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.cluster import workers
from complexstep.errors import (
    ComplexStepError,
    FolderError,
    SettingError,
    UnreadableImageError,
)
from complexstep.explain.domains import Pixels, Wavelets
from complexstep.explain.explainer import Explainer
from complexstep.folders import loop, runner
from complexstep.folders.loop import FolderReport
from complexstep.io import images, micrographs, provenance
from complexstep.model import files
from complexstep.progress import Progress, Tally
from complexstep.rendering.heatmaps import middle_slices

if TYPE_CHECKING:
    import distributed


def targets(
    inputs: Path,
    path: Path,
    outputs: Path,
    domain: Pixels | Wavelets = Pixels(),
    page: tuple[int, int] | None = None,
    channels: int = 0,
) -> tuple[Path, ...]:
    """Where the map of the micrograph at ``path`` goes, in the domain's files: its ``.npy``, its
    ``.png`` and its ``.json``, or in the wavelet domain its ``.wavelet.npy`` and
    ``.wavelet.json``; for ``page`` (k, the file's pages), named ``micrographs.page_stem``; for
    ``channels`` maps, one a channel, the files of each in turn, named ``<stem>_c<k>``."""
    stem = Path(outputs) / path.relative_to(inputs).with_suffix("")
    if page is not None:
        stem = stem.with_name(micrographs.page_stem(stem.name, *page))
    stems = [stem.with_name(f"{stem.name}_c{k}") for k in range(channels)] if channels else [stem]
    return tuple(stem.with_name(stem.name + suffix) for stem in stems for suffix in domain.suffixes)


def attribute_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    explainer: Explainer,
    *,
    resize: int | None = defaults.IMAGE_SIZE,
    skip_existing: bool = False,
    on_progress: Progress | None = None,
    reading: dict | None = None,
    model_path: str | os.PathLike | None = None,
    shard: loop.Shard | None = None,
    client: "distributed.Client | None" = None,
    pages: str | int = defaults.PAGE_CHOICE,
) -> FolderReport:
    """Writes the attribution map of every micrograph in a folder and its subfolders, in the
    files this module names, each atomically, with a sidecar saying what made it
    (``provenance.map_provenance``). A micrograph that cannot be read or written is recorded and
    the run goes on.

    Args:
        inputs, outputs: the folder of micrographs and the folder to write into.
        explainer: the model, layer, engine and domain to explain with.
        skip_existing: leave alone every micrograph whose files are all there, if its sidecar
            names the kind of map asked for and its settings.
        model_path: the explainer's model file, or "pretrained" for the shipped model, whose
            name and SHA-256 the sidecars give; None where the model was given as an object.
        pages: the pages of multi-page files explained, as ``micrographs.page_numbers`` takes
            them: "first" explains page 0 as ``<stem>`` (``reading``'s ``page`` another), "all"
            each page k as ``<stem>_p<k>``, a number that page alone as ``<stem>_p<k>``. A file's
            pages are used at the size of its first.
        resize, on_progress, reading, shard, client: as every folder driver takes them (see
            ``folders.runner``); progress is counted in passes.

    Raises:
        FolderError: if the input folder is missing or holds no image, the outputs would
            replace an input or cannot be written, or maps left alone are of another kind.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: if ``resize`` is a size the wavelet transform's levels do not fit, the
            shard is not ``(k, n)`` with 0 <= k < n, or ``pages`` is no choice of pages; for a
            3-D model, if ``resize`` or ``pages`` is given.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    reading = _reading(explainer, resize, pages, reading)
    report = FolderReport()
    run = _run(explainer, model_path)
    defining = _defining(run, explainer, resize, reading)
    asked = _Asked(inputs, outputs, explainer, resize, reading, defining, skip_existing, shard)
    rounds = [
        _plan_page(asked, report, *chosen) for chosen in _pages(inputs, outputs, pages, report)
    ]
    step = explaining(explainer)
    tally = Tally(sum(step.total(work) for _, _, work in rounds), on_progress)
    for page, named, work in rounds:
        write = functools.partial(_write_map, report, named, explainer, run, resize)
        read = loop.reader(resize, reading if page is None else reading | {"page": page})
        runner.run(work, step, report, read=read, write=write, tally=tally, client=client)
    return report


def _run(explainer: Explainer, model_path: str | os.PathLike | None) -> dict:
    """What made every map of the run, as ``provenance.run_provenance`` says it."""
    return provenance.run_provenance(
        None if model_path is None else files.path_of(model_path),
        model_name=None if model_path is None else os.fspath(model_path),
        layer=explainer.layer,
        engine=explainer.engine,
        domain=explainer.domain.name,
        h=explainer.h,
        backend=explainer.backend,
        kind=explainer.kind.sidecar(),
    )


def explaining(explainer: Explainer) -> runner.Step:
    """Explaining chunks of micrographs of one size with an ``Explainer``, in passes: in one
    compiled call in this process, or one micrograph a task on a cluster, where each worker
    builds the explainer of these settings once."""
    return runner.Step(
        compute=lambda chunk, add: explainer.attribute_many(
            [micrograph.pixels for _, micrograph in chunk], add
        ),
        worker=workers.attribute,
        settings=explainer.settings,
        model=explainer.model,
        per_call=explainer.images_per_call,
        cost=lambda item: explainer.passes(*item.size),
    )


def _reading(
    explainer: Explainer, resize: int | None, pages: str | int, reading: dict | None
) -> dict:
    """How the explainer's model reads micrographs, after refusing what it cannot take."""
    # A 3-D model explains each TIFF stack or .npy array whole, at its own size, as one volume.
    volume = explainer.spatial == 3
    if volume and resize is not None:
        raise SettingError(
            f"a 3-D model explains each TIFF stack at its own size, not resized to {resize}: "
            "read them with resize=None (--resize none)"
        )
    if volume and pages != defaults.PAGE_CHOICE:
        raise SettingError(
            "a 3-D model explains each TIFF stack whole, as one volume: pages are chosen for "
            "a 2-D model alone"
        )
    if explainer.per_channel and explainer.channels == 1:
        raise SettingError(
            "one map per channel is made for a model of several input channels; this one takes "
            "grey micrographs: leave out per_channel (--per-channel)"
        )
    if resize is not None:
        explainer.check_size(resize, resize)
    # A model of several channels reads each micrograph's as they are; a grey one gets grey.
    return (
        dict(reading or {})
        | ({"channels": explainer.channels} if explainer.channels > 1 else {})
        | ({"volume": True} if volume else {})
    )


@dataclasses.dataclass(frozen=True)
class _Asked:
    """What a run of ``attribute_folder`` was asked, which each of its rounds plans by."""

    inputs: Path
    outputs: Path
    explainer: Explainer
    resize: int | None
    reading: dict
    defining: dict
    skip_existing: bool
    shard: loop.Shard | None


def _plan_page(
    asked: _Asked, report: FolderReport, page: int | None, paths: list[Path] | None
) -> tuple[int | None, Callable[[Path], tuple[Path, ...]], list[loop.Item]]:
    """One round of a run: the page, how its maps are named, and the micrographs to explain."""
    explainer, reading = asked.explainer, asked.reading
    per_channel = explainer.channels if explainer.per_channel else 0
    volume = "volume" in reading

    def named(path: Path) -> tuple[Path, ...]:
        counted = None if page is None else (page, _page_count(path))
        return targets(asked.inputs, path, asked.outputs, explainer.domain, counted, per_channel)

    existing = len(report.existing)
    crop_bottom = reading.get("crop_bottom")
    size_of = loop.sizer(explainer, asked.resize, crop_bottom=crop_bottom, volume=volume)
    work = loop.plan(
        asked.inputs,
        asked.outputs,
        named,
        report,
        size_of=size_of,
        noun="map",
        skip_existing=asked.skip_existing,
        paths=paths,
        suffixes=images.VOLUME_SUFFIXES if volume else images.IMAGE_SUFFIXES,
        shard=asked.shard,
    )
    work += _check_existing(report, existing, named, asked.defining, size_of)
    return page, named, work


def _pages(
    inputs: Path, outputs: Path, pages: str | int, report: FolderReport
) -> list[tuple[int | None, list[Path] | None]]:
    """The rounds of a run: each page number with the micrographs that have it, or one round of
    every micrograph (None, None) read as ``reading`` says, for the first page."""
    micrographs.check_pages(pages)
    if pages == defaults.PAGE_CHOICE:
        return [(None, None)]
    by_page: dict[int, list[Path]] = {}
    for path in loop.find_micrographs(inputs, outputs, report):
        try:
            numbers = micrographs.page_numbers(path, pages)
        except ComplexStepError as error:
            report.failed.append(str(error))
            continue
        for number in numbers:
            by_page.setdefault(number, []).append(path)
    return sorted(by_page.items())


def _page_count(path: Path) -> int:
    """The pages of a micrograph, which name its maps."""
    return len(micrographs.page_numbers(path, "all"))


def _defining(run: dict, explainer: Explainer, resize: int | None, reading: dict) -> dict:
    """The sidecar fields that define a map, as this run would write them: what made it (the
    model, where given as a file, layer, engine, domain, step, kind and its settings) and how its
    micrograph was read (resize, intensity scaling, rows cut by hand)."""
    defining = {key: run[key] for key in ("model_sha256", "layer", "engine", "domain", "h")}
    if defining["model_sha256"] is None:
        # A model given as an object has no file to name: any map's model is taken as it.
        del defining["model_sha256"]
    defining |= explainer.domain.settings()
    defining |= explainer.kind.sidecar()
    return defining | {
        "resize": resize,
        "intensity": reading.get("intensity", defaults.INTENSITY),
        "crop_bottom": reading.get("crop_bottom") or None,
    }


def _made_with(sidecar: dict, defining: dict) -> dict:
    """The fields of ``_defining`` as a map's sidecar gives them."""
    made = {key: sidecar.get(key) for key in defining}
    made["kind"] = sidecar.get("kind", defaults.MAP_KIND)
    if sidecar.get("data_bar_source") == "crop_bottom":
        made["crop_bottom"] = sidecar.get("data_bar_rows")
    else:
        made["crop_bottom"] = None
    return made


def _check_existing(
    report: FolderReport,
    start: int,
    named: Callable[[Path], tuple[Path, ...]],
    defining: dict,
    size_of: Callable[[Path], tuple[int, int]],
) -> list[loop.Item]:
    """Refuses to leave alone maps made otherwise than asked (another model, layer, engine,
    domain, step, kind or reading), which would mix two kinds of map in one folder under one
    run's name; maps whose sidecar cannot be read are made again, one line each.

    Args:
        report: the run's report, whose ``existing`` from ``start`` on this round planned.
        start: where this round's micrographs left alone begin in ``report.existing``.
        named: the files of a micrograph's map, its sidecar last.
        defining: the fields that define a map, from ``_defining``.
        size_of: the size a micrograph explained again is planned at.

    Returns:
        The micrographs to explain again, taken out of ``report.existing``.

    Raises:
        FolderError: naming the first map made otherwise and how.
    """
    again, kept = [], []
    for micrograph in report.existing[start:]:
        path = named(micrograph)[-1]
        try:
            made = _made_with(provenance.read_sidecar(path), defining)
        except UnreadableImageError as error:
            report.notes.append(f"explaining {micrograph} again: {error}")
            try:
                again.append(loop.Item(micrograph, size_of(micrograph)))
            except ComplexStepError as refused:
                report.failed.append(str(refused))
            continue
        if made != defining:
            differ = {key: value for key, value in made.items() if value != defining[key]}
            asked = {key: defining[key] for key in differ}
            raise FolderError(
                f"{path} says its map is {_described(differ)}, not {_described(asked)} as asked; "
                "leaving it alone would mix two kinds of map in one folder: choose another "
                "outputs folder, or explain without skipping existing maps"
            )
        kept.append(micrograph)
    report.existing = report.existing[:start] + kept
    return again


def _described(fields: dict) -> str:
    """Settings in a few words, leaving out those not given."""
    given = ", ".join(f"{key} {value}" for key, value in fields.items() if value is not None)
    return given or f"without {', '.join(fields)}"


def _write_map(
    report: FolderReport,
    named: Callable[[Path], tuple[Path, ...]],
    explainer: Explainer,
    run: dict,
    resize: int | None,
    item: loop.Item,
    micrograph: micrographs.Micrograph,
    values: np.ndarray,
) -> bool:
    """Writes one micrograph's files, one map's or, per channel, each channel's in turn, with
    what made it, recording any that cannot be written."""
    written = named(item.path)
    made = provenance.map_provenance(run, micrograph, resize)
    if explainer.per_channel:
        count = len(written) // explainer.channels
        return all(
            _write_one(
                report,
                written[k * count : (k + 1) * count],
                values[..., k],
                explainer,
                made | {"input_channel": k},
            )
            for k in range(explainer.channels)
        )
    return _write_one(report, written, values, explainer, made)


def _write_one(
    report: FolderReport, written: tuple[Path, ...], values, explainer, made: dict
) -> bool:
    """Writes one map's files, recording any that cannot be written."""
    array_path, *pictures, json_path = written
    if not report.write(array_path, lambda path: images.write_array(path, values)):
        return False
    # A volume's picture is its three middle slices, scaled together.
    picture = values if values.ndim == 2 else middle_slices(values, float(values.min()))
    for png_path in pictures:
        if not report.write(png_path, lambda path: images.write_grey_png(path, picture)):
            return False
    sidecar = made | explainer.domain.sidecar(values)
    return report.write(json_path, lambda path: provenance.write_sidecar(path, sidecar))
