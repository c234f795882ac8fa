"""The two engines in the wavelet domain: the attribution of every wavelet coefficient.

The attribution of coefficient ``k`` is ``||Im f(x + i*h*w_k)|| / h = ||J w_k||`` for its basis
image ``w_k`` (see ``wavelets``). Both engines give the squares of these for a tile of an image,
as coefficients of the tile's ``wavelets.Canvas``:

- ``WaveletComplexStep`` perturbs the image along basis images, by complex-step passes. Within one
  block (a level and orientation) the basis images are products of 1-D functions along the rows
  and columns, shifted copies of one another, so they share passes exactly as pixels do in
  ``ComplexStepAttribution``: those whose footprints stay apart go together, on lattices split
  into sparser ones as the layers widen the footprints. ``CoefficientAxis`` works the footprints
  out from the functions' arcs and the layers' geometry.
- ``WaveletJacobian`` transforms the Jacobian's rows: ``J W^T``. Its reverse passes give sums of
  rows over lattices of output cells whose receptive fields do not overlap. Each sum is split,
  with the receptive fields as masks, into sums over sparser lattices whose rows no basis image
  touches two of, so that the squared coefficients of each sum are the sums of its rows' squared
  coefficients. Only as many transforms as sums are made, not one per row.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
from keras import ops

from complexstep.engines.base import Cells, LatticePlan, ignore_passes
from complexstep.engines.complex_step import ComplexStepAttribution
from complexstep.engines.jacobian import JacobianAttribution
from complexstep.engines.wavelet_basis import Functions, WaveletBasis
from complexstep.twin.geometry import AxisGeometry

CANVAS_VALUES = 2**23
"""The most canvas pixels transformed in one call, to bound the memory of large tiles."""


@dataclasses.dataclass(frozen=True)
class CoefficientAxis:
    """Where one level's 1-D wavelet functions of one kind reach, layer by layer, along one axis
    of a tile: the same questions ``geometry.AxisGeometry`` answers for pixels.

    A function's footprint after a layer is the union of the footprints of the tile's pixels on
    its arc. A function whose arc wraps around the image's edges covers both ends of the axis, so
    footprints are kept as indicators rather than intervals; such functions are planned apart
    from the others, whose footprints move forward with their index as pixels' do.

    Attributes:
        lengths: how many functions there are, then the axis length after each layer.
        footprints: per layer, from the first, bool ``(functions, length)``.
        periods: per layer, from the first, the smallest period at and above which every lattice
            of functions has disjoint footprints there.
    """

    lengths: tuple[int, ...]
    footprints: tuple[np.ndarray, ...]
    periods: tuple[int, ...]

    @classmethod
    def of(cls, arcs: np.ndarray, geometry: AxisGeometry) -> "CoefficientAxis":
        """The footprints of functions with arcs ``arcs`` (int ``(functions, span)``, pixels of
        the tile, those outside it ignored) through the layers of ``geometry`` (the tile's)."""
        inside = (arcs >= 0) & (arcs < geometry.lengths[0])
        members, pixels = np.nonzero(inside)[0], arcs[inside]
        footprints, periods = [], []
        for level in range(1, len(geometry.lengths)):
            # Each pixel marks its footprint's interval; the running sum of starts less ends is
            # positive exactly on their union.
            marks = np.zeros((len(arcs), geometry.lengths[level] + 1), np.int32)
            np.add.at(marks, (members, geometry.first[level][pixels]), 1)
            np.add.at(marks, (members, geometry.last[level][pixels] + 1), -1)
            footprint = np.cumsum(marks, axis=1)[:, :-1] > 0
            footprints.append(footprint)
            periods.append(safe_period(footprint))
        return cls((len(arcs), *geometry.lengths[1:]), tuple(footprints), tuple(periods))

    def separating_period(self, level: int) -> int:
        """The period from which on lattices of functions have disjoint footprints after
        ``level`` layers."""
        return self.periods[level - 1]

    def cover(self, level: int, period: int) -> np.ndarray:
        """Indicator, per residue modulo ``period``, of the indices its footprints cover,
        float32 ``(period, lengths[level])``."""
        return np.any(self._by_residue(level, period), axis=0).astype(np.float32)

    def members(self, level: int, period: int) -> np.ndarray:
        """Indicator of each lattice member's own footprint, float32 ``(period, members,
        lengths[level])``: row ``a`` of residue ``r`` is function ``r + a * period``."""
        return self._by_residue(level, period).transpose(1, 0, 2).astype(np.float32)

    def _by_residue(self, level: int, period: int) -> np.ndarray:
        """The footprints as ``(members, period, length)``, padded with empty ones."""
        footprint = self.footprints[level - 1]
        count, length = footprint.shape
        padded = np.zeros((-(-count // period) * period, length), bool)
        padded[:count] = footprint
        return padded.reshape(-1, period, length)


def overlap_distances(touches: np.ndarray) -> np.ndarray:
    """How far apart, in index, the pairs of rows of an indicator that share a column are.

    Args:
        touches: bool ``(items, columns)``.

    Returns:
        The distinct distances ``j - i > 0`` of the pairs ``i < j`` that overlap.
    """
    # Listed column by column, the items touching a column follow each other in index order, so
    # the k-th next entry in the same column pairs each item with every later one in turn.
    columns, items = np.nonzero(touches.T)
    distances = [np.zeros(0, np.int64)]
    for step in range(1, int(np.max(np.bincount(columns), initial=0))):
        same = columns[step:] == columns[:-step]
        distances.append(items[step:][same] - items[:-step][same])
    return np.unique(np.concatenate(distances))


def safe_period(footprint: np.ndarray) -> int:
    """The smallest period at and above which items of the same residue never overlap.

    Lattice periods are refined to multiples and chosen up to twice the least, so every period
    above the one returned must separate too; with footprints that wrap, not every period above
    the smallest separating one does.
    """
    distances = overlap_distances(footprint)
    candidates = np.arange(1, len(footprint) + 1)
    failing = candidates[np.any(distances[None, :] % candidates[:, None] == 0, axis=1)]
    return int(failing.max()) + 1 if len(failing) else 1


class WaveletEngine:
    """What both wavelet engines answer, beside what their pixel engines do."""

    def coefficient_passes(self, basis: WaveletBasis, offset: tuple[int, int]) -> int:
        """How many passes ``coefficient_squares`` takes for this canvas and offset."""
        raise NotImplementedError

    def coefficient_squares(
        self,
        image: np.ndarray,
        basis: WaveletBasis,
        offset: tuple[int, int] = (0, 0),
        cells: Cells | None = None,
        on_pass: Callable[[int], None] = ignore_passes,
    ) -> np.ndarray:
        """The squared attribution of every coefficient of a canvas to the output cells
        ``cells`` (all if None) of the tile ``image``.

        Args:
            image: the tile, float ``shape``.
            basis: the wavelet basis of the canvas holding the tile.
            offset: where the tile starts in the canvas.
            cells: the output cells answered for, or None for all.
            on_pass: called with the number of passes each time some finish.

        Returns:
            float64 ``basis.shape``, in the canvas's layout.
        """
        raise NotImplementedError


class WaveletComplexStep(WaveletEngine, ComplexStepAttribution):
    """Wavelet attributions by complex-step passes along basis images, many per pass.

    Takes the settings of ``ComplexStepAttribution`` and explains pixels as it does too.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._wavelet_plans: dict[tuple, list[tuple[object, LatticePlan]]] = {}

    def coefficient_passes(self, basis, offset):
        return sum(plan.passes for _, _, plan in self._plans(basis, offset))

    def coefficient_squares(self, image, basis, offset=(0, 0), cells=None, on_pass=ignore_passes):
        states, _ = self.real_pass(image)
        owned = self.owned(cells)
        squares = np.zeros(basis.shape)
        for block, (rows, columns), plan in self._plans(basis, offset):
            squares[block.region][np.ix_(rows, columns)] = self.lattice_squares(
                plan, states, owned, on_pass
            )
        return squares

    def _plans(self, basis: WaveletBasis, offset: tuple[int, int]) -> list:
        """The lattice plans of every block: per block, one for each pair of groups of row and
        column functions (``_groups``), with the functions' indices; made once per canvas and
        offset."""
        key = (basis, offset)
        if key not in self._wavelet_plans:
            groups = {}
            plans = []
            for block in basis.blocks:
                pair = []
                for axis, kind in enumerate(block.key):
                    if (axis, block.level, kind) not in groups:
                        functions = basis.functions(axis, block.level, kind)
                        groups[axis, block.level, kind] = self._groups(functions, axis, offset)
                    pair.append(groups[axis, block.level, kind])
                for rows, row_axis, row_profiles in pair[0]:
                    for columns, column_axis, column_profiles in pair[1]:
                        plan = self.lattice_plan(
                            (row_axis, column_axis), (row_profiles, column_profiles)
                        )
                        plans.append((block, (rows, columns), plan))
            self._wavelet_plans[key] = plans
        return self._wavelet_plans[key]

    def _groups(self, functions: Functions, axis: int, offset: tuple[int, int]) -> list:
        """The functions that reach the tile along an axis, those whose arcs wrap around the
        canvas's edges apart from the others: per group, their indices, ``CoefficientAxis`` and
        values on the tile."""
        start, length = offset[axis], self.shape[axis]
        arcs = functions.arcs() - start
        reaching = np.any((arcs >= 0) & (arcs < length), axis=1)
        wrapping = functions.starts + functions.span > functions.length
        geometry = (self.rows, self.columns)[axis]
        values = functions.values(start, start + length)
        return [
            (indices, CoefficientAxis.of(arcs[indices], geometry), values[indices])
            for indices in (
                np.flatnonzero(reaching & ~wrapping),
                np.flatnonzero(reaching & wrapping),
            )
            if len(indices)
        ]


class WaveletJacobian(WaveletEngine, JacobianAttribution):
    """Wavelet attributions as the column norms of ``J W^T``, from the Jacobian's rows.

    Takes the settings of ``JacobianAttribution`` and explains pixels as it does too; its
    ``coefficient_squares`` takes as many passes as the pixel map.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._masks: dict[tuple, tuple] = {}

    def coefficient_passes(self, basis, offset):
        return self.passes

    def coefficient_squares(self, image, basis, offset=(0, 0), cells=None, on_pass=ignore_passes):
        states, _ = self.real_pass(image)
        patch_jacobians = self.patch_jacobians(states)
        periods, masks = self._sublattices(basis, offset)
        factors = [sub // period for sub, period in zip(periods, self.periods, strict=True)]
        height, width = self.shape
        top, left = offset
        per_call = max(1, CANVAS_VALUES // (basis.shape[0] * basis.shape[1]))
        squares = np.zeros(basis.shape)
        for g, seeds in self._seed_batches(self.owned(cells), with_seeds=True):
            maps = self.to_images(
                ops.convert_to_numpy(self.pull_back_rows(g, states, patch_jacobians))
            )
            # Each sum of rows is split into the sums of its sub-lattices, told apart by their
            # receptive fields.
            rows = masks[0][seeds[:, 0][:, None] + self.periods[0] * np.arange(factors[0])]
            columns = masks[1][seeds[:, 1][:, None] + self.periods[1] * np.arange(factors[1])]
            parts = (
                maps[: len(seeds), None, None]
                * rows[:, :, None, :, None]
                * columns[:, None, :, None, :]
            ).reshape(-1, height, width)
            for start in range(0, len(parts), per_call):
                chunk = parts[start : start + per_call]
                canvases = np.zeros((len(chunk), *basis.shape), np.float32)
                canvases[:, top : top + height, left : left + width] = chunk
                squares += basis.squared_coefficients(canvases)
            on_pass(len(seeds))
        return squares

    def _sublattices(self, basis: WaveletBasis, offset: tuple[int, int]) -> tuple:
        """The periods of output cells whose rows no basis image touches two of, multiples of
        the reverse passes' periods, and per axis the receptive fields of each residue,
        float32 ``(period, tile length)``; made once per canvas and offset."""
        key = (basis, offset)
        if key not in self._masks:
            periods, masks = [], []
            for axis, geometry in enumerate(self.axes):
                first, last = geometry.fields[-1]
                touches = []
                for level in range(1, basis.levels + 1):
                    for kind in "ad":
                        arcs = basis.functions(axis, level, kind).arcs() - offset[axis]
                        touches.append(
                            np.any(
                                (arcs[None] >= first[:, None, None])
                                & (arcs[None] <= last[:, None, None]),
                                axis=2,
                            )
                        )
                distances = overlap_distances(np.concatenate(touches, axis=1))
                period = self.periods[axis]
                while np.any(distances % period == 0):
                    period += self.periods[axis]
                table = np.zeros((period, geometry.lengths[0]), np.float32)
                for cell, (low, high) in enumerate(zip(first, last, strict=True)):
                    table[cell % period, low : high + 1] = 1.0
                periods.append(period)
                masks.append(table)
            self._masks[key] = (tuple(periods), tuple(masks))
        return self._masks[key]
