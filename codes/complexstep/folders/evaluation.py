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
from complexstep.folders import loop, runner
from complexstep.folders.loop import FolderReport
from complexstep.io import images
from complexstep.io.names import printable
from complexstep.progress import Progress, Tally
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
        inputs, outputs: the folder of micrographs and the folder to write into.
        methods: the model, layer and method settings.
        names: the methods to evaluate.
        settings: the baseline, the curves' steps and the seed.
        sample: evaluate only this many micrographs, drawn at random with the seed.
        shard: evaluate only the k-th of n disjoint parts of the micrographs (of the sample,
            which is drawn from the whole folder), ``(k, n)``; the tables and figures of the
            folder are then named for it (``loop.shard_name``), so that n runs into one outputs
            folder write none twice, and their ``metrics.csv`` rows together are the whole run's.
        resize, on_progress, reading, client: as every folder driver takes them (see
            ``folders.runner``); progress is counted in maps, with the micrograph and method,
            and on a cluster after each micrograph, where the methods are timed.

    Returns:
        What was evaluated, written, cropped and failed; the rows in the folder's order.

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
    size_of = loop.sizer(methods.explainer, resize, crop_bottom=reading.get("crop_bottom"))
    panels = functools.partial(_panel_paths, inputs, outputs)
    work = loop.plan(
        inputs, outputs, panels, report, size_of=size_of, noun="panel", paths=paths, shard=shard
    )
    if shard is not None:
        paths = [path for path in paths if loop.in_shard(path.relative_to(inputs), shard)]
    tables = _Tables(report, inputs, outputs, names, shard, [item.path for item in work])
    step = _evaluating(inputs, methods, names, settings)
    tally = Tally(step.total(work), on_progress)
    read = loop.reader(resize, reading)
    runner.run(work, step, report, read=read, write=tables.write, tally=tally, client=client)
    tables.finish(settings, methods, len(paths))
    return report


@dataclasses.dataclass(frozen=True)
class EvaluationTask:
    """What evaluating one micrograph needs beside it, as it travels to a Dask worker."""

    layer: str
    methods: MethodSettings
    names: tuple[str, ...]
    settings: EvaluationSettings


def _evaluating(
    inputs: Path, methods: AttributionMethods, names: Sequence[str], settings: EvaluationSettings
) -> runner.Step:
    """Evaluating one micrograph a chunk, counted in maps: in this process, where nothing else
    runs beside it while its seconds are measured, or on a cluster."""
    warm: set = set()

    def compute(chunk: runner.Chunk, add) -> list[dict[str, MethodResult] | str]:
        ((item, micrograph),) = chunk
        name = _name(inputs, item.path)
        heard = functools.partial(_heard, add, item.path.name)
        return [_evaluate(methods, warm, micrograph.pixels, name, names, settings, heard)]

    return runner.Step(
        compute=compute,
        worker=_evaluate_on_worker,
        settings=EvaluationTask(methods.explainer.layer, methods.settings, tuple(names), settings),
        model=methods.explainer.model,
        payload=lambda chunk: (chunk[0][1].pixels, _name(inputs, chunk[0][0].path)),
        cost=lambda item: len(names),
        overlap=False,
    )


def _heard(add, micrograph: str, done: int, total: int, method: str) -> None:
    """Counts one map done, naming its micrograph and method."""
    add(1, f"{micrograph}: {method}")


