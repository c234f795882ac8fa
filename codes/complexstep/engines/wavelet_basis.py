"""Orthonormal wavelet bases of images: the transform side of attribution in the wavelet domain.

With an orthogonal wavelet and periodic extension ('periodization'), the multilevel 2-D discrete
wavelet transform ``W`` of an image is square and orthonormal: coefficient ``k`` of an image ``x``
is ``<w_k, x>`` for the basis image ``w_k``, and ``x = sum_k c_k w_k``. Perturbing coefficient
``k`` by ``i*h`` perturbs the image by ``i*h*w_k``, so the coefficient's attribution is
``||Im f(x + i*h*w_k)|| / h = ||J w_k||``, and, ``W`` being orthonormal,
``sum_k ||J w_k||**2 = ||J||_F**2``: the squared pixel map and the squared wavelet map have the same
sum (Parseval).

Coefficients are laid out exactly as
``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet, mode="periodization", level=levels))``: the
approximation at the coarsest level top left, and for each level, coarsest first, its horizontal
(``'da'``, below), vertical (``'ad'``, right) and diagonal (``'dd'``) details.

Each basis image is the product of a 1-D function along the rows and one along the columns: the
scaling function (``'a'``) or the wavelet (``'d'``) of its level, moved ``2**level`` pixels per
index and wrapped around the image's edges. ``Functions`` holds them; ``Canvas`` is the periodic
part of an image that holds a tile and every basis image touching it, which is how the engines
explain large images tile by tile.
"""

import dataclasses
import functools
import math

import numpy as np
import pywt

from complexstep.errors import SettingError

MODE = "periodization"
"""PyWavelets' signal extension that makes the transform orthonormal and square."""

ORIENTATIONS = {"aa": "approximation", "da": "horizontal", "ad": "vertical", "dd": "diagonal"}
"""The blocks' names by PyWavelets' keys: one letter per axis, rows first, 'a' for the scaling
function and 'd' for the wavelet. Horizontal details change along the rows: horizontal edges."""


def check_wavelet(wavelet: str) -> pywt.Wavelet:
    """The PyWavelets wavelet of this name, if it is orthogonal.

    Raises:
        SettingError: for a name PyWavelets does not know as a discrete wavelet, or a wavelet that
            is not orthogonal, whose transform would not preserve norms.
    """
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise SettingError(
            f"unknown wavelet {wavelet!r}; orthogonal ones include haar, db2, db4, sym4 and coif1 "
            "(pywt.wavelist(kind='discrete') lists every family)"
        )
    made = pywt.Wavelet(wavelet)
    if not made.orthogonal:
        raise SettingError(
            f"wavelet {wavelet!r} is not orthogonal, so its coefficients' attributions would not "
            "add up to the Jacobian's; choose an orthogonal one: haar, dbN, symN or coifN"
        )
    return made


def max_levels(wavelet: str, shape: tuple[int, int]) -> int:
    """The most levels an image of this shape takes: each level halves both sides exactly, and
    the coarsest filters still fit in the image (``pywt.dwt_max_level``)."""
    fitting = pywt.dwt_max_level(min(shape), check_wavelet(wavelet).dec_len)
    halvings = min(_twos(side) for side in shape)
    return min(fitting, halvings)


def _twos(side: int) -> int:
    """How many times a side can be halved exactly."""
    return (side & -side).bit_length() - 1


@dataclasses.dataclass(frozen=True)
class Block:
    """The coefficients of one level and orientation, and where they lie in the layout.

    Attributes:
        level: 1 for the finest details, ``levels`` for the coarsest and the approximation.
        key: PyWavelets' key, one letter per axis, rows first (see ``ORIENTATIONS``).
        rows, columns: the block's slices of the layout.
    """

    level: int
    key: str
    rows: slice
    columns: slice

    @property
    def orientation(self) -> str:
        return ORIENTATIONS[self.key]

    @property
    def region(self) -> tuple[slice, slice]:
        return self.rows, self.columns


