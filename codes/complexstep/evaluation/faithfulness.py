"""Faithfulness of attribution maps: do the pixels a map ranks first move the code the most?

Exactness shows that a complex-step map is the derivative the paper defines; it does not show that
the pixels it ranks highest are the ones the layer's output depends on most, once they change by
more than a derivative sees. The measures here answer that for a map ``a`` of an image ``x``, a
baseline ``b`` that removed pixels are replaced by, and a layer output ``f``. Attribution libraries
define them for a scalar class score (Xplique's Deletion and Insertion, Captum's sensitivity_max);
for a representation they use its shift ``s = ||f(x') - f(x)|| / ||f(x)||``, as label-free
explainability does (Crabbe & van der Schaar, "Label-Free Explainability for Unsupervised Models",
ICML 2022):

- ``deletion_curve``: replace the top-ranked fraction ``k`` of the pixels by the baseline, for
  ``k = 0, 1/steps, ..., 1``; the sooner ``s`` rises, the better the ranking (higher area).
- ``insertion_curve``: start from the baseline and put the top-ranked pixels back; the sooner ``s``
  falls, the better (lower area).
- ``representation_shifts``: ``s`` after deleting given fractions, 5 to 50 %.
- ``step_error`` and ``noise_error``: whether a map is the derivative it claims to be, from real
  finite steps of single pixels and from small Gaussian noise over all of them.
- ``sensitivity_max``: how much a method's map changes under small uniform noise.

Every measure takes the model as ``encode``, any function from a batch of images
``(n, height, width)`` to their outputs ``(n, ...)``, so that it can be checked on models whose
answers are known in closed form.
"""

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from complexstep import defaults
from complexstep.errors import SettingError

Encode = Callable[[np.ndarray], np.ndarray]
"""A layer's output for a batch of images ``(n, height, width)``, as an array ``(n, ...)``."""

Explain = Callable[[np.ndarray], np.ndarray]
"""A method's attribution map of one image, of the image's shape."""

CHUNK = 8
"""Perturbed images encoded at once: enough to keep the model's layers busy, few enough that the
images of a large micrograph's curve do not all sit in memory together."""


