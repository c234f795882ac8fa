"""The evaluation of one micrograph: every method's map, measured by every faithfulness metric.

For each method of ``evaluation_methods`` and one image, ``evaluate_image`` computes the map and
measures it with ``faithfulness``: the areas under the deletion and insertion curves, the
representation shift after deleting 5, 10, 20 and 50 % of the pixels, the two local-fidelity errors,
the stability and the seconds the map took. ``summarise`` gives the mean and spread of each metric
per method over many images.

Randomness (the pixels and noise of the fidelity probes, the noise of SmoothGrad, random maps and
the stability test) comes from generators seeded by the seed, the image's name and the method's,
so that a result does not depend on which other methods or images were evaluated with it.
"""

import dataclasses
import math
import time
import zlib
from collections.abc import Sequence

import numpy as np

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.evaluation import faithfulness
from complexstep.evaluation.methods import AttributionMethods, check_methods
from complexstep.explain import kinds
from complexstep.explain.kinds import baseline_of
from complexstep.progress import Progress

SHIFT_NAMES = tuple(f"shift_{round(100 * fraction)}" for fraction in defaults.SHIFT_FRACTIONS)

METRICS = (
    "deletion_auc",
    "insertion_auc",
    *SHIFT_NAMES,
    "step_error",
    "noise_error",
    "sensitivity_max",
    "seconds",
)
"""The metrics of each method and image, in the order the outputs list them."""

BETTER = {"deletion_auc": "higher", "insertion_auc": "lower"} | {
    name: "higher" for name in METRICS if name.startswith("shift_")
}
"""Which way is better, for the metrics of a ranking: a faithful ranking moves the code sooner
when its pixels are deleted, and brings it back sooner when they are inserted. The fidelity errors,
the stability and the cost are lower the better for a derivative map."""


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
    """How maps are measured.

    Attributes:
        baseline: what removed pixels become: "blur" or "mean".
        blur_sigma: the blur baseline's Gaussian, in pixels.
        steps: steps of the deletion and insertion curves.
        seed: the seed of every random draw.

    Raises:
        SettingError: on construction, for an unknown baseline or steps below one.
    """

    baseline: str = defaults.BASELINE
    blur_sigma: float = defaults.BLUR_SIGMA
    steps: int = defaults.EVALUATION_STEPS
    seed: int = defaults.SEED

    def __post_init__(self) -> None:
        kinds.check_baseline(self.baseline)
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise SettingError(f"steps must be a whole number >= 1, not {self.steps!r}")
        kinds.check_blur_sigma(self.blur_sigma)


@dataclasses.dataclass(frozen=True)
class MethodResult:
    """One method's map of one image and how it measured.

    Attributes:
        attribution: the map, float32 of the image's shape.
        metrics: a value for each of ``METRICS``.
        deletion: the deletion curve.
        insertion: the insertion curve.
    """

    attribution: np.ndarray
    metrics: dict[str, float]
    deletion: faithfulness.Curve
    insertion: faithfulness.Curve


def generator(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by the seed and the names, the same in every run and process."""
    return np.random.default_rng([seed, *(zlib.crc32(name.encode()) for name in names)])


def evaluate_image(
    methods: AttributionMethods,
    image: np.ndarray,
    name: str,
    names: Sequence[str],
    settings: EvaluationSettings = EvaluationSettings(),
    on_progress: Progress | None = None,
) -> dict[str, MethodResult]:
    """Every method's map of one image, and its metrics.

    Args:
        methods: the model, layer and method settings.
        image: ``(height, width)``, values in [0, 1], of a size the network takes.
        name: the image's name, which seeds its random draws.
        names: the methods to evaluate, from ``defaults.ATTRIBUTION_METHODS``.
        settings: the baseline, the curves' steps and the seed.
        on_progress: told of the methods measured, the methods in all, and the method just
            measured, after each.

    Returns:
        Each method's result, in the order asked for.

    Raises:
        SettingError: for an unknown method, or an image whose output is zero.
    """
    names = check_methods(names)
    image = np.asarray(image, np.float32)
    encode = methods.encode

    def baseline(x: np.ndarray) -> np.ndarray:
        return baseline_of(x, settings.baseline, settings.blur_sigma)

    reference = baseline(image)
    probes = generator(settings.seed, name, "probes")
    steps_probe = faithfulness.probe_steps(encode, image, probes)
    noise_estimate = faithfulness.probe_noise(encode, image, probes)
    results = {}
    for method in names:
        rng = generator(settings.seed, name, method)
        start = time.perf_counter()
        attribution = methods.attribute(method, image, reference, rng)
        seconds = time.perf_counter() - start
        deletion = faithfulness.deletion_curve(
            encode, image, reference, attribution, settings.steps
        )
        insertion = faithfulness.insertion_curve(
            encode, image, reference, attribution, settings.steps
        )
        shifts = faithfulness.representation_shifts(encode, image, reference, attribution)
        sensitivity = faithfulness.sensitivity_max(
            lambda x, method=method, rng=rng: methods.attribute(method, x, baseline(x), rng),
            image,
            generator(settings.seed, name, method, "stability"),
            attribution=attribution,
        )
        metrics = {
            "deletion_auc": deletion.area,
            "insertion_auc": insertion.area,
            **dict(zip(SHIFT_NAMES, map(float, shifts), strict=True)),
            "step_error": faithfulness.step_error(attribution, steps_probe),
            "noise_error": faithfulness.noise_error(attribution, noise_estimate),
            "sensitivity_max": sensitivity,
            "seconds": seconds,
        }
        results[method] = MethodResult(attribution, metrics, deletion, insertion)
        if on_progress is not None:
            on_progress(len(results), len(names), method)
    return results


@dataclasses.dataclass(frozen=True)
class Spread:
    """The mean, standard deviation and count of one metric of one method over images.

    Infinite values (a fidelity error against a response of zero) count as such: the mean is
    then infinite too, rather than quietly leaving them out.
    """

    mean: float
    deviation: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        values = np.asarray(values, np.float64)
        if not len(values):
            return cls(math.nan, math.nan, 0)
        finite = np.all(np.isfinite(values))
        deviation = float(np.std(values, ddof=1)) if len(values) > 1 and finite else 0.0
        return cls(float(np.mean(values)), deviation, len(values))

    def __str__(self) -> str:
        if self.count > 1 and math.isfinite(self.mean):
            return f"{self.mean:.3g} ± {self.deviation:.2g}"
        return f"{self.mean:.3g}"


def summarise(rows: Sequence[dict]) -> dict[str, dict[str, Spread]]:
    """The spread of every metric per method, from rows with ``method`` and the ``METRICS``.

    Returns:
        For each method, in the order the rows first name them, each metric's ``Spread``.
    """
    methods = list(dict.fromkeys(row["method"] for row in rows))
    return {
        method: {
            metric: Spread.of([row[metric] for row in rows if row["method"] == method])
            for metric in METRICS
        }
        for method in methods
    }


def summary_table(summary: dict[str, dict[str, Spread]]) -> str:
    """The summary as a Markdown table, a row per method and a column per metric (mean ± standard
    deviation over images), marked where higher or lower is better."""
    marks = {"higher": " ↑", "lower": " ↓"}
    header = ["method", *(f"{metric}{marks.get(BETTER.get(metric), '')}" for metric in METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, spreads in summary.items():
        lines.append("| " + " | ".join([method, *(str(spreads[m]) for m in METRICS)]) + " |")
    return "\n".join(lines)