@dataclasses.dataclass(frozen=True)
class Functions:
    """One level's 1-D scaling functions or wavelets along an axis, one per coefficient index.

    Function ``m`` is function 0 moved ``2**level * m`` pixels, periodically; each is nonzero on an
    arc of ``len(values)`` pixels at most, starting at ``starts[m]``.

    Attributes:
        level: the level, from 1.
        kind: 'a' for the scaling function, 'd' for the wavelet.
        length: the axis length in pixels.
        first: function 0 over the whole axis, float64 ``(length,)``.
        start: where function 0's arc starts.
        span: the arc's length.
    """

    level: int
    kind: str
    length: int
    first: np.ndarray
    start: int
    span: int

    @property
    def count(self) -> int:
        """How many functions there are: one per coefficient index."""
        return self.length >> self.level

    @property
    def starts(self) -> np.ndarray:
        """Where each function's arc starts, ``(count,)``."""
        return (self.start + (np.arange(self.count) << self.level)) % self.length

    def arcs(self) -> np.ndarray:
        """The pixels of each function's arc, int ``(count, span)``."""
        return (self.starts[:, None] + np.arange(self.span)) % self.length

    def values(self, start: int, stop: int) -> np.ndarray:
        """Every function's values on pixels ``start`` to ``stop - 1``, float64 ``(count, stop -
        start)``."""
        shifts = np.arange(self.count) << self.level
        return self.first[(np.arange(start, stop)[None, :] - shifts[:, None]) % self.length]


