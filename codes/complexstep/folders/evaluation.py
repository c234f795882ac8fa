"""The evaluation's folder driver: every method's map of every micrograph in a folder, measured.

Micrographs are read as stage 2 reads them (resized to 256x256, or kept at their own resolution and
cropped to the largest size the network takes), optionally a seeded random sample of them. For
each, ``evaluation.evaluate_image`` computes and measures every method's map, and the outputs
folder receives:

- ``metrics.csv``: one row per method and micrograph, with ``method``, ``image`` and the metrics;
- ``curves.csv``: the deletion and insertion curves, one row per method, micrograph, curve and
  fraction;
- ``summary.md``: the mean and standard deviation of every metric per method;
- ``curves.png``: the mean curves of every method, with their spread;
- ``panel_<stem>.png``: each micrograph beside every method's map of it, mirroring subfolders.

The two tables are rewritten, each atomically, whenever the number of micrographs measured
doubles and once at the end, so that an interrupted run keeps at least half of what it measured
while a run of n micrographs writes about 3n rows in all; the summary and the curves' figure are
written at the end.
"""

import csv
import dataclasses
import functools
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.evaluation.measure import (
    METRICS,
    EvaluationSettings,
    MethodResult,
    evaluate_image,
    summarise,
    summary_table,
)
from complexstep.evaluation.methods import AttributionMethods, MethodSettings, check_methods
from complexstep.explain.kinds import baseline_of
from complexstep.folders import loop
from complexstep.folders.loop import FolderReport
from complexstep.io import images
from complexstep.io.names import printable
from complexstep.progress import Progress
from complexstep.rendering.evaluation import (
    CURVES_FILE,
    PANEL_PREFIX,
    curves_figure,
    method_panel_figure,
)
from complexstep.rendering.heatmaps import PANEL_MAXIMUM_DPI

if TYPE_CHECKING:
    import distributed

METRICS_FILE = "metrics.csv"
CURVES_TABLE = "curves.csv"
SUMMARY_FILE = "summary.md"


@dataclasses.dataclass
class EvaluationReport(FolderReport):
    """What ``evaluate_folder`` did: a folder report whose ``written`` are the micrographs
    evaluated, with what was measured.

    Attributes:
        rows: one row per method and micrograph, as ``metrics.csv`` holds them.
        summary: the Markdown table of ``summary.md``; empty if nothing was evaluated.
    """

    rows: list[dict] = dataclasses.field(default_factory=list)
    summary: str = ""


def choose(paths: Sequence[Path], sample: int | None, seed: int) -> list[Path]:
    """All the paths, or a random sample of them drawn with the seed, in their own order.

    Raises:
        SettingError: for a sample below one.
    """
    if sample is not None and sample < 1:
        raise SettingError(f"sample must be at least 1, not {sample}")
    if sample is None or sample >= len(paths):
        return list(paths)
    chosen = np.random.default_rng(seed).choice(len(paths), size=sample, replace=False)
    return [paths[index] for index in sorted(chosen)]


