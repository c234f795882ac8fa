"""The kinds of map: the paper's, and the two the evaluation ranks above it that weigh each pixel
by how far the image lies from a baseline ``b`` there.

For an image ``x``, the layer's Jacobian ``J`` and ``e_k`` the image with a one at pixel ``k`` (in
the wavelet domain ``w_k``, the ``k``-th basis image, and ``c_k(v) = <w_k, v>``):

- ``complex-step``: ``||J e_k||``, the paper's map (Arumugam & Kiran, 2022).
- ``gradient-input``: ``||J e_k|| * |x_k - b_k|``; in the wavelet domain
  ``||J w_k|| * |c_k(x - b)|``.
- ``integrated-complex-step``: ``|x_k - b_k| * ||(1/T) sum_t J(z_t) e_k||`` at the midpoints
  ``z_t = b + (t - 1/2)/T (x - b)``: the vector form of integrated gradients, exact through the
  Jacobian, whose columns add up to ``f(x) - f(b)`` up to the midpoint rule's error. Pixels only.

The baseline is what the evaluation replaces removed pixels by: the image blurred, or its mean.
"""

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from skimage.filters import gaussian

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.explain.domains import Pixels

if TYPE_CHECKING:
    from complexstep.explain.explainer import Explainer


def check_baseline(name: str) -> str:
    """The baseline's name, if it is one of ``defaults.BASELINES``.

    Raises:
        SettingError: for another.
    """
    if name not in defaults.BASELINES:
        raise SettingError(
            f"unknown baseline {name!r}; choose one of {', '.join(defaults.BASELINES)}"
        )
    return name


def check_blur_sigma(sigma: float) -> float:
    """The blur baseline's Gaussian, if it is positive.

    Raises:
        SettingError: for another.
    """
    if not sigma > 0:
        raise SettingError(f"blur_sigma must be positive, not {sigma}")
    return sigma


def baseline_of(
    image: np.ndarray, name: str = defaults.BASELINE, sigma: float = defaults.BLUR_SIGMA
) -> np.ndarray:
    """What removed pixels are replaced by: the image blurred by a Gaussian of ``sigma`` pixels
    (edges reflected), or its mean grey value everywhere.

    Raises:
        SettingError: for another baseline.
    """
    image = np.asarray(image, np.float32)
    if check_baseline(name) == "blur":
        return gaussian(image, sigma=sigma, mode="reflect", preserve_range=True).astype(np.float32)
    return np.full_like(image, image.mean())


def path(image: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    """The midpoints of the straight path from the baseline to the image,
    ``(steps, height, width)``."""
    weights = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    return baseline[None] + weights[:, None, None] * (image - baseline)[None]


@dataclasses.dataclass(frozen=True)
class MapKind:
    """One kind of map.

    Attributes:
        name: its name, one of ``defaults.MAP_KINDS``.
        passes: the passes of one image's map, from the explainer and the image's size.
        weighted: whether the map is weighted by ``|x - b|`` and so depends on the baseline.
        of_plain: where the kind is the paper's map weighed, its maps from the explainer, the
            images ``(n, height, width)``, their baselines (None for a kind that takes none) and
            the paper's maps of the images; None for a kind that takes passes of its own.
        integrated_maps: for the kind that integrates along the path from the baseline to the
            image, its maps from the explainer, the images, their baselines and a per-pass
            callback; that kind is made in the pixel domain only.
    """

    name: str
    passes: Callable[["Explainer", int, int], int]
    weighted: bool
    of_plain: Callable[["Explainer", np.ndarray, np.ndarray | None, np.ndarray], np.ndarray] | None
    integrated_maps: Callable | None = None

    @property
    def integrated(self) -> bool:
        """Whether the maps integrate along the path, and so depend on the path points too."""
        return self.of_plain is None

    def maps(
        self,
        explainer: "Explainer",
        images: np.ndarray,
        baselines: np.ndarray | None,
        on_pass: Callable[[int], None],
    ) -> np.ndarray:
        """The maps of images ``(n, height, width)`` of one size, float32."""
        if self.of_plain is None:
            return self.integrated_maps(explainer, images, baselines, on_pass)
        return self.of_plain(explainer, images, baselines, explainer.plain_maps(images, on_pass))

    def sidecar(self, explainer: "Explainer") -> dict:
        """The kind and the settings its maps depend on, as a map's sidecar records them."""
        settings = {"kind": self.name}
        if self.weighted:
            settings |= {"baseline": explainer.baseline, "blur_sigma": explainer.blur_sigma}
        if self.integrated:
            settings["integration_steps"] = explainer.integration_steps
        return settings


def _plain(explainer: "Explainer", images: np.ndarray, baselines, plain) -> np.ndarray:
    return plain


def _plain_passes(explainer: "Explainer", *sides: int) -> int:
    return explainer.domain.passes(explainer, *sides)


def _gradient_input(explainer: "Explainer", images: np.ndarray, baselines, plain) -> np.ndarray:
    weights = np.abs(explainer.domain.coefficients(images - baselines))
    return (plain * weights).astype(np.float32)


def _integrated(explainer: "Explainer", images: np.ndarray, baselines, on_pass) -> np.ndarray:
    maps = []
    for image, baseline in zip(images, baselines, strict=True):
        points = path(image, baseline, explainer.integration_steps)
        maps.append(np.abs(image - baseline) * explainer.mean_attribution(points, on_pass))
    return np.stack(maps).astype(np.float32)


def _integrated_passes(explainer: "Explainer", height: int, width: int) -> int:
    return explainer.integration_steps * explainer.mean_passes(height, width)


KINDS = {
    kind.name: kind
    for kind in (
        MapKind("complex-step", _plain_passes, False, _plain),
        MapKind("gradient-input", _plain_passes, True, _gradient_input),
        MapKind("integrated-complex-step", _integrated_passes, True, None, _integrated),
    )
}
"""Every kind by name, in the order of ``defaults.MAP_KINDS``, the paper's first."""


def kind_of(name: str, domain) -> MapKind:
    """The kind of this name, if it is made in this domain.

    Raises:
        SettingError: for an unknown kind, or one the domain cannot make.
    """
    if name not in KINDS:
        raise SettingError(f"unknown map kind {name!r}; choose one of {', '.join(KINDS)}")
    kind = KINDS[name]
    if kind.integrated and not isinstance(domain, Pixels):
        raise SettingError(
            f"{name} maps are made in the pixel domain only: the mean Jacobian along the path is "
            "taken pixel by pixel"
        )
    return kind