@dataclasses.dataclass(frozen=True)
class WaveletBasis:
    """The orthonormal wavelet basis of images of one shape.

    Args:
        wavelet: an orthogonal PyWavelets wavelet: haar, db2, db4, sym4...
        levels: how many times the transform halves the image.
        shape: the images' ``(height, width)``.

    Raises:
        SettingError: for a wavelet that is unknown or not orthogonal, fewer than one level, or
            more levels than the shape takes (``max_levels``).
    """

    wavelet: str
    levels: int
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        check_wavelet(self.wavelet)
        if not (isinstance(self.levels, int) and self.levels >= 1):
            raise SettingError(f"levels must be a whole number >= 1, not {self.levels!r}")
        most = max_levels(self.wavelet, self.shape)
        if self.levels > most:
            height, width = self.shape
            raise SettingError(
                f"{self.levels} levels are too many for a {height}x{width} image with "
                f"{self.wavelet}: it takes at most {most} (each level halves both sides exactly, "
                "and the coarsest filters must fit in the image)"
            )

    def transform(self, images: np.ndarray) -> np.ndarray:
        """The coefficients of images ``(..., height, width)`` in the layout, the same shape."""
        coefficients = pywt.wavedec2(
            images, self.wavelet, mode=MODE, level=self.levels, axes=(-2, -1)
        )
        return pywt.coeffs_to_array(coefficients, axes=(-2, -1))[0]

    def squared_coefficients(self, images: np.ndarray) -> np.ndarray:
        """The squared coefficients of images ``(n, height, width)``, summed over the images,
        float64 in the layout."""
        return np.sum(np.square(self.transform(images), dtype=np.float64), axis=0)

    def basis_image(self, index: tuple[int, int]) -> np.ndarray:
        """The basis image of the coefficient at ``index`` of the layout, float64 ``shape``."""
        unit = np.zeros(self.shape)
        unit[index] = 1.0
        _, slices = pywt.coeffs_to_array(self._zeros())
        coefficients = pywt.array_to_coeffs(unit, slices, output_format="wavedec2")
        return pywt.waverec2(coefficients, self.wavelet, mode=MODE)

    @functools.cached_property
    def blocks(self) -> list[Block]:
        """Every block, in the layout's order: the approximation, then coarsest details first."""
        _, slices = pywt.coeffs_to_array(self._zeros())
        blocks = [Block(self.levels, "aa", *map(_closed, slices[0]))]
        for level, details in zip(range(self.levels, 0, -1), slices[1:], strict=True):
            blocks.extend(
                Block(level, key, *map(_closed, details[key])) for key in ("da", "ad", "dd")
            )
        return blocks

    def functions(self, axis: int, level: int, kind: str) -> Functions:
        """The 1-D functions of one level and kind along the rows (``axis`` 0) or columns (1)."""
        return _functions(self.wavelet, self.shape[axis], level, kind)

    @functools.cached_property
    def reach(self) -> int:
        """How many pixels past a pixel the arc of a function containing it can extend: the
        longest arc's length less one (the coarsest level's)."""
        return max(
            self.functions(axis, self.levels, kind).span - 1 for axis in (0, 1) for kind in "ad"
        )

    def shares(self, attribution: np.ndarray) -> list[dict]:
        """Each block's share of the squared attribution, ``||J||_F**2`` for a coefficient map.

        Args:
            attribution: a wavelet map in the layout, ``shape``.

        Returns:
            ``{"level", "orientation", "share"}`` per block, in the layout's order; the shares
            add up to 1 (all 0 for a map of zeros).
        """
        squares = np.square(np.asarray(attribution, np.float64))
        total = float(np.sum(squares))
        return [
            {
                "level": block.level,
                "orientation": block.orientation,
                "share": float(np.sum(squares[block.region])) / total if total > 0 else 0.0,
            }
            for block in self.blocks
        ]

    def summary(self, attribution: np.ndarray) -> dict:
        """What stage 2 writes beside a wavelet map: the transform, ``||J||_F**2`` (the sum of
        the squared map) and each block's share of it, as ``shares`` gives them."""
        return {
            "wavelet": self.wavelet,
            "levels": self.levels,
            "mode": MODE,
            "shape": list(self.shape),
            "squared_norm": math.fsum(np.square(np.asarray(attribution, np.float64)).ravel()),
            "shares": self.shares(attribution),
        }

    def canvas(self, rows: slice, columns: slice) -> "Canvas":
        """The periodic part of the image that holds pixels ``rows`` x ``columns`` and every basis
        image touching them."""
        unit = 1 << self.levels
        origins, sides = [], []
        for span, length in zip((rows, columns), self.shape, strict=True):
            origin = (span.start - self.reach) // unit * unit
            side = -(-(span.stop + self.reach - origin) // unit) * unit
            if side >= length:
                origin, side = 0, length
            origins.append(origin)
            sides.append(side)
        return Canvas(self, WaveletBasis(self.wavelet, self.levels, tuple(sides)), tuple(origins))

    def _zeros(self) -> list:
        return pywt.wavedec2(np.zeros(self.shape), self.wavelet, mode=MODE, level=self.levels)


def _closed(part: slice) -> slice:
    """A slice with its start written out, as PyWavelets leaves it None at 0."""
    return slice(part.start or 0, part.stop)


@functools.cache
def _functions(wavelet: str, length: int, level: int, kind: str) -> Functions:
    """Function 0 of a level and kind, and its arc, read off PyWavelets' inverse transform.

    The arc comes from the same transform with every filter tap made positive, so that no
    cancellation can hide a pixel the function reaches.
    """
    made = pywt.Wavelet(wavelet)
    positive = pywt.Wavelet(
        f"{wavelet}-positive", filter_bank=[np.abs(taps) for taps in made.filter_bank]
    )
    coefficients = [np.zeros(length >> level), np.zeros(length >> level)]
    coefficients += [np.zeros(length >> finer) for finer in range(level - 1, 0, -1)]
    coefficients[0 if kind == "a" else 1][0] = 1.0
    first = pywt.waverec(coefficients, made, mode=MODE)
    reached = pywt.waverec(coefficients, positive, mode=MODE) > 0
    if reached.all():
        return Functions(level, kind, length, first, 0, length)
    # The arc starts just after the longest run of pixels the function does not reach.
    start = int(np.flatnonzero(reached & ~np.roll(reached, 1))[0])
    rolled = np.roll(reached, -start)
    return Functions(level, kind, length, first, start, int(np.flatnonzero(rolled)[-1]) + 1)


@dataclasses.dataclass(frozen=True)
class Canvas:
    """A periodic part of an image, as large as a tile and the reach of its basis images.

    A basis image that touches the tile lies whole inside the canvas, without wrapping around the
    canvas's own edges, and so is a basis image of the canvas too, moved by ``origin``: the
    canvas's coefficients of anything inside the tile are the image's. Where the tile and its
    reach cover an axis, the canvas is the whole axis.

    Attributes:
        image: the basis of the whole image.
        basis: the basis of the canvas, of its own shape.
        origin: the image pixel at the canvas's top left, a multiple of ``2**levels``; it may be
            negative, and the canvas wraps around the image's edges as the transform does.
    """

    image: WaveletBasis
    basis: WaveletBasis
    origin: tuple[int, int]

    def offset(self, rows: slice, columns: slice) -> tuple[int, int]:
        """Where pixels ``rows`` x ``columns`` of the image start in the canvas."""
        return rows.start - self.origin[0], columns.start - self.origin[1]

    def add_to(self, total: np.ndarray, coefficients: np.ndarray) -> None:
        """Adds values of the canvas's coefficients, in its layout, to the image's coefficients
        they are, in the image's layout."""
        for whole, part in zip(self.image.blocks, self.basis.blocks, strict=True):
            rows, columns = (
                (origin >> part.level) + np.arange(side.stop - side.start)
                for origin, side in zip(self.origin, part.region, strict=True)
            )
            block = total[whole.region]
            block[np.ix_(rows % block.shape[0], columns % block.shape[1])] += coefficients[
                part.region
            ]


def level_periods(level: int) -> tuple[int, int]:
    """The periods, in pixels, of the variations a level's details respond to: from ``2**level``
    to ``2**(level + 1)`` pixels; the approximation at a level keeps those longer than
    ``2**(level + 1)``."""
    return 2**level, 2 ** (level + 1)
