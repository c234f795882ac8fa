"""Stage 3's folder driver: every attribution map in a folder rendered as heatmaps.

``render_folder`` renders each map of a folder and its subfolders with ``rendering``, and each
wavelet map with ``wavelet_rendering``, mirroring them under the output folder, and records, rather
than stops at, maps that cannot be read or views that cannot be written.
"""

import collections
import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from complexstep import defaults
from complexstep.errors import FolderError, ImageSizeError, SettingError, UnreadableImageError
from complexstep.io import provenance
from complexstep.io.images import find_images, list_images, read_image
from complexstep.rendering import wavelets as wavelet_rendering
from complexstep.rendering.heatmaps import (
    HEATMAP_PREFIX,
    OVERLAY_PREFIX,
    PANEL_PREFIX,
    HeatmapStyle,
    folder_range,
    heatmap_values,
    load_attribution,
    render_heatmap,
    render_overlay,
    render_panel,
)


@dataclasses.dataclass
class Report:
    """What ``render_folder`` wrote and what it has to say.

    Attributes:
        outputs: the folder the files were written into.
        overlay: whether overlays were asked for.
        panel: whether panels were asked for.
        written: how many files of each kind ("heatmap", "overlay", "panel") were written.
        notes: lines about maps rendered with a caveat (a constant map, a missing micrograph).
        problems: lines about inputs or views that failed; any of them makes the run fail.
    """

    outputs: Path
    overlay: bool = False
    panel: bool = False
    written: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    notes: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """The final line of a run: what was written where, and how many problems were listed.

        Returns:
            For example ``wrote 4 heatmaps to smaps (3 overlays, 1 problem listed above)``.
        """
        line = f"wrote {_count(self.written['heatmap'], 'heatmap')} to {self.outputs}"
        extras = []
        if self.overlay:
            extras.append(_count(self.written["overlay"], "overlay"))
        if self.panel:
            extras.append(_count(self.written["panel"], "panel"))
        if self.written["wavelet"]:
            extras.append(
                f"{_count(self.written['wavelet'], 'wavelet map')} drawn as layout, scales and "
                "shares"
            )
        if self.problems:
            extras.append(f"{_count(len(self.problems), 'problem')} listed above")
        return f"{line} ({', '.join(extras)})" if extras else line


