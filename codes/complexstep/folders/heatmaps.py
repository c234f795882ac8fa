"""Stage 3's folder driver: every attribution map in a folder rendered as heatmaps.

``render_folder`` renders each map of a folder and its subfolders with ``rendering``, and each
wavelet map with ``wavelet_rendering``, mirroring them under the output folder, each file
atomically, and records, rather than stops at, maps that cannot be read or views that cannot be
written:

- an image ``<inputs>/<sub>/<stem>.png`` (or any image suffix) becomes
  ``<outputs>/<sub>/smp_cpa_<stem>.jpeg``, and, where asked for, ``overlay_cpa_<stem>.jpeg`` and
  ``panel_<stem>.png`` beside it;
- a wavelet map ``<inputs>/<sub>/<stem>.wavelet.npy`` becomes ``wavelet_<stem>.png`` (its
  layout), ``scales_<stem>.png`` (a map per level, over the micrograph where it is found) and
  ``shares_<stem>.png`` (the shares of levels and orientations) in ``<outputs>/<sub>``.

The folders are searched as every stage searches them (``loop.find_micrographs``): links to
folders, links to nothing and special files are skipped and noted. Where the output folder lies
inside the input folder, it is not searched, and files this stage wrote are never inputs.

Each map is coloured as suits its kind, which its sidecar (``<stem>.json``, which stage 2 writes)
names: the style's limits left None are the kind's (``defaults.KIND_COLOUR_LIMITS``), and a map
without sidecar is the paper's. Heatmaps, overlays and panels get a scale bar where the sidecar
gives the pixel size, or else ``render_folder``'s ``pixel_size`` does. With ``style.scale``
"folder", the maps of each kind are scaled by one range, the least and greatest raw value of all
maps of that kind in the run, so that one colour is one raw value in every heatmap of a kind;
kinds are never pooled, as their values measure different things.
"""

import collections
import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from complexstep import defaults
from complexstep.engines.wavelet_basis import WaveletBasis
from complexstep.errors import FolderError, ImageSizeError, SettingError, UnreadableImageError
from complexstep.folders import loop
from complexstep.folders.loop import FolderReport
from complexstep.io import maps as map_files
from complexstep.io import provenance
from complexstep.io.images import IMAGE_SUFFIXES, save_figure
from complexstep.io.micrographs import read_micrograph, resize
from complexstep.progress import Progress
from complexstep.rendering import wavelets as wavelet_rendering
from complexstep.rendering.heatmaps import (
    CROP_MARGIN,
    HEATMAP_PREFIX,
    OVERLAY_PREFIX,
    PANEL_MAXIMUM_DPI,
    PANEL_PREFIX,
    HeatmapStyle,
    folder_range,
    heatmap_figure,
    heatmap_values,
    middle_slices,
    overlay_figure,
    panel_figure,
)

# What stage 3 reads: stage 2's grey images (with the lossless .npy beside each) and wavelet maps.
MAP_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")

VIEW_PREFIXES = {"heatmap": HEATMAP_PREFIX, "overlay": OVERLAY_PREFIX, "panel": PANEL_PREFIX}
"""The prefix of the files of each view ``written_counts`` counts."""


def written_counts(report: FolderReport) -> collections.Counter:
    """How many files of each view ("heatmap", "overlay", "panel") a run wrote, and how many
    wavelet maps ("wavelet") it drew whole, as layout, scales and shares."""
    counts = collections.Counter()
    for path in report.outputs:
        for view, prefix in VIEW_PREFIXES.items():
            if path.name.startswith(prefix):
                counts[view] += 1
    wavelets = sum(path.name.endswith(map_files.WAVELET_SUFFIX) for path in report.written)
    if wavelets:
        counts["wavelet"] = wavelets
    return counts


