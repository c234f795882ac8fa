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
    from complexstep.explain.tiling import Tiling


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
    if check_baseline(name) == defaults.BLUR_BASELINE:
        return gaussian(image, sigma=sigma, mode="reflect", preserve_range=True).astype(np.float32)
    return np.full_like(image, image.mean())


def path(image: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    """The midpoints of the straight path from the baseline to the image,
    ``(steps, height, width)``."""
    weights = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    return baseline[None] + weights[:, None, None] * (image - baseline)[None]


@dataclasses.dataclass(frozen=True)
class MapKind:
    """One kind of map, with the settings its maps depend on.

    Attributes:
        name: its name, one of ``defaults.MAP_KINDS``.
        weighted: whether the map is weighted by ``|x - b|`` and so depends on the baseline.
        integrated: whether the map integrates the Jacobian along the path from the baseline to
            the image, and so depends on the path's points too; made in the pixel domain only.
        baseline: what a weighted kind measures ``|x - b|`` from, one of ``defaults.BASELINES``.
        blur_sigma: the blur baseline's Gaussian, in pixels.
        integration_steps: the path points of an integrated kind.
    """

    name: str
    weighted: bool
    integrated: bool
    baseline: str = defaults.BASELINE
    blur_sigma: float = defaults.BLUR_SIGMA
    integration_steps: int = defaults.INTEGRATION_STEPS

    def passes(self, tiling: "Tiling", domain, *sides: int) -> int:
        """The passes of one image's map."""
        if self.integrated:
            return self.integration_steps * tiling.mean_passes(*sides)
        return domain.passes(tiling, *sides)

    def baselines(self, images: np.ndarray) -> np.ndarray | None:
        """The baselines of checked images ``(n, height, width)``, where the kind takes them."""
        if not self.weighted:
            return None
        return np.stack([baseline_of(image, self.baseline, self.blur_sigma) for image in images])

    def maps(
        self,
        tiling: "Tiling",
        domain,
        images: np.ndarray,
        on_pass: Callable[[int], None],
        baselines: np.ndarray | None = None,
    ) -> np.ndarray:
        """The maps of checked images of one size, float32.

        Args:
            tiling: the layer's engines and tiles.
            domain: what the maps attribute to, a ``domains`` domain.
            images: ``(n, height, width)``, or with channels and depth as the model takes them.
            on_pass: called with the number of passes each time some finish.
            baselines: the images' baselines, in place of the kind's own.
        """
        if baselines is None:
            baselines = self.baselines(images)
        if not self.integrated:
            return self.of_plain(domain, images, domain.maps(tiling, images, on_pass), baselines)
        maps = []
        for image, baseline in zip(images, baselines, strict=True):
            points = path(image, baseline, self.integration_steps)
            maps.append(np.abs(image - baseline) * tiling.mean_map(points, on_pass))
        return np.stack(maps).astype(np.float32)

    def of_plain(
        self, domain, images: np.ndarray, plain: np.ndarray, baselines: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The maps from the paper's maps of the same images, with no pass of their own; None
        for an integrated kind, which takes passes of its own."""
        if self.integrated:
            return None
        if not self.weighted:
            return plain
        if baselines is None:
            baselines = self.baselines(images)
        return (plain * np.abs(domain.coefficients(images - baselines))).astype(np.float32)

    def sidecar(self) -> dict:
        """The kind and the settings its maps depend on, as a map's sidecar records them."""
        settings = {"kind": self.name}
        if self.weighted:
            settings |= {"baseline": self.baseline, "blur_sigma": self.blur_sigma}
        if self.integrated:
            settings["integration_steps"] = self.integration_steps
        return settings


KINDS = {
    kind.name: kind
    for kind in (
        MapKind(defaults.COMPLEX_STEP_KIND, weighted=False, integrated=False),
        MapKind(defaults.GRADIENT_INPUT_KIND, weighted=True, integrated=False),
        MapKind(defaults.INTEGRATED_COMPLEX_STEP_KIND, weighted=True, integrated=True),
    )
}
"""Every kind by name at the default settings, in the order of ``defaults.MAP_KINDS``, the
paper's first."""


def kind_of(
    name: str,
    domain,
    baseline: str = defaults.BASELINE,
    blur_sigma: float = defaults.BLUR_SIGMA,
    integration_steps: int = defaults.INTEGRATION_STEPS,
) -> MapKind:
    """The kind of this name with these settings, if it is made in this domain.

    Raises:
        SettingError: for an unknown kind, one the domain cannot make, an unknown baseline, a
            blur that is not positive or path points that are not a whole number >= 1.
    """
    if name not in KINDS:
        raise SettingError(f"unknown map kind {name!r}; choose one of {', '.join(KINDS)}")
    kind = KINDS[name]
    if kind.integrated and not isinstance(domain, Pixels):
        raise SettingError(
            f"{name} maps are made in the pixel domain only: the mean Jacobian along the path is "
            "taken pixel by pixel"
        )
    if not (isinstance(integration_steps, int) and integration_steps >= 1):
        raise SettingError(
            f"integration_steps must be a whole number >= 1, not {integration_steps!r}"
        )
    return dataclasses.replace(
        kind,
        baseline=check_baseline(baseline),
        blur_sigma=check_blur_sigma(blur_sigma),
        integration_steps=integration_steps,
    )