def evaluate_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    methods: AttributionMethods,
    *,
    names: Sequence[str],
    settings: EvaluationSettings = EvaluationSettings(),
    resize: int | None = defaults.IMAGE_SIZE,
    sample: int | None = None,
    on_progress: Progress | None = None,
    reading: dict | None = None,
    shard: loop.Shard | None = None,
    client: "distributed.Client | None" = None,
) -> EvaluationReport:
    """Evaluates every method on every micrograph of a folder and its subfolders.

    Args:
        inputs: the folder of micrographs.
        outputs: the folder to write into.
        methods: the model, layer and method settings.
        names: the methods to evaluate.
        settings: the baseline, the curves' steps and the seed.
        resize: the side micrographs are resized to, or None to keep each at its own resolution,
            cropped from the bottom and right to the largest size the network takes.
        sample: evaluate only this many micrographs, drawn at random with the seed.
        on_progress: called after each method of each micrograph with the maps done, the maps
            to do, the micrograph and the method; on a cluster, after each micrograph, with its
            last method.
        reading: ``micrographs.read_micrograph``'s options (``intensity``, ``crop_bottom``,
            ``pixel_size``, ``max_pixels``); its defaults where None.
        shard: evaluate only the k-th of n disjoint parts of the micrographs (of the sample,
            which is drawn from the whole folder), ``(k, n)``; the tables and figures of the
            folder are then named for it (``loop.shard_name``), so that n runs into one outputs
            folder write none twice, and their ``metrics.csv`` rows together are the whole run's.
        client: a ``distributed.Client`` whose cluster evaluates the micrographs, one task each;
            this process still reads and writes every file. In this process if None. The seconds
            each method takes are measured where it runs.

    Returns:
        What was evaluated, written, cropped and failed. The tables' rows are in the folder's
        order; on a cluster ``written`` is in the order the micrographs came back.

    Raises:
        FolderError: if the input folder is missing or holds no image.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: for an unknown method, a sample below one, or a shard that is not
            ``(k, n)`` with 0 <= k < n.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    names = check_methods(names)
    if resize is not None:
        methods.explainer.check_size(resize, resize)
    reading = dict(reading or {})
    report = EvaluationReport()
    paths = choose(loop.find_micrographs(inputs, outputs, report), sample, settings.seed)

    work = loop.plan(
        inputs,
        outputs,
        lambda path: [_panel_path(inputs, path, outputs)],
        report,
        size_of=loop.sizer(methods.explainer, resize, crop_bottom=reading.get("crop_bottom")),
        noun="panel",
        paths=paths,
        shard=shard,
    )
    if shard is not None:
        paths = [path for path in paths if loop.in_shard(path.relative_to(inputs), shard)]
    order = {item.path: index for index, item in enumerate(work)}
    measured: dict[Path, tuple[str, dict[str, MethodResult]]] = {}
    total, done = len(work) * len(names), 0

    def unread(item: loop.Item) -> None:
        nonlocal done
        done += len(names)

    def on_method(path: Path, method: str) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total, f"{path.name}: {method}")

    def task(chunk: loop.Chunk) -> tuple:
        """What evaluating a chunk's one micrograph takes, after the methods."""
        ((item, micrograph),) = chunk
        return micrograph.pixels, _name(inputs, item.path), names, settings

    chunks = loop.read_chunks(work, 1, resize, report, unread, **reading)
    if client is None:
        warm: set = set()
        results = (
            (
                chunk,
                _evaluate(
                    methods, warm, *task(chunk), functools.partial(on_method, chunk[0][0].path)
                ),
            )
            for chunk in chunks
        )
    else:
        from complexstep.cluster import executor

        layer, method_settings = methods.explainer.layer, methods.settings
        results = executor.run(
            client,
            _evaluate_on_worker,
            chunks,
            lambda chunk: (layer, method_settings, *task(chunk)),
            model=methods.explainer.model,
        )
    for chunk, outcome in results:
        micrograph, path = chunk[0][1], chunk[0][0].path
        if client is not None:
            done += len(names) - 1
            on_method(path, names[-1])
        if isinstance(outcome, str):
            report.failed.append(f"cannot evaluate {path}: {outcome}")
            continue
        report.written.append(path)
        measured[path] = (_name(inputs, path), outcome)
        _write(
            report,
            _panel_path(inputs, path, outputs),
            lambda target: _panel(target, path.stem, micrograph.pixels, outcome),
        )
        # Rewriting the tables after every micrograph would cost the square of their number;
        # rewritten each time the count doubles, they cost about three writings of the whole run.
        if len(measured) & (len(measured) - 1) == 0:
            curves = _write_tables(report, measured, order, names, outputs, shard)
    if measured and len(measured) & (len(measured) - 1):
        curves = _write_tables(report, measured, order, names, outputs, shard)
    if report.rows:
        report.summary = summary_table(summarise(report.rows))
        text = _summary_text(report, settings, methods, len(paths))
        _write(
            report,
            outputs / loop.shard_name(SUMMARY_FILE, shard),
            lambda target: target.write_text(text, encoding="utf-8"),
        )
        _write(
            report,
            outputs / loop.shard_name(CURVES_FILE, shard),
            lambda target: images.save_figure(
                curves_figure(
                    {name: pairs for name, pairs in curves.items() if pairs}, settings.baseline
                ),
                target,
                PANEL_MAXIMUM_DPI,
            ),
        )
    return report


def _name(inputs: Path, path: Path) -> str:
    """A micrograph's name in the tables, which also seeds its random draws; both need UTF-8."""
    return printable(path.relative_to(inputs).as_posix())


def _write_tables(
    report: EvaluationReport,
    measured: dict[Path, tuple[str, dict[str, MethodResult]]],
    order: dict[Path, int],
    names: Sequence[str],
    outputs: Path,
    shard: loop.Shard | None,
) -> dict[str, list]:
    """Writes ``metrics.csv`` and ``curves.csv`` of what was measured so far, each atomically,
    and keeps the rows in the report.

    Returns:
        Each method's curves, in the rows' order.
    """
    # Rows in the folder's order, whatever order a cluster gives them back in.
    report.rows, curves = _tables(
        [measured[path] for path in sorted(measured, key=order.__getitem__)], names
    )
    _write(
        report,
        outputs / loop.shard_name(METRICS_FILE, shard),
        lambda target: _write_metrics(target, report.rows),
    )
    _write(
        report,
        outputs / loop.shard_name(CURVES_TABLE, shard),
        lambda target: _write_curves(target, curves, report),
    )
    return curves