def render_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    style: HeatmapStyle,
    overlay: bool = False,
    panel: bool = False,
    micrographs: str | os.PathLike = defaults.CONTOUR_INPUTS,
    on_progress: Progress | None = None,
    wavelet_style: wavelet_rendering.WaveletStyle | None = None,
    pixel_size: float | None = None,
    model: str | os.PathLike | None = None,
) -> FolderReport:
    """Renders every attribution image and wavelet map in a folder and its subfolders.

    Args:
        inputs, outputs: the folder of maps, and the folder to write into, created where missing.
        style: how maps are smoothed and coloured.
        overlay, panel: whether to write each heatmap over its micrograph, and a panel of its views.
        micrographs: the folder, searched with its subfolders, of the micrographs the maps were
            computed from, matched by stem; read only for overlays and panels.
        on_progress: called with the maps done and the maps in all, after each map.
        wavelet_style: how wavelet maps are drawn; None for the defaults.
        pixel_size: the side of a map pixel in µm, for maps whose sidecar gives none; None
            draws no scale bar on those.
        model: the model the maps should come from: a map whose sidecar names another (by its
            SHA-256) is noted, and still drawn. A run's maps of several models or kinds are noted.

    Returns:
        What was written (``outputs``; ``written``, the wavelet maps drawn whole), ``notes`` and
        ``failed``, one line each.

    Raises:
        FolderError: if the input folder is missing, holds no file stage 3 reads or none but
            earlier outputs, the micrograph folder (where needed) holds no image, or the output
            folder cannot be created.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    report = FolderReport()
    image_paths, wavelet_paths = _find_maps(inputs, outputs, report)
    index = _micrographs_for(Path(micrographs), outputs, report, overlay or panel, wavelet_paths)
    loop.make_folder(outputs)
    loop.remove_stale_partials(outputs, report)
    plan = _plan(image_paths, inputs, report)
    views = _views_of(plan, style, pixel_size, inputs, model, report)
    asked = _Asked(outputs, index, overlay, panel)
    # Not ``runner.run``: what this stage computes of a map is its drawing, which ``save_figure``
    # writes as it draws, in this process alone; and every map, even one that cannot be read, is
    # counted as it is done, with no detail, its lines in the order they are drawn.
    total = len(plan) + len(wavelet_paths)
    for done, (image_path, subfolder) in enumerate(plan, start=1):
        if image_path in views:
            _render_views(image_path, subfolder, views[image_path], asked, report)
        if on_progress is not None:
            on_progress(done, total)
    wavelet_style = wavelet_style or wavelet_rendering.WaveletStyle()
    for done, path in enumerate(wavelet_paths, start=len(plan) + 1):
        _render_wavelet_views(path, path.parent.relative_to(inputs), wavelet_style, asked, report)
        if on_progress is not None:
            on_progress(done, total)
    return report


def _find_maps(inputs: Path, outputs: Path, report: FolderReport) -> tuple[list[Path], list[Path]]:
    """The attribution images of a folder and its subfolders that are not this stage's outputs,
    and its wavelet maps.

    Raises:
        FolderError: if the folder is missing, or holds neither but earlier outputs.
    """
    found = loop.find_micrographs(inputs, outputs, report, suffixes=MAP_SUFFIXES)
    wavelet_paths = [
        path
        for path in found
        if path.name.endswith(map_files.WAVELET_SUFFIX) and not map_files.is_pixel_map(path)
    ]
    image_paths = [
        path
        for path in found
        if path.suffix.lower() in IMAGE_SUFFIXES and not _is_output(path, outputs)
    ]
    if not image_paths and not wavelet_paths:
        raise FolderError(f"no attribution images in {inputs} other than earlier heatmaps")
    return image_paths, wavelet_paths


def _micrographs_for(
    folder: Path, outputs: Path, report: FolderReport, needed: bool, wavelet_paths: list[Path]
) -> "Micrographs | None":
    """The micrographs the views need: for overlays and panels, which fail without them, and for
    wavelet maps' per-scale maps, which are drawn over them where there are any and alone
    otherwise."""
    if needed:
        return Micrographs.of(folder, outputs, report)
    if not wavelet_paths:
        return None
    try:
        return Micrographs.of(folder, outputs, report)
    except FolderError:
        return None


@dataclasses.dataclass(frozen=True)
class _Views:
    """How one map is drawn: the style for its kind, its kind's range, its pixel size."""

    style: HeatmapStyle
    value_range: tuple[float, float] | None
    pixel_size: float | None
    axes: int = 2


@dataclasses.dataclass(frozen=True)
class _Asked:
    """What a run draws and where: the output folder, the micrographs (None where none are
    read), and whether overlays and panels are asked for."""

    outputs: Path
    micrographs: "Micrographs | None"
    overlay: bool = False
    panel: bool = False