def render_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    style: HeatmapStyle,
    overlay: bool = False,
    panel: bool = False,
    micrographs: str | os.PathLike = defaults.CONTOUR_INPUTS,
    on_progress: Callable[[int, int], None] | None = None,
    wavelet_style: wavelet_rendering.WaveletStyle | None = None,
    pixel_size: float | None = None,
) -> Report:
    """Renders every attribution image and wavelet map in a folder and its subfolders.

    An input ``<inputs>/<sub>/<stem>.png`` (or any image suffix) becomes
    ``<outputs>/<sub>/smp_cpa_<stem>.jpeg``, and, where asked for, ``overlay_cpa_<stem>.jpeg`` and
    ``panel_<stem>.png`` beside it. Where the output folder lies inside the input folder, the files
    an earlier run wrote there are not inputs. An input that cannot be read or a file that cannot
    be written does not stop the run: it is recorded in the report's problems.

    A wavelet map ``<inputs>/<sub>/<stem>.wavelet.npy`` becomes ``wavelet_<stem>.png`` (its
    layout), ``scales_<stem>.png`` (a map per level, over the micrograph where it is found) and
    ``shares_<stem>.png`` (the shares of levels and orientations) in ``<outputs>/<sub>``.

    Heatmaps, overlays and panels get a scale bar where the map's sidecar (``<stem>.json``, which
    stage 2 writes) gives its pixel size, or else ``pixel_size`` does. With ``style.scale``
    "folder", every map is scaled by one range, the least and greatest raw value of all maps of
    the run, so that one colour is one raw value in every heatmap.

    Args:
        inputs: the folder of grey attribution images.
        outputs: the folder to write into; created where missing.
        style: how maps are smoothed and coloured.
        overlay: whether to write each heatmap blended over its micrograph.
        panel: whether to write a panel of all views of each map.
        micrographs: the folder, searched with its subfolders, of the micrographs the maps were
            computed from, matched by stem; read only for overlays and panels.
        on_progress: called with the maps done and the maps in all, after each map.
        wavelet_style: how wavelet maps are drawn; None for the defaults.
        pixel_size: the side of a map pixel in µm, for maps whose sidecar gives none; None
            draws no scale bar on those.

    Returns:
        What was written, and notes and problems, one line each.

    Raises:
        FolderError: if the input folder holds no image other than earlier outputs and no wavelet
            map, the micrograph folder (where needed) holds no image, or the output folder cannot
            be created.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    wavelet_paths = wavelet_rendering.find_wavelet_maps(inputs)
    found = list_images(inputs) if wavelet_paths else find_images(inputs)
    image_paths = [path for path in found if not _is_output(path, outputs)]
    if not image_paths and not wavelet_paths:
        raise FolderError(f"no attribution images in {inputs} other than earlier heatmaps")
    # Per-scale maps are drawn over their micrographs where there are any, and alone otherwise.
    wanted = overlay or panel or (wavelet_paths and list_images(micrographs))
    index = _Micrographs.of(Path(micrographs)) if wanted else None
    _make_folder(outputs)

    report = Report(outputs, overlay=overlay, panel=panel)
    plan = _plan(image_paths, inputs, report)
    value_range = _folder_range(plan, report) if style.scale == "folder" else None
    total = len(plan) + len(wavelet_paths)
    for done, (image_path, subfolder) in enumerate(plan, start=1):
        views = _Views(style, value_range, pixel_size)
        _render_views(image_path, subfolder, views, index, report)
        if on_progress is not None:
            on_progress(done, total)
    wavelet_style = wavelet_style or wavelet_rendering.WaveletStyle()
    for done, path in enumerate(wavelet_paths, start=len(plan) + 1):
        _render_wavelet_views(path, path.parent.relative_to(inputs), wavelet_style, index, report)
        if on_progress is not None:
            on_progress(done, total)
    return report


@dataclasses.dataclass(frozen=True)
class _Views:
    """How one run draws its maps: the style, the folder's range, the fallback pixel size."""

    style: HeatmapStyle
    value_range: tuple[float, float] | None
    pixel_size: float | None


def _folder_range(plan: list[tuple[Path, Path]], report: Report) -> tuple[float, float] | None:
    """The least and greatest raw value of every readable map, noted; maps that cannot be read
    are reported when they are rendered."""
    readable = []
    for image_path, _ in plan:
        try:
            readable.append(load_attribution(image_path))
        except UnreadableImageError:
            continue
    if not readable:
        return None
    low, high = folder_range(readable)
    report.notes.append(
        f"coloured {_count(len(readable), 'map')} on one range of raw values, {low:.6g} to "
        f"{high:.6g}"
    )
    return low, high


def _reading_of(map_path: Path) -> dict:
    """The reader's options a map's sidecar records, so that its micrograph is read as stage 2
    read it."""
    sidecar = provenance.read_sidecar(map_path)
    reading = {}
    if sidecar.get("intensity") in defaults.INTENSITIES:
        reading["intensity"] = sidecar["intensity"]
    rows = sidecar.get("data_bar_rows")
    if sidecar.get("data_bar_source") == "crop_bottom" and isinstance(rows, int) and rows > 0:
        reading["crop_bottom"] = rows
    return reading


def _pixel_size(image_path: Path, fallback: float | None) -> float | None:
    """A map's pixel size in µm: its sidecar's, else the one given."""
    given = provenance.read_sidecar(image_path).get("pixel_size_um")
    if isinstance(given, int | float) and math.isfinite(given) and given > 0:
        return float(given)
    return fallback