class _Tables:
    """What the evaluation writes: each micrograph's panel, and the folder's tables and figures
    of what was measured so far.

    ``metrics.csv`` and ``curves.csv`` are rewritten, each atomically, whenever the number of
    micrographs measured doubles and once at the end: rewritten after every micrograph they would
    cost the square of their number; so, about three writings of the whole run.

    Args:
        report: the run's report, whose ``rows`` they are.
        inputs: the folder of micrographs, which their names are relative to.
        outputs: the folder they go in.
        names: the methods evaluated.
        shard: the run's shard, which names them.
        order: the micrographs planned, in the folder's order, which the rows keep whatever
            order a cluster gives them back in.
    """

    def __init__(self, report, inputs: Path, outputs: Path, names, shard, order: Sequence[Path]):
        self.report, self.inputs, self.outputs = report, inputs, outputs
        self.names, self.shard = names, shard
        self.order = {path: index for index, path in enumerate(order)}
        self.measured: dict[Path, tuple[str, dict[str, MethodResult]]] = {}
        self.curves: dict[str, list] = {}

    def write(self, item: loop.Item, micrograph, outcome: dict[str, MethodResult] | str) -> bool:
        """Keeps one micrograph's results and writes its panel, and the tables when their count
        doubles; records a micrograph that could not be evaluated."""
        if isinstance(outcome, str):
            self.report.failed.append(f"cannot evaluate {item.path}: {outcome}")
            return False
        self.measured[item.path] = (_name(self.inputs, item.path), outcome)
        panel = functools.partial(
            _panel, results=outcome, stem=item.path.stem, image=micrograph.pixels
        )
        _write(self.report, _panel_path(self.inputs, item.path, self.outputs), panel)
        if len(self.measured) & (len(self.measured) - 1) == 0:
            self._write_tables()
        return True

    def finish(
        self, settings: EvaluationSettings, methods: AttributionMethods, chosen: int
    ) -> None:
        """Writes the tables of every result, the summary and the curves' figure."""
        report, measured = self.report, self.measured
        if measured and len(measured) & (len(measured) - 1):
            self._write_tables()
        if not report.rows:
            return
        report.summary = summary_table(summarise(report.rows))
        text = _summary_text(report, settings, methods, chosen)
        _write(
            report,
            self.outputs / loop.shard_name(SUMMARY_FILE, self.shard),
            lambda target: target.write_text(text, encoding="utf-8"),
        )
        curves = {name: pairs for name, pairs in self.curves.items() if pairs}
        _write(
            report,
            self.outputs / loop.shard_name(CURVES_FILE, self.shard),
            lambda target: images.save_figure(
                curves_figure(curves, settings.baseline), target, PANEL_MAXIMUM_DPI
            ),
        )

    def _write_tables(self) -> None:
        """Writes ``metrics.csv`` and ``curves.csv`` of what was measured so far, each
        atomically, and keeps the rows in the report and each method's curves."""
        report, outputs, shard = self.report, self.outputs, self.shard
        ordered = sorted(self.measured, key=self.order.__getitem__)
        report.rows, self.curves = _tables([self.measured[path] for path in ordered], self.names)
        _write(
            report,
            outputs / loop.shard_name(METRICS_FILE, shard),
            lambda target: _write_metrics(target, report.rows),
        )
        _write(
            report,
            outputs / loop.shard_name(CURVES_TABLE, shard),
            lambda target: _write_curves(target, self.curves, report),
        )


def _name(inputs: Path, path: Path) -> str:
    """A micrograph's name in the tables, which also seeds its random draws; both need UTF-8."""
    return printable(path.relative_to(inputs).as_posix())


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
    on_progress: Progress | None = None,
) -> dict[str, MethodResult] | str:
    """Every method's result on one micrograph, or why it cannot be evaluated; each method runs
    once, untimed, on the first image of each size (``warm`` holds the sizes done)."""
    if image.shape not in warm:
        _warm_up(methods, image, names, settings)
        warm.add(image.shape)
    try:
        return evaluate_image(methods, image, name, names, settings, on_progress)
    except SettingError as error:
        return str(error)


def _evaluate_on_worker(
    data: bytes, sha256: str, task: EvaluationTask, image: np.ndarray, name: str
) -> list[dict[str, MethodResult] | str]:
    """``_evaluate`` on a Dask worker, with the methods (and the sizes they have warmed up on)
    the worker keeps for the model and settings."""
    from complexstep.cluster import workers

    key = ("evaluation", task.layer, task.methods)
    with workers.built(
        data,
        sha256,
        key,
        lambda path: (AttributionMethods(path, layer=task.layer, settings=task.methods), set()),
    ) as (methods, warm):
        return [_evaluate(methods, warm, image, name, task.names, task.settings)]


def _warm_up(methods, image: np.ndarray, names, settings: EvaluationSettings) -> None:
    """Runs every method once on an image of a new size, untimed, so that the seconds measured
    afterwards do not include compiling the passes for that size."""
    baseline = baseline_of(image, settings.baseline, settings.blur_sigma)
    for method in names:
        methods.attribute(method, image, baseline, np.random.default_rng(0))


def _write(report: EvaluationReport, path: Path, write: Callable[[Path], object]) -> None:
    """Writes one output atomically, recording it, or recording why it could not be written."""
    report.write(path, lambda target: images.write_atomically(target, write))


def _panel_paths(inputs: Path, outputs: Path, path: Path) -> list[Path]:
    """The panel of the micrograph at ``path``, as ``loop.plan`` takes a micrograph's files."""
    return [_panel_path(inputs, path, outputs)]


def _panel_path(inputs: Path, path: Path, outputs: Path) -> Path:
    """Where the panel of the micrograph at ``path`` goes, mirroring its subfolder."""
    return outputs / path.parent.relative_to(inputs) / f"{PANEL_PREFIX}{path.stem}.png"


def _panel(target: Path, *, results: dict[str, MethodResult], stem: str, image: np.ndarray) -> None:
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
            if settings.baseline == defaults.BLUR_BASELINE
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
