"""The attribution methods the evaluation compares, each a map of the image's shape.

Every method that uses the model explains the whole output ``f`` of one layer, for an image ``x``
and a baseline ``b`` (what the evaluation replaces removed pixels by); ``J`` is the Jacobian of
``f`` and ``e_k`` the image with a one at pixel ``k``:

- ``complex-step``: ``||J e_k||``, this project's map (Arumugam & Kiran, 2022).
- ``gradient-input``: ``||J e_k|| * |x_k - b_k|``.
- ``integrated-gradients`` (Sundararajan et al., ICML 2017) of the label-free target
  ``g(x') = <f(x'), f(x)>`` (Crabbe & van der Schaar, ICML 2022):
  ``|(x_k - b_k) * (1/T) sum_t dg/dx_k(z_t)|`` at the midpoints ``z_t = b + (t - 1/2)/T (x - b)``.
- ``integrated-complex-step``: the vector form of integrated gradients, exact through the
  Jacobian: ``c_k = (x_k - b_k) * (1/T) sum_t J(z_t) e_k`` and the map ``||c_k||``. Its
  completeness, ``sum_k c_k = f(x) - f(b)``, holds up to the midpoint rule's error.
- ``smoothgrad`` (Smilkov et al., 2017): the mean complex-step map of noisy copies of the image.
- ``occlusion`` (Zeiler & Fergus, ECCV 2014): ``||f(x with a square patch replaced by the
  baseline) - f(x)||``, each pixel taking the mean over the patches that cover it.
- ``edges``: the Sobel gradient magnitude of the image, which knows nothing of the model.
- ``darkness``: ``1 - x``, the image's own darkness, a second model-free control.
- ``shuffled``: the complex-step map with its values moved to random pixels: the same values, and
  so the same sum of squares, in no particular place.
- ``random``: uniform noise, the floor.

Derivatives come from ``complexstep``'s engines: the complex-step maps and Jacobians, and
``Explainer.vjp`` for the gradients of integrated gradients.
"""

import dataclasses
import itertools
import os
from collections.abc import Callable

import keras
import numpy as np
from skimage.filters import sobel

from complexstep import defaults
from complexstep.engines import ignore_passes
from complexstep.errors import SettingError
from complexstep.explain import kinds
from complexstep.explain.explainer import Explainer, as_images
from complexstep.explain.jacobian import Jacobian
from complexstep.explain.settings import ExplainerSettings
from complexstep.twin import geometry

OCCLUSION_CHUNK = 64
"""Occluded copies of an image made at once; the model takes them in its own batches."""


def check_methods(names) -> list[str]:
    """The methods asked for, in order, each once.

    Raises:
        SettingError: naming any method that is not one of ``defaults.ATTRIBUTION_METHODS``.
    """
    unknown = [name for name in names if name not in defaults.ATTRIBUTION_METHODS]
    if unknown:
        raise SettingError(
            f"unknown method(s) {', '.join(unknown)}; choose from "
            + ", ".join(defaults.ATTRIBUTION_METHODS)
        )
    if not names:
        raise SettingError("no method to evaluate")
    return list(dict.fromkeys(names))