def _views_of(
    plan: list[tuple[Path, Path]],
    style: HeatmapStyle,
    pixel_size: float | None,
    inputs: Path,
    model: str | os.PathLike | None,
    report: FolderReport,
) -> dict[Path, _Views]:
    """How each map that can be drawn is drawn, by its sidecar: in its kind's style and range,
    at its pixel size (else ``pixel_size``), in its axes. Sidecars that cannot be read are
    recorded, the maps' models and kinds noted, and, with ``style.scale`` "folder", each kind's
    range."""
    sidecars = _sidecars(plan, report)
    kinds = {path: sidecar.get("kind", defaults.MAP_KIND) for path, sidecar in sidecars.items()}
    _note_provenance(sidecars, inputs, model, report)
    ranges = _folder_ranges(plan, kinds, sidecars, report) if style.scale == "folder" else {}
    return {
        path: _Views(
            dataclasses.replace(style, kind=kinds[path]),
            ranges.get(kinds[path]),
            _pixel_size(sidecar, pixel_size),
            _axes(sidecar),
        )
        for path, sidecar in sidecars.items()
    }


def _sidecars(plan: list[tuple[Path, Path]], report: FolderReport) -> dict[Path, dict]:
    """The sidecar of each map that can be drawn, empty where there is none; a sidecar that
    cannot be read, or names a kind this stage does not know, is recorded as a failure and its
    map left out."""
    sidecars = {}
    for image_path, _ in plan:
        try:
            sidecar = provenance.read_sidecar(image_path)
        except UnreadableImageError as error:
            report.failed.append(f"skipped {image_path}: {error}")
            continue
        kind = sidecar.get("kind", defaults.MAP_KIND)
        if kind in defaults.MAP_KINDS:
            sidecars[image_path] = sidecar
        else:
            report.failed.append(
                f"skipped {image_path}: its sidecar names the map kind {kind!r}, not one of "
                f"{', '.join(defaults.MAP_KINDS)}"
            )
    return sidecars


def _note_provenance(
    sidecars: dict[Path, dict],
    inputs: Path,
    model: str | os.PathLike | None,
    report: FolderReport,
) -> None:
    """Notes maps made by another model than ``model``, and a run whose maps come from several
    models or are of several kinds, one line each."""
    expected = None if model is None else provenance.sha256(model)
    models: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    for image_path, sidecar in sidecars.items():
        kinds[sidecar.get("kind", defaults.MAP_KIND)] += 1
        digest = sidecar.get("model_sha256")
        if digest is None:
            continue
        models[digest] += 1
        if expected is not None and digest != expected:
            report.notes.append(
                f"{image_path}: made by another model than {model} (its sidecar names "
                f"{sidecar.get('model')}, SHA-256 {digest[:12]}, not {expected[:12]}); drawn all "
                "the same"
            )
    if len(models) > 1:
        listed = ", ".join(f"{digest[:12]} ({count})" for digest, count in models.most_common())
        report.notes.append(
            f"the maps in {inputs} come from {len(models)} models, by the SHA-256 their sidecars "
            f"name: {listed}"
        )
    if len(kinds) > 1:
        listed = ", ".join(f"{kind} ({count})" for kind, count in sorted(kinds.items()))
        report.notes.append(
            f"the maps in {inputs} are of {len(kinds)} kinds: {listed}; each is coloured as its "
            "kind is"
        )


def _axes(sidecar: dict) -> int:
    """The axes of a map by its sidecar: 3 for a volume's, 2 for any other."""
    return len(sidecar.get("size_explained") or (0, 0))


def _folder_ranges(
    plan: list[tuple[Path, Path]],
    kinds: dict[Path, str],
    sidecars: dict[Path, dict],
    report: FolderReport,
) -> dict[str, tuple[float, float]]:
    """The least and greatest raw value of the readable maps of each kind, noted; maps that
    cannot be read are reported when they are rendered."""
    readable: dict[str, list[np.ndarray]] = {}
    for image_path, _ in plan:
        if image_path not in kinds:
            continue
        try:
            readable.setdefault(kinds[image_path], []).append(
                map_files.load_attribution(image_path, _axes(sidecars[image_path]))
            )
        except UnreadableImageError:
            continue
    ranges = {}
    for kind, maps in readable.items():
        low, high = ranges[kind] = folder_range(maps)
        which = f" of kind {kind}" if len(readable) > 1 else ""
        report.notes.append(
            f"coloured {loop.counted(len(maps), 'map')}{which} on one range of raw values, "
            f"{low:.6g} to {high:.6g}"
        )
    return ranges