@dataclasses.dataclass(frozen=True)
class _Micrographs:
    """The micrographs of a folder and its subfolders, by stem.

    Attributes:
        folder: the folder searched.
        by_stem: the micrograph paths of each stem, in ``find_images`` order.
        what: what the images are, for notes: "micrograph", or "label image".
    """

    folder: Path
    by_stem: dict[str, list[Path]]
    what: str = "micrograph"

    @classmethod
    def of(cls, folder: Path, what: str = "micrograph") -> "_Micrographs":
        """Lists the micrographs, or other images named after them, of a folder.

        Raises:
            FolderError: if the folder does not exist or holds no image.
        """
        by_stem: dict[str, list[Path]] = {}
        for path in find_images(folder):
            by_stem.setdefault(path.stem, []).append(path)
        return cls(folder, by_stem, what)

    def read_for(self, image_path: Path, subfolder: Path, report: Report) -> np.ndarray | None:
        """Reads the micrograph an attribution image was computed from, or records why not.

        Micrographs are found by ``path_for`` and read as the map's sidecar says stage 2 read
        them (its intensity scaling and any rows cut by hand); one that cannot be decoded is a
        problem.

        Args:
            image_path: the attribution image.
            subfolder: the attribution image's folder relative to the input folder.
            report: where a missing, ambiguous or unreadable micrograph is recorded.

        Returns:
            The grey micrograph at its own size, or None.
        """
        path = self.path_for(image_path, subfolder, report)
        if path is None:
            return None
        try:
            return read_image(path, size=None, **_reading_of(image_path))
        except (UnreadableImageError, SettingError) as error:
            report.problems.append(str(error))
            return None

    def path_for(self, image_path: Path, subfolder: Path, report) -> Path | None:
        """Finds the image of this folder that belongs with an attribution image, or records why
        there is none.

        Images are matched by stem; a stem found more than once is resolved by the subfolder the
        attribution image lies in. A missing or ambiguous image is a note.

        Args:
            image_path: the attribution image.
            subfolder: the attribution image's folder relative to the input folder.
            report: anything with a ``notes`` list, where a missing or ambiguous image is noted.

        Returns:
            The image's path, or None.
        """
        candidates = self.by_stem.get(image_path.stem, [])
        if len(candidates) > 1:
            candidates = [
                path for path in candidates if path.parent.relative_to(self.folder) == subfolder
            ]
        if not candidates:
            report.notes.append(
                f"{image_path}: no {self.what} named {image_path.stem} in {self.folder}"
            )
            return None
        if len(candidates) > 1:
            listed = ", ".join(str(path) for path in candidates)
            report.notes.append(f"{image_path}: several {self.what}s could be its own: {listed}")
            return None
        return candidates[0]


def _render_views(
    image_path: Path,
    subfolder: Path,
    views: _Views,
    micrographs: _Micrographs | None,
    report: Report,
) -> None:
    """Writes the heatmap of one attribution image, and its overlay and panel where asked for.

    Args:
        image_path: the attribution image.
        subfolder: its folder relative to the input folder, mirrored under the output folder.
        views: how maps are smoothed, scaled and coloured, and the fallback pixel size.
        micrographs: the micrographs, or None where neither overlay nor panel is asked for.
        report: the output folder and the views asked for, and where what was written and what
            went wrong are recorded.
    """
    stem = image_path.stem
    folder = report.outputs / subfolder
    try:
        attribution = load_attribution(image_path)
    except UnreadableImageError as error:
        report.problems.append(str(error))
        return
    style = views.style
    pixel_size = _pixel_size(image_path, views.pixel_size)
    values, was_constant = heatmap_values(attribution, style.sigma, views.value_range)
    if was_constant:
        report.notes.append(f"{image_path}: the map is constant, so it is rendered in one colour")
    micrograph = None
    if micrographs is not None:
        micrograph = micrographs.read_for(image_path, subfolder, report)

    _write(
        report,
        "heatmap",
        folder / f"{HEATMAP_PREFIX}{stem}.jpeg",
        lambda path: render_heatmap(path, values, style, pixel_size),
    )
    if report.overlay and micrograph is not None:
        _write(
            report,
            "overlay",
            folder / f"{OVERLAY_PREFIX}{stem}.jpeg",
            lambda path: render_overlay(path, values, micrograph, style, pixel_size),
        )
    if report.panel:
        _write(
            report,
            "panel",
            folder / f"{PANEL_PREFIX}{stem}.png",
            lambda path: render_panel(
                path, stem, attribution, values, style, micrograph, pixel_size
            ),
        )