@dataclasses.dataclass(frozen=True)
class MethodSettings:
    """The settings of the methods that have any.

    Attributes:
        integration_steps: path points of both integrated methods.
        smoothgrad_samples: noisy copies SmoothGrad averages over.
        smoothgrad_noise: the deviation of SmoothGrad's Gaussian noise; the copies are clipped to
            [0, 1], the range the model was trained on.
        occlusion_patch: the side of occlusion's square patches.
        occlusion_stride: how far apart occlusion's patches start; the last patch of each row
            and column lies against the image's edge, so that every pixel is covered.

    Raises:
        SettingError: on construction, for a setting out of range.
    """

    integration_steps: int = defaults.INTEGRATION_STEPS
    smoothgrad_samples: int = defaults.SMOOTHGRAD_SAMPLES
    smoothgrad_noise: float = defaults.SMOOTHGRAD_NOISE
    occlusion_patch: int = defaults.OCCLUSION_PATCH
    occlusion_stride: int = defaults.OCCLUSION_STRIDE

    def __post_init__(self) -> None:
        for name in ("integration_steps", "smoothgrad_samples", "occlusion_patch"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise SettingError(f"{name} must be a whole number >= 1, not {value!r}")
        if not (
            isinstance(self.occlusion_stride, int)
            and 1 <= self.occlusion_stride <= self.occlusion_patch
        ):
            raise SettingError(
                f"occlusion_stride must be a whole number from 1 to the patch's "
                f"{self.occlusion_patch}, so that every pixel is covered, not "
                f"{self.occlusion_stride!r}"
            )
        if not self.smoothgrad_noise > 0:
            raise SettingError(f"smoothgrad_noise must be positive, not {self.smoothgrad_noise}")


class AttributionMethods:
    """The methods, for one layer of one model.

    Every method takes the image, the baseline and a random generator, and uses what it needs:
    the image ``(height, width)`` with values in [0, 1] and of a size the network takes, the
    baseline of its shape and range, and the generator for the noise of SmoothGrad and random
    maps. Each returns a float32 map of the image's shape.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"``.
        layer: the layer whose whole output is explained.
        settings: the methods' settings.

    Example:
        >>> methods = AttributionMethods("pretrained")  # doctest: +SKIP
        >>> ics = methods.attribute("integrated-complex-step", x, baseline_of(x), rng)  # +SKIP
    """

    def __init__(
        self,
        model: "keras.Model | str | os.PathLike",
        *,
        layer: str = defaults.LAYER,
        settings: MethodSettings = MethodSettings(),
    ):
        self.explainer = Explainer(
            model, ExplainerSettings(layer=layer, integration_steps=settings.integration_steps)
        )
        self.settings = settings
        # Each method is the method of its name, with underscores for hyphens.
        self._methods: dict[str, Callable] = {
            name: getattr(self, name.replace("-", "_")) for name in defaults.ATTRIBUTION_METHODS
        }

    def attribute(
        self, name: str, image: np.ndarray, baseline: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The map of the method called ``name``, one of ``defaults.ATTRIBUTION_METHODS``.

        Raises:
            SettingError: for an unknown method.
        """
        (name,) = check_methods([name])
        return np.asarray(self._methods[name](image, baseline, rng), np.float32)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """The layer's output for a batch of images, with values outside [0, 1] allowed, as the
        fidelity probes make them."""
        return self.explainer.encode(images, unit_range=False)

    def complex_step(self, image, baseline=None, rng=None) -> np.ndarray:
        """``||J e_k||``, the complex-step map."""
        return self.explainer.attribute(image)

    def gradient_input(self, image, baseline, rng=None) -> np.ndarray:
        """``||J e_k|| * |x_k - b_k|``, as ``kinds`` makes it for stage 2."""
        return self._kind(defaults.GRADIENT_INPUT_KIND, image, baseline)

    def path(self, image: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """The midpoints of the straight path from the baseline to the image,
        ``(integration_steps, height, width)``."""
        return kinds.path(image, baseline, self.settings.integration_steps)

    def integrated_gradients(self, image, baseline, rng=None) -> np.ndarray:
        """``|(x_k - b_k) * mean_t (J(z_t)^T f(x))_k|``: integrated gradients of
        ``<f(x'), f(x)>``."""
        target = self.explainer.encode(image)[0]
        gradients = sum(self.explainer.vjp(point, target) for point in self.path(image, baseline))
        return np.abs((image - baseline) * gradients / self.settings.integration_steps)

    def path_jacobian(self, image: np.ndarray, baseline: np.ndarray) -> Jacobian:
        """The mean of the Jacobians at the path's midpoints: ``(1/T) sum_t J(z_t)``.

        Its product with ``x - b``, ``.jvp(image - baseline)``, is ``sum_k c_k``, which
        completeness equates with ``f(x) - f(b)``; its ``output`` is the layer's output for the
        image.
        """
        total = None
        for point in self.path(image, baseline):
            jacobian = self.explainer.jacobian(point)
            total = jacobian.values if total is None else total + jacobian.values
        return dataclasses.replace(
            jacobian,
            values=total / self.settings.integration_steps,
            output=self.explainer.encode(image)[0],
        )

    def integrated_complex_step(self, image, baseline, rng=None) -> np.ndarray:
        """``||c_k|| = |x_k - b_k| * ||(1/T) sum_t J(z_t) e_k||``: the column norms of
        ``path_jacobian``, from ``Explainer.mean_attribution``, which never builds it; as
        ``kinds`` makes it for stage 2."""
        return self._kind(defaults.INTEGRATED_COMPLEX_STEP_KIND, image, baseline)

    def _kind(self, name: str, image: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """The map of one of stage 2's weighted kinds, from the given baseline."""
        images, _ = as_images(image)
        explainer = self.explainer
        kind = kinds.kind_of(
            name, explainer.domain, integration_steps=explainer.kind.integration_steps
        )
        maps = kind.maps(explainer.tiling, explainer.domain, images, ignore_passes, baseline[None])
        return maps[0]

    def smoothgrad(self, image, baseline, rng) -> np.ndarray:
        """The mean complex-step map of ``smoothgrad_samples`` copies of the image with Gaussian
        noise, clipped to [0, 1]; the noise is drawn as one ``(samples, height, width)`` array."""
        noise = rng.normal(
            0.0, self.settings.smoothgrad_noise, (self.settings.smoothgrad_samples, *image.shape)
        )
        copies = np.clip(image[None] + noise, 0.0, 1.0).astype(np.float32)
        return self.explainer.attribute_many(copies).mean(axis=0)

    def occlusion(self, image, baseline, rng=None) -> np.ndarray:
        """The mean output shift of the patches covering each pixel, each patch replaced by the
        baseline.

        A patch changes only the outputs in its footprint, so each occluded copy is encoded in a
        window that holds their receptive fields (``geometry.changed_windows``): those outputs
        come out exact for a fraction of the whole image's work, and the others keep their
        values.

        Raises:
            SettingError: if the patch is larger than the image.
        """
        patch, stride = self.settings.occlusion_patch, self.settings.occlusion_stride
        axes = []
        for length in image.shape:
            starts = patch_starts(length, patch, stride)
            windows = geometry.changed_windows(
                self.explainer.axis_geometry(length),
                [(start, start + patch - 1) for start in starts],
                self.explainer.step,
            )
            axes.append(list(zip(starts, windows, strict=True)))
        reference = self.explainer.encode(image)[0]
        shift_sums = np.zeros(image.shape, np.float64)
        covers = np.zeros(image.shape, np.float64)
        corners = list(itertools.product(*axes))
        for first in range(0, len(corners), OCCLUSION_CHUNK):
            chunk = corners[first : first + OCCLUSION_CHUNK]
            crops = []
            for (top, rows), (left, columns) in chunk:
                occluded = image.copy()
                patch_window = (slice(top, top + patch), slice(left, left + patch))
                occluded[patch_window] = baseline[patch_window]
                crops.append(occluded[_span(rows), _span(columns)])
            outputs = self.explainer.encode(np.stack(crops))
            for output, ((top, rows), (left, columns)) in zip(outputs, chunk, strict=True):
                changed = output[_cells(rows, local=True), _cells(columns, local=True)]
                before = reference[_cells(rows), _cells(columns)]
                shift = np.linalg.norm((changed - before).ravel())
                shift_sums[top : top + patch, left : left + patch] += shift
                covers[top : top + patch, left : left + patch] += 1
        return (shift_sums / covers).astype(np.float32)

    def edges(self, image, baseline=None, rng=None) -> np.ndarray:
        """The Sobel gradient magnitude of the image (scikit-image's, edges reflected)."""
        return sobel(np.asarray(image, np.float32))

    def darkness(self, image, baseline=None, rng=None) -> np.ndarray:
        """``1 - x``."""
        return 1.0 - np.asarray(image, np.float32)

    def shuffled(self, image, baseline, rng) -> np.ndarray:
        """The complex-step map, its values permuted at random."""
        return rng.permutation(self.complex_step(image).ravel()).reshape(np.shape(image))

    def random(self, image, baseline=None, rng=None) -> np.ndarray:
        """Uniform noise in [0, 1) of the image's shape."""
        return rng.random(np.shape(image), dtype=np.float32)


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Where the patches along one axis start: every ``stride`` pixels, and against the far edge
    where the stride does not reach it.

    Raises:
        SettingError: if the patch is longer than the axis.
    """
    if patch > length:
        raise SettingError(f"an occlusion patch of {patch} pixels does not fit in {length}")
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def _span(window: geometry.AxisTile) -> slice:
    """The input indices of a window."""
    return slice(window.start, window.start + window.length)


def _cells(window: geometry.AxisTile, local: bool = False) -> slice:
    """The output cells a window answers for, in the whole output or in the window's own."""
    offset = window.offset if local else 0
    return slice(window.cells.start - offset, window.cells.stop - offset)