def micrograph_on_grid(path: Path, map_path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The micrograph at ``path`` on the grid of the map at ``map_path``, read as the map's
    sidecar says stage 2 read it: with its intensity scaling, its data bar's rows cut, resized to
    its side or cropped to the size explained, so that pixel ``(y, x)`` of each is one place.

    A map without sidecar (from an earlier version, or made by hand) takes the micrograph read
    with the defaults, cropped where the map is it less at most ``CROP_MARGIN - 1`` rows and
    columns, or resized where the map is stage 2's default square.

    Raises:
        UnreadableImageError: if the micrograph or the sidecar cannot be read.
        SettingError: if the sidecar's reading settings do not fit the micrograph.
        ImageSizeError: if the micrograph is not the size the sidecar says was read, or the map
            is not the size it says was explained, or, without sidecar, neither fits the other:
            a map is never stretched onto a micrograph it was not made from.
    """
    sidecar = provenance.read_sidecar(map_path)
    shape = tuple(shape)
    if not sidecar:
        pixels = read_micrograph(path).pixels
        excess = np.subtract(pixels.shape, shape)
        if np.all((excess >= 0) & (excess < CROP_MARGIN)):
            return pixels[: shape[0], : shape[1]]
        if shape == (defaults.IMAGE_SIZE, defaults.IMAGE_SIZE):
            return resize(pixels, defaults.IMAGE_SIZE)
        raise ImageSizeError(
            f"{map_path} is {_size(shape)}, which {path} ({_size(pixels.shape)}) gives neither "
            f"cropped nor resized to {defaults.IMAGE_SIZE}, and no sidecar says how it was read"
        )
    micrograph = read_micrograph(path, **_reading_of(sidecar))
    read = sidecar.get("size_read")
    if read is not None and tuple(read) != micrograph.size_read:
        raise ImageSizeError(
            f"{path} is {_size(micrograph.size_read)}, not the {_size(read)} the sidecar of "
            f"{map_path} says was read: it is not the micrograph the map was made from"
        )
    if sidecar.get("resize") is not None:
        micrograph = micrograph.resized(sidecar["resize"])
    explained = tuple(sidecar.get("size_explained", shape))
    if explained != shape or any(np.subtract(micrograph.pixels.shape, explained) < 0):
        raise ImageSizeError(
            f"{map_path} is {_size(shape)}, but its sidecar says {_size(explained)} of "
            f"{path} ({_size(micrograph.pixels.shape)} as read) was explained"
        )
    return micrograph.pixels[: shape[0], : shape[1]]


def _reading_of(sidecar: dict) -> dict:
    """``read_micrograph``'s options for reading a micrograph as a map's sidecar says stage 2
    read it."""
    reading = {}
    if sidecar.get("intensity") in defaults.INTENSITIES:
        reading["intensity"] = sidecar["intensity"]
    rows = sidecar.get("data_bar_rows")
    # A bar cut by hand, or none cut, is cut again as such; one the metadata or the pixels gave
    # is found again the same way.
    if sidecar.get("data_bar_source") in ("crop_bottom", None) and isinstance(rows, int):
        reading["crop_bottom"] = rows
    if isinstance(sidecar.get("page"), int):
        reading["page"] = sidecar["page"]
    if isinstance(sidecar.get("channel"), int):
        reading["channel"] = sidecar["channel"]
    return reading


def _micrograph_stem(map_path: Path) -> str:
    """The stem of the micrograph a map explains: its own, less the ``_c<k>`` of one input
    channel's map and the ``_p<k>`` of a page of a multi-page file that its sidecar names."""
    sidecar = provenance.read_sidecar(map_path)
    stem = map_path.stem
    for key, prefix in (("input_channel", "_c"), ("page", "_p")):
        number = sidecar.get(key)
        suffix = f"{prefix}{number}"
        if isinstance(number, int) and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _size(shape) -> str:
    """A shape as the messages write it: ``270x270``."""
    return "x".join(str(side) for side in shape)


def _pixel_size(sidecar: dict, fallback: float | None) -> float | None:
    """A map's pixel size in µm: its sidecar's, else the one given."""
    given = sidecar.get("pixel_size_um")
    if isinstance(given, int | float) and math.isfinite(given) and given > 0:
        return float(given)
    return fallback


@dataclasses.dataclass(frozen=True)
class Micrographs:
    """The micrographs of a folder and its subfolders, by stem.

    Attributes:
        folder: the folder searched.
        by_stem: the micrograph paths of each stem, in the folder's order.
        what: what the images are, for notes: "micrograph", or "label image".
    """

    folder: Path
    by_stem: dict[str, list[Path]]
    what: str = "micrograph"

    @classmethod
    def of(
        cls,
        folder: Path,
        outputs: Path | None = None,
        report: FolderReport | None = None,
        what: str = "micrograph",
    ) -> "Micrographs":
        """Lists the micrographs, or other images named after them, of a folder, without the
        outputs folder (where given); links and special files skipped are noted in the report
        (where given).

        Raises:
            FolderError: if the folder does not exist or holds no image.
        """
        by_stem: dict[str, list[Path]] = {}
        report = FolderReport() if report is None else report
        for path in loop.find_micrographs(folder, outputs or folder, report):
            by_stem.setdefault(path.stem, []).append(path)
        return cls(folder, by_stem, what)

    def read_for(
        self,
        named: Path,
        subfolder: Path,
        report: FolderReport,
        map_path: Path,
        shape: tuple[int, int],
    ) -> np.ndarray | None:
        """Reads the micrograph a map was computed from, on the map's grid, or records why not.

        Micrographs are found by ``path_for`` and placed by ``micrograph_on_grid``; one that
        cannot be decoded, or that does not give the map's grid, is a problem.

        Args:
            named: the path whose stem names the micrograph: the map's, less ``.wavelet``.
            subfolder: the map's folder relative to the input folder.
            report: where a missing, ambiguous or unreadable micrograph is recorded.
            map_path: the map, whose sidecar says how its micrograph was read.
            shape: the map's (height, width).

        Returns:
            The grey micrograph of the map's shape, or None.
        """
        path = self.path_for(named, subfolder, report)
        if path is None:
            return None
        try:
            return micrograph_on_grid(path, map_path, shape)
        except (UnreadableImageError, SettingError, ImageSizeError) as error:
            report.failed.append(str(error))
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
        candidates = self.by_stem.get(image_path.stem) or self.by_stem.get(
            _micrograph_stem(image_path), []
        )
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
    image_path: Path, subfolder: Path, views: _Views, asked: _Asked, report: FolderReport
) -> None:
    """Writes the heatmap of one attribution image, and its overlay and panel where asked for.

    Args:
        image_path: the attribution image.
        subfolder: its folder relative to the input folder, mirrored under the output folder.
        views: how the map is smoothed, scaled and coloured, its pixel size and its axes.
        asked: the output folder, the micrographs, and the views asked for.
        report: where what was written and what went wrong are recorded.
    """
    try:
        attribution = map_files.load_attribution(image_path, views.axes)
    except UnreadableImageError as error:
        report.failed.append(str(error))
        return
    values, was_constant = heatmap_values(attribution, views.style.sigma, views.value_range)
    if was_constant:
        report.notes.append(f"{image_path}: the map is constant, so it is rendered in one colour")
    if views.axes == 3:
        _render_volume(image_path, subfolder, values, views.style, asked, report)
    else:
        _render_flat(image_path, subfolder, (attribution, values), views, asked, report)


