"""The domains a map attributes to: the image's pixels, or the coefficients of its orthonormal
wavelet transform.

A domain knows which of an engine's classes works in it, how many passes an image takes, how the
tiles' parts of a map add up, how an image-shaped difference reads in it (for the maps weighted
by ``|x - b|``), which files a map of it becomes and what its sidecar adds. It is given the
layer's ``tiling.Tiling`` and asks it for engines and tiles. The ``Explainer`` and the folder
drivers ask the domain and never test its name.
"""

import dataclasses
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from complexstep import defaults
from complexstep.engines import wavelet_basis as wavelets
from complexstep.errors import SettingError
from complexstep.io import maps

# Names for hints only: the domains are made before Keras starts, to check a command's flags.
if TYPE_CHECKING:
    from complexstep.engines.registry import EngineKind
    from complexstep.explain.tiling import Tiling


@dataclasses.dataclass(frozen=True)
class Pixels:
    """Attribution to every pixel: ``||J e_k||``."""

    name: ClassVar[str] = defaults.PIXEL_DOMAIN
    suffixes: ClassVar[tuple[str, ...]] = maps.PIXEL_MAP_SUFFIXES
    """The files of a map, ``<stem><suffix>``: the raw map first, its sidecar last."""

    def engine(self, engines: "EngineKind") -> type:
        """The class of an engine that works in this domain."""
        return engines.pixel

    def check_size(self, *sides: int) -> None:
        """Every size the network takes is one the domain takes."""

    def passes(self, tiling: "Tiling", *sides: int) -> int:
        """The passes of one image's map."""
        return tiling.pixel_passes(*sides)

    def maps(self, tiling: "Tiling", images: np.ndarray, on_pass) -> np.ndarray:
        """The paper's maps of checked images of one size, ``||J e_k||``."""
        return tiling.pixel_maps(images, on_pass)

    def coefficients(self, differences: np.ndarray) -> np.ndarray:
        """Image-shaped differences ``(n, height, width)`` as the domain reads them."""
        return differences

    def sidecar(self, values: np.ndarray) -> dict:
        """What a map's sidecar says of the domain, beside what made the map."""
        return {}

    def describe(self) -> str:
        """The domain in a few words, for a summary line; empty for the default."""
        return ""

    def settings(self) -> dict:
        """The ``Explainer`` arguments that make this domain."""
        return {"domain": self.name}


@dataclasses.dataclass(frozen=True)
class Wavelets:
    """Attribution to every coefficient of the image's orthonormal wavelet transform, whose basis
    image is ``w_k``: ``||J w_k||``, laid out as ``pywt.coeffs_to_array(pywt.wavedec2(image,
    wavelet, mode="periodization", level=levels))``.

    Raises:
        SettingError: on construction, for a wavelet that is unknown or not orthogonal, or levels
            below one.
    """

    wavelet: str = defaults.WAVELET
    levels: int = defaults.WAVELET_LEVELS
    name: ClassVar[str] = defaults.WAVELET_DOMAIN
    suffixes: ClassVar[tuple[str, ...]] = maps.WAVELET_MAP_SUFFIXES

    def __post_init__(self) -> None:
        wavelets.check_wavelet(self.wavelet)
        if not (isinstance(self.levels, int) and self.levels >= 1):
            raise SettingError(f"levels must be a whole number >= 1, not {self.levels!r}")

    def basis(self, height: int, width: int) -> wavelets.WaveletBasis:
        """The wavelet basis of images of this size.

        Raises:
            SettingError: if the transform has more levels than the size takes.
        """
        return wavelets.WaveletBasis(self.wavelet, self.levels, (height, width))

    def engine(self, engines: "EngineKind") -> type:
        return engines.wavelet

    def check_size(self, height: int, width: int) -> None:
        """Checks that the transform's levels fit images of this size.

        Raises:
            SettingError: if they do not.
        """
        self.basis(height, width)

    def passes(self, tiling: "Tiling", height: int, width: int) -> int:
        basis = self.basis(height, width)
        engine_class = self.engine(tiling.entry)
        total = 0
        for tile in tiling.plan(height, width, engine=engine_class):
            canvas = basis.canvas(*tile.region)
            engine = tiling.engine(tile.shape, engine_class)
            total += engine.coefficient_passes(canvas.basis, canvas.offset(*tile.region))
        return total

    def maps(self, tiling: "Tiling", images: np.ndarray, on_pass) -> np.ndarray:
        """The paper's maps of checked images of one size, ``||J w_k||``."""
        return np.stack(
            [np.sqrt(self._squares(tiling, image, on_pass)).astype(np.float32) for image in images]
        )

    def _squares(self, tiling: "Tiling", image: np.ndarray, on_pass) -> np.ndarray:
        """The squared map of one image, tile by tile: each tile's share is worked out on a
        canvas that holds the basis images touching it."""
        basis = self.basis(*image.shape)
        engine_class = self.engine(tiling.entry)
        squares = np.zeros(image.shape)
        for tile, crop, cells in tiling.tiles(image, engine_class):
            canvas = basis.canvas(*tile.region)
            part = tiling.engine(tile.shape, engine_class).coefficient_squares(
                crop, canvas.basis, canvas.offset(*tile.region), cells, on_pass
            )
            canvas.add_to(squares, part)
        return squares

    def coefficients(self, differences: np.ndarray) -> np.ndarray:
        """The wavelet coefficients of image-shaped differences, in the map's layout."""
        return self.basis(*differences.shape[1:]).transform(differences)

    def sidecar(self, values: np.ndarray) -> dict:
        """The transform, ``||J||_F**2`` and the share of every level and orientation."""
        return self.basis(*values.shape).summary(values)

    def describe(self) -> str:
        return f"{self.wavelet} wavelet, {self.levels} levels"

    def settings(self) -> dict:
        return {"domain": self.name, "wavelet": self.wavelet, "levels": self.levels}


DOMAINS = dict(zip(defaults.DOMAINS, (Pixels, Wavelets), strict=True))
"""Every domain by name, in the order of ``defaults.DOMAINS``."""


def domain_of(
    name: str, wavelet: str = defaults.WAVELET, levels: int = defaults.WAVELET_LEVELS
) -> Pixels | Wavelets:
    """The domain of this name; the wavelet and levels make the wavelet domain.

    Raises:
        SettingError: for an unknown name, and as ``Wavelets`` does.
    """
    if name not in DOMAINS:
        raise SettingError(f"unknown domain {name!r}; choose one of {', '.join(DOMAINS)}")
    return Wavelets(wavelet, levels) if name == Wavelets.name else Pixels()