def _render_wavelet_views(
    path: Path,
    subfolder: Path,
    style: wavelet_rendering.WaveletStyle,
    micrographs: _Micrographs | None,
    report: Report,
) -> None:
    """Writes the layout, per-scale maps and shares of one wavelet map, counted as one.

    Args:
        path: the wavelet map, ``<stem>.wavelet.npy``.
        subfolder: its folder relative to the input folder, mirrored under the output folder.
        style: how wavelet maps are drawn.
        micrographs: the micrographs, or None where there are none to draw the scales over.
        report: where what was written and what went wrong are recorded.
    """
    stem = wavelet_rendering.stem_of(path)
    folder = report.outputs / subfolder
    try:
        values, basis, summary = wavelet_rendering.load_wavelet_map(path)
    except UnreadableImageError as error:
        report.problems.append(str(error))
        return
    micrograph = None
    if micrographs is not None:
        micrograph = micrographs.read_for(path.with_name(f"{stem}.wavelet"), subfolder, report)
    views = [
        (
            wavelet_rendering.LAYOUT_PREFIX,
            lambda target: wavelet_rendering.render_layout(target, stem, values, basis, style),
        ),
        (
            wavelet_rendering.SCALES_PREFIX,
            lambda target: wavelet_rendering.render_scales(
                target, stem, values, basis, style, micrograph
            ),
        ),
        (
            wavelet_rendering.SHARES_PREFIX,
            lambda target: wavelet_rendering.render_shares(target, stem, summary, style),
        ),
    ]
    problems = len(report.problems)
    for prefix, render in views:
        try:
            render(folder / f"{prefix}{stem}.png")
        except OSError as error:
            report.problems.append(f"cannot write {folder / prefix}{stem}.png: {error}")
    if len(report.problems) == problems:
        report.written["wavelet"] += 1


def _write(report: Report, kind: str, path: Path, render: Callable[[Path], Path]) -> None:
    """Calls a renderer, counting the file it writes or recording why it could not."""
    try:
        render(path)
    except OSError as error:
        report.problems.append(f"cannot write {path}: {error.strerror or error}")
        return
    except ImageSizeError as error:
        report.problems.append(f"cannot write {path}: {error}")
        return
    report.written[kind] += 1


def _is_output(path: Path, outputs: Path) -> bool:
    """Whether an image is one this stage wrote, so that a rerun does not render heatmaps of them.

    This matters where the output folder lies inside the input folder.
    """
    prefixes = (
        HEATMAP_PREFIX,
        OVERLAY_PREFIX,
        PANEL_PREFIX,
        wavelet_rendering.LAYOUT_PREFIX,
        wavelet_rendering.SCALES_PREFIX,
        wavelet_rendering.SHARES_PREFIX,
    )
    return path.resolve().is_relative_to(outputs.resolve()) and path.name.startswith(prefixes)


def _make_folder(folder: Path) -> None:
    """Creates the output folder, turning failures into one-line errors."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FolderError(
            f"cannot create output folder {folder}: {error.strerror or error}"
        ) from None


def _plan(image_paths: list[Path], inputs: Path, report: Report) -> list[tuple[Path, Path]]:
    """Pairs each input with its folder relative to the input folder.

    Two inputs of the same stem in one folder (``a.png`` and ``a.jpg``) would write the same
    heatmap; the later one is skipped and recorded as a problem.

    Returns:
        (input image, subfolder) pairs, in input order.
    """
    plan: list[tuple[Path, Path]] = []
    claimed: dict[tuple[Path, str], Path] = {}
    for image_path in image_paths:
        subfolder = image_path.parent.relative_to(inputs)
        key = (subfolder, image_path.stem)
        if key in claimed:
            report.problems.append(
                f"skipped {image_path}: its heatmap would overwrite that of {claimed[key]}"
            )
            continue
        claimed[key] = image_path
        plan.append((image_path, subfolder))
    return plan


def _count(number: int, noun: str) -> str:
    """A number with its noun, plural where needed."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