def _render_volume(
    image_path: Path,
    subfolder: Path,
    values: np.ndarray,
    style: HeatmapStyle,
    asked: _Asked,
    report: FolderReport,
) -> None:
    """Writes the heatmap of a volume's map, smoothed in 3-D, as its three middle slices: its
    slices' spacing is not known, so no bar, and no micrograph is a page of it to lay it over."""
    others = "; overlays and panels are drawn for 2-D maps alone"
    report.notes.append(
        f"{image_path}: a volume's map, drawn as its middle slices across depth, height and "
        "width, with no scale bar" + (others if asked.overlay or asked.panel else "")
    )
    _write(
        report,
        asked.outputs / subfolder / f"{HEATMAP_PREFIX}{image_path.stem}.jpeg",
        lambda path: save_figure(
            heatmap_figure(middle_slices(values, 0.0), style), path, style.dpi
        ),
    )


def _render_flat(
    image_path: Path,
    subfolder: Path,
    maps: tuple[np.ndarray, np.ndarray],
    views: _Views,
    asked: _Asked,
    report: FolderReport,
) -> None:
    """Writes the heatmap of a 2-D map, and its overlay and panel where asked for, with its
    micrograph where it is found; ``maps`` are the map as read and as ``heatmap_values`` gives it
    to colour, and the rest as ``_render_views`` takes them."""
    attribution, values = maps
    micrograph = None
    if asked.micrographs is not None:
        micrograph = asked.micrographs.read_for(
            image_path, subfolder, report, image_path, attribution.shape
        )
    stem, folder = image_path.stem, asked.outputs / subfolder
    style, pixel_size = views.style, views.pixel_size
    _write(
        report,
        folder / f"{HEATMAP_PREFIX}{stem}.jpeg",
        lambda path: save_figure(heatmap_figure(values, style, pixel_size), path, style.dpi),
    )
    if asked.overlay and micrograph is not None:
        _write(
            report,
            folder / f"{OVERLAY_PREFIX}{stem}.jpeg",
            lambda path: save_figure(
                overlay_figure(values, micrograph, style, pixel_size), path, style.dpi
            ),
        )
    if asked.panel:
        _write(
            report,
            folder / f"{PANEL_PREFIX}{stem}.png",
            lambda path: save_figure(
                panel_figure(stem, attribution, values, style, micrograph, pixel_size),
                path,
                min(style.dpi, PANEL_MAXIMUM_DPI),
            ),
        )