@dataclasses.dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: the representation shift after each fraction of pixels.

    Attributes:
        fractions: the fractions of pixels replaced, from 0 to 1.
        shifts: ``||f(x_k) - f(x)|| / ||f(x)||`` at each fraction.
    """

    fractions: np.ndarray
    shifts: np.ndarray

    @property
    def area(self) -> float:
        """The trapezoid mean of the shifts over the fractions."""
        span = self.fractions[-1] - self.fractions[0]
        return float(np.trapezoid(self.shifts, self.fractions) / span)


def ranking(attribution: np.ndarray) -> np.ndarray:
    """The flat pixel indices from the highest attribution to the lowest, ties in reading order."""
    return np.argsort(-np.asarray(attribution, np.float64).ravel(), kind="stable")


def counts_of(fractions: Sequence[float], pixels: int) -> np.ndarray:
    """How many pixels each fraction takes: ``ceil(k * pixels)``, exact for fractions ``j/steps``
    that floating point cannot hold."""
    return np.array([math.ceil(round(fraction * pixels, 6)) for fraction in fractions])


def curve(
    encode: Encode,
    image: np.ndarray,
    baseline: np.ndarray,
    attribution: np.ndarray,
    steps: int = defaults.EVALUATION_STEPS,
    *,
    insert: bool = False,
) -> Curve:
    """The shift of the output as the top-ranked pixels are replaced by the baseline, or with
    ``insert``, from the image's, as they are put back into the baseline.

    Args:
        encode: the model.
        image: the image ``x``, ``(height, width)``.
        baseline: what removed pixels become, of the image's shape.
        attribution: the map that ranks the pixels, of the image's shape.
        steps: the curve has ``steps + 1`` points, at fractions ``j / steps``.
        insert: whether the pixels are inserted into the baseline rather than deleted from the
            image.
    """
    fractions = _fractions(steps)
    return Curve(fractions, _shifts(encode, image, baseline, attribution, fractions, insert))


deletion_curve = functools.partial(curve, insert=False)
"""The deletion curve: ``curve`` with the pixels deleted from the image."""

insertion_curve = functools.partial(curve, insert=True)
"""The insertion curve: ``curve`` with the pixels put back into the baseline."""


def representation_shifts(
    encode: Encode,
    image: np.ndarray,
    baseline: np.ndarray,
    attribution: np.ndarray,
    fractions: Sequence[float] = defaults.SHIFT_FRACTIONS,
) -> np.ndarray:
    """The shift of the output after deleting each fraction of the top-ranked pixels."""
    fractions = np.asarray(fractions, np.float64)
    if np.any((fractions < 0) | (fractions > 1)):
        raise SettingError(f"fractions must lie in [0, 1], not {fractions.tolist()}")
    return _shifts(encode, image, baseline, attribution, fractions, insert=False)


def _fractions(steps: int) -> np.ndarray:
    if not (isinstance(steps, int) and steps >= 1):
        raise SettingError(f"steps must be a whole number >= 1, not {steps!r}")
    return np.arange(steps + 1) / steps


def _shifts(encode, image, baseline, attribution, fractions, insert: bool) -> np.ndarray:
    """The output's shift for each fraction of pixels deleted from the image or inserted into the
    baseline."""
    image = np.asarray(image, np.float32)
    baseline = np.asarray(baseline, np.float32)
    if not (image.shape == np.shape(baseline) == np.shape(attribution)):
        raise SettingError(
            f"image {image.shape}, baseline {np.shape(baseline)} and map {np.shape(attribution)} "
            "must have one shape"
        )
    order = ranking(attribution)
    counts = counts_of(fractions, image.size)
    start, source = (baseline, image) if insert else (image, baseline)
    reference = _flat(encode(image[None]))[0]
    shifts = []
    for first in range(0, len(counts), CHUNK):
        batch = np.repeat(start.reshape(1, -1), len(counts[first : first + CHUNK]), axis=0)
        for row, count in enumerate(counts[first : first + CHUNK]):
            chosen = order[:count]
            batch[row, chosen] = source.ravel()[chosen]
        outputs = _flat(encode(batch.reshape(-1, *image.shape)))
        shift = np.linalg.norm(outputs - reference, axis=1)
        # A row that is the image itself (nothing deleted, everything inserted) has no shift by
        # definition; encoded in another batch shape than the reference, the CPU kernels would
        # round it to a few 1e-7 instead.
        shift[(batch == image.reshape(1, -1)).all(axis=1)] = 0.0
        shifts.append(shift)
    return np.concatenate(shifts) / _norm(reference)


@dataclasses.dataclass(frozen=True)
class StepProbe:
    """The model's response to a real step of single pixels.

    Attributes:
        pixels: the flat indices of the pixels stepped.
        responses: ``||f(x + step * e_k) - f(x)|| / step`` for each pixel ``k``: what the
            attribution of a pixel claims to be, to first order.
    """

    pixels: np.ndarray
    responses: np.ndarray


def probe_steps(
    encode: Encode,
    image: np.ndarray,
    rng: np.random.Generator,
    pixels: int = defaults.FIDELITY_PIXELS,
    step: float = defaults.FIDELITY_STEP,
) -> StepProbe:
    """Steps ``pixels`` random pixels, one at a time, and measures how far the output moves.

    ``encode`` must take values just outside [0, 1], where a pixel at 1 is stepped.
    """
    image = np.asarray(image, np.float32)
    chosen = rng.choice(image.size, size=min(pixels, image.size), replace=False)
    reference = _flat(encode(image[None]))[0]
    responses = []
    for first in range(0, len(chosen), CHUNK):
        part = chosen[first : first + CHUNK]
        batch = np.repeat(image.reshape(1, -1), len(part), axis=0)
        batch[np.arange(len(part)), part] += step
        outputs = _flat(encode(batch.reshape(-1, *image.shape)))
        responses.append(np.linalg.norm(outputs - reference, axis=1) / step)
    return StepProbe(chosen, np.concatenate(responses))


def step_error(attribution: np.ndarray, probe: StepProbe) -> float:
    """The median relative error of a map against the model's responses to single-pixel steps.

    A response of zero counts as matched by an attribution of zero and missed by any other.
    """
    claimed = np.asarray(attribution, np.float64).ravel()[probe.pixels]
    measured = probe.responses.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.where(
            measured > 0, np.abs(claimed - measured) / measured, np.where(claimed == 0, 0, np.inf)
        )
    return float(np.median(errors))


def probe_noise(
    encode: Encode,
    image: np.ndarray,
    rng: np.random.Generator,
    samples: int = defaults.FIDELITY_SAMPLES,
    sigma: float = defaults.FIDELITY_NOISE,
) -> float:
    """The mean of ``||f(x + e) - f(x)||^2 / sigma^2`` over samples of Gaussian noise ``e`` with
    deviation ``sigma`` on every pixel: an estimate of ``||J||_F^2``, the sum of a derivative map's
    squares.

    ``encode`` must take values just outside [0, 1], since the noise is not clipped.
    """
    image = np.asarray(image, np.float32)
    reference = _flat(encode(image[None]))[0]
    total = 0.0
    for first in range(0, samples, CHUNK):
        count = min(CHUNK, samples - first)
        noise = rng.normal(0.0, sigma, (count, *image.shape)).astype(np.float32)
        outputs = _flat(encode(image[None] + noise))
        total += float(np.sum(np.square(outputs - reference, dtype=np.float64)))
    return total / samples / sigma**2


def noise_error(attribution: np.ndarray, estimate: float) -> float:
    """The relative error of a map's sum of squares against ``probe_noise``'s estimate of it.

    The sum does not depend on where the values lie, so this checks a map's total and is blind to
    its arrangement, which ``step_error`` checks.
    """
    squares = float(np.sum(np.square(attribution, dtype=np.float64)))
    return abs(squares - estimate) / estimate if estimate > 0 else float(squares > 0) * math.inf


def sensitivity_max(
    explain: Explain,
    image: np.ndarray,
    rng: np.random.Generator,
    attribution: np.ndarray | None = None,
    samples: int = defaults.STABILITY_SAMPLES,
    radius: float = defaults.STABILITY_RADIUS,
) -> float:
    """The largest relative change of a method's map under uniform noise, as Captum's
    ``sensitivity_max`` measures it: ``max ||map(x') - map(x)|| / ||map(x)||``.

    Args:
        explain: the method.
        image: the image, values in [0, 1].
        rng: where the noise comes from.
        attribution: the method's map of the image, if already computed.
        samples: how many noisy copies to explain.
        radius: each pixel moves by a uniform draw from ``[-radius, radius]``; the copies are
            clipped to [0, 1], the range the methods take.
    """
    image = np.asarray(image, np.float32)
    reference = explain(image) if attribution is None else np.asarray(attribution)
    changes = []
    for _ in range(samples):
        noisy = np.clip(image + rng.uniform(-radius, radius, image.shape), 0.0, 1.0)
        changes.append(np.linalg.norm((explain(noisy.astype(np.float32)) - reference).ravel()))
    worst = float(max(changes, default=0.0))
    size = float(np.linalg.norm(reference.ravel()))
    # A map of zeros that stays zero is perfectly stable; one that moves is infinitely unstable.
    return worst / size if size > 0 else (math.inf if worst > 0 else 0.0)


def _flat(outputs) -> np.ndarray:
    outputs = np.asarray(outputs, np.float64)
    return outputs.reshape(len(outputs), -1)


def _norm(values: np.ndarray) -> float:
    """The norm of a vector, which the shifts are measured against; infinite shifts where it is
    zero would say nothing, so a zero norm is refused."""
    norm = float(np.linalg.norm(values))
    if norm == 0:
        raise SettingError("the layer's output is zero for this image, so no shift relative to it")
    return norm