def _tables(
    measured: Sequence[tuple[str, dict[str, MethodResult]]], names: Sequence[str]
) -> tuple[list[dict], dict[str, list]]:
    """The rows of ``metrics.csv`` and each method's curves, from the micrographs' results."""
    rows, curves = [], {name: [] for name in names}
    for name, results in measured:
        for method, result in results.items():
            rows.append({"method": method, "image": name, **result.metrics})
            curves[method].append((result.deletion, result.insertion))
    return rows, curves


def _evaluate(
    methods: AttributionMethods,
    warm: set,
    image: np.ndarray,
    name: str,
    names: Sequence[str],
    settings: EvaluationSettings,
    on_method: Callable[[str], None] | None = None,
) -> dict[str, MethodResult] | str:
    """Every method's result on one micrograph, or why it cannot be evaluated; each method runs
    once, untimed, on the first image of each size (``warm`` holds the sizes done)."""
    if image.shape not in warm:
        _warm_up(methods, image, names, settings)
        warm.add(image.shape)
    try:
        return evaluate_image(methods, image, name, names, settings, on_method)
    except SettingError as error:
        return str(error)


def _evaluate_on_worker(
    data: bytes,
    sha256: str,
    layer: str,
    method_settings: MethodSettings,
    image: np.ndarray,
    name: str,
    names: Sequence[str],
    settings: EvaluationSettings,
) -> dict[str, MethodResult] | str:
    """``_evaluate`` on a Dask worker, with the methods (and the sizes they have warmed up on)
    the worker keeps for the model and settings."""
    from complexstep.cluster import workers

    key = ("evaluation", layer, method_settings)
    with workers.built(
        data,
        sha256,
        key,
        lambda path: (AttributionMethods(path, layer=layer, settings=method_settings), set()),
    ) as (methods, warm):
        return _evaluate(methods, warm, image, name, names, settings)


def _warm_up(methods, image: np.ndarray, names, settings: EvaluationSettings) -> None:
    """Runs every method once on an image of a new size, untimed, so that the seconds measured
    afterwards do not include compiling the passes for that size."""
    baseline = baseline_of(image, settings.baseline, settings.blur_sigma)
    for method in names:
        methods.attribute(method, image, baseline, np.random.default_rng(0))


def _write(report: EvaluationReport, path: Path, write: Callable[[Path], object]) -> None:
    """Writes one output atomically, recording it, or recording why it could not be written."""
    report.write(path, lambda target: images.write_atomically(target, write))


def _panel_path(inputs: Path, path: Path, outputs: Path) -> Path:
    """Where the panel of the micrograph at ``path`` goes, mirroring its subfolder."""
    return outputs / path.parent.relative_to(inputs) / f"{PANEL_PREFIX}{path.stem}.png"


def _panel(target: Path, stem: str, image: np.ndarray, results: dict[str, MethodResult]) -> None:
    maps = {method: result.attribution for method, result in results.items()}
    images.save_figure(method_panel_figure(stem, image, maps), target, PANEL_MAXIMUM_DPI)


def _write_metrics(target: Path, rows: list[dict]) -> None:
    with open(target, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["method", "image", *METRICS])
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _number(value) for key, value in row.items()})


def _write_curves(target: Path, curves: dict[str, list], report: EvaluationReport) -> None:
    images_of = {}
    for row in report.rows:
        images_of.setdefault(row["method"], []).append(row["image"])
    with open(target, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["method", "image", "curve", "fraction", "shift"])
        for method, pairs in curves.items():
            for image, pair in zip(images_of.get(method, []), pairs, strict=True):
                for kind, curve in zip(("deletion", "insertion"), pair, strict=True):
                    for fraction, shift in zip(curve.fractions, curve.shifts, strict=True):
                        writer.writerow([method, image, kind, _number(fraction), _number(shift)])


def _summary_text(
    report: EvaluationReport,
    settings: EvaluationSettings,
    methods: AttributionMethods,
    chosen: int,
) -> str:
    """``summary.md``: what was measured, how, and the table."""
    buffer = io.StringIO()
    buffer.write("# Faithfulness of the attribution maps\n\n")
    buffer.write(
        f"{len(report.written)} of {chosen} micrograph(s) evaluated; layer "
        f"`{methods.explainer.layer}`; baseline `{settings.baseline}`"
        + (
            f" (Gaussian blur, sigma {settings.blur_sigma:g} px)"
            if settings.baseline == "blur"
            else ""
        )
        + f"; {settings.steps} steps per curve; seed {settings.seed}. Each cell is the mean ± "
        "standard deviation over the micrographs; ↑ higher is better, ↓ lower is better.\n\n"
    )
    buffer.write(report.summary + "\n")
    return buffer.getvalue()


def _number(value):
    """Numbers as CSV text with 6 significant digits; other values as they are."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return value