def _render_wavelet_views(
    path: Path,
    subfolder: Path,
    style: wavelet_rendering.WaveletStyle,
    asked: _Asked,
    report: FolderReport,
) -> None:
    """Writes the layout, per-scale maps and shares of one wavelet map, recorded as written
    where all three are.

    Args:
        path: the wavelet map, ``<stem>.wavelet.npy``.
        subfolder: its folder relative to the input folder, mirrored under the output folder.
        style: how wavelet maps are drawn.
        asked: the output folder, and the micrographs, or None where there are none to draw the
            scales over.
        report: where what was written and what went wrong are recorded.
    """
    stem = map_files.stem_of(path)
    folder = asked.outputs / subfolder
    try:
        values, basis, summary = map_files.load_wavelet_map(path, WaveletBasis)
    except UnreadableImageError as error:
        report.failed.append(str(error))
        return
    micrograph = None
    if asked.micrographs is not None:
        micrograph = asked.micrographs.read_for(
            path.with_name(f"{stem}.wavelet"), subfolder, report, path, basis.shape
        )
    views = [
        (
            wavelet_rendering.LAYOUT_PREFIX,
            lambda: wavelet_rendering.layout_figure(stem, values, basis, style),
        ),
        (
            wavelet_rendering.SCALES_PREFIX,
            lambda: wavelet_rendering.scales_figure(stem, values, basis, style, micrograph),
        ),
        (
            wavelet_rendering.SHARES_PREFIX,
            lambda: wavelet_rendering.shares_figure(stem, summary, style),
        ),
    ]
    failed = len(report.failed)
    for prefix, draw in views:
        target = folder / f"{prefix}{stem}.png"
        try:
            save_figure(draw(), target, style.dpi)
        except OSError as error:
            report.failed.append(f"cannot write {target}: {error}")
        else:
            report.record(target)
    if len(report.failed) == failed:
        report.written.append(path)


def _write(report: FolderReport, path: Path, render: Callable[[Path], Path]) -> None:
    """Calls a renderer, recording the file it writes or why it could not."""
    try:
        render(path)
    except OSError as error:
        report.failed.append(f"cannot write {path}: {error.strerror or error}")
        return
    except ImageSizeError as error:
        report.failed.append(f"cannot write {path}: {error}")
        return
    report.record(path)


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


def _plan(image_paths: list[Path], inputs: Path, report: FolderReport) -> list[tuple[Path, Path]]:
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
            report.failed.append(
                f"skipped {image_path}: its heatmap would overwrite that of {claimed[key]}"
            )
            continue
        claimed[key] = image_path
        plan.append((image_path, subfolder))
    return plan
