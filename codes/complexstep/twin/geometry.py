"""Receptive-field geometry: where each pixel's influence lands, and where each output looks.

Every complex layer says how an interval of indices along one spatial axis moves through it:
forwards (``footprint``: which outputs an input can change) and backwards (``receptive_field``:
which inputs an output depends on). From these alone, this module works out for a chain of layers
and an axis length:

- the footprints and receptive fields at every level (``AxisGeometry``);
- the lattice periods at which pixels, or output cells, can share a pass without their influence
  overlapping, and how the complex-step engine refines them from layer to layer;
- how a large image is split into overlapping tiles whose outputs are exact (``plan_tiles``).

Nothing here knows the paper's architecture, so the engines stay exact for any layer of any chain
of supported layers.
"""

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from complexstep.errors import SettingError

# For hints only: the geometry is plain NumPy, which the engines of PyTorch modules use without
# Keras.
if TYPE_CHECKING:
    from complexstep.twin.complex_layers import ComplexLayer


@dataclasses.dataclass(frozen=True)
class Patches:
    """Where the receptive fields of one level's cells lie along an axis of the input.

    The receptive field of cell ``i`` spans ``size`` pixels from pixel ``stride * i + start``;
    near the border some of them lie outside the image, where padding makes every derivative zero.
    """

    stride: int
    start: int
    size: int


@dataclasses.dataclass(frozen=True)
class AxisGeometry:
    """How index intervals along one spatial axis move through the layers.

    Attributes:
        lengths: the axis length at the input (index 0) and after each layer.
        first, last: ``first[l][i]..last[l][i]`` is the footprint of input index ``i`` after layer
            ``l`` (row 0 is the input itself), shape ``(layers + 1, lengths[0])``.
        fields: ``fields[l] = (first, last)``, the receptive field at the input of each index
            after layer ``l``, arrays of length ``lengths[l]``.
    """

    lengths: tuple[int, ...]
    first: np.ndarray
    last: np.ndarray
    fields: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def of(cls, layers: "list[ComplexLayer]", length: int) -> "AxisGeometry":
        lengths = [length]
        first = [np.arange(length)]
        last = [np.arange(length)]
        fields = [(np.arange(length), np.arange(length))]
        for layer in layers:
            spans = [
                layer.footprint(a, b, lengths[-1]) for a, b in zip(first[-1], last[-1], strict=True)
            ]
            first.append(np.array([a for a, _ in spans]))
            last.append(np.array([b for _, b in spans]))
            below = layer.output_length(lengths[-1])
            spans = [layer.receptive_field(i, i, lengths[-1]) for i in range(below)]
            fields.append(
                (fields[-1][0][[a for a, _ in spans]], fields[-1][1][[b for _, b in spans]])
            )
            lengths.append(below)
        return cls(tuple(lengths), np.stack(first), np.stack(last), tuple(fields))

    def patches(self, level: int) -> Patches | None:
        """The receptive fields after ``level`` layers, or None if they are not evenly spaced."""
        first, last = self.fields[level]
        middle = len(first) // 2
        if middle + 1 >= len(first):
            return None
        stride = int(first[middle + 1] - first[middle])
        start = int(first[middle]) - stride * middle
        patches = Patches(stride, start, int(last[middle] - first[middle]) + 1)
        cells = np.arange(len(first))
        spaced = (
            stride >= 1
            and np.array_equal(first, np.maximum(stride * cells + start, 0))
            and np.array_equal(
                last, np.minimum(stride * cells + start + patches.size - 1, self.lengths[0] - 1)
            )
        )
        return patches if spaced else None

    def separating_period(self, level: int) -> int:
        """The smallest lattice period whose input indices have disjoint footprints at ``level``."""
        return separating_period(self.first[level], self.last[level])

    def cover(self, level: int, period: int) -> np.ndarray:
        """Indicator, per residue modulo ``period``, of the indices its footprints cover.

        Returns:
            float32 array ``(period, lengths[level])``.
        """
        table = np.zeros((period, self.lengths[level]), np.float32)
        for index in range(self.lengths[0]):
            table[index % period, self.first[level][index] : self.last[level][index] + 1] = 1.0
        return table

    def members(self, level: int, period: int) -> np.ndarray:
        """Indicator of each lattice member's own footprint, to read its contribution back.

        Returns:
            float32 array ``(period, ceil(length / period), lengths[level])``: row ``a`` of residue
            ``r`` marks the footprint of input index ``r + a * period`` (all zero past the end).
        """
        length = self.lengths[0]
        table = np.zeros((period, -(-length // period), self.lengths[level]), np.float32)
        for index in range(length):
            residue, member = index % period, index // period
            table[residue, member, self.first[level][index] : self.last[level][index] + 1] = 1.0
        return table


def separating_period(first: np.ndarray, last: np.ndarray) -> int:
    """The smallest period p for which the intervals ``first[i]..last[i]`` and those p further on
    never overlap; intervals that move forward with i then never overlap at any multiple of p."""
    return next((p for p in range(1, len(first)) if np.all(last[:-p] < first[p:])), len(first))


def lattice_periods(geometry: AxisGeometry, costs: list[float]) -> list[int]:
    """Chooses the lattice period, along one axis, of the passes through each layer.

    Pixels that share a pass through layer ``l`` form a lattice whose period must separate their
    footprints after that layer, and a lattice can only be split into sub-lattices whose period is a
    multiple of its own. Among final periods up to twice the smallest, this takes the chain of
    periods with the least work, counting ``costs[l]`` per pass through layer ``l``.
    """
    required = [geometry.separating_period(level) for level in range(1, len(geometry.lengths))]
    length = geometry.lengths[0]
    best, best_cost = None, math.inf
    for final in range(required[-1], min(2 * required[-1], length) + 1):
        periods = [final]
        # Footprints that overlap after a layer overlap after every later one, so the required
        # periods never decrease and each has a divisor of the next at least as large as itself.
        for need in reversed(required[:-1]):
            periods.insert(0, min(d for d in range(need, periods[0] + 1) if periods[0] % d == 0))
        cost = sum(
            period**2 * layer_cost for period, layer_cost in zip(periods, costs, strict=True)
        )
        if cost < best_cost:
            best, best_cost = periods, cost
    return best


@dataclasses.dataclass(frozen=True)
class AxisTile:
    """One tile along one axis: the pixels it reads and the output cells it answers for.

    Attributes:
        start: the first input pixel of the tile.
        length: how many input pixels it spans.
        cells: the output cells, in the whole image's numbering, whose every input lies in the
            tile; each output cell belongs to exactly one tile.
        offset: the whole image's number of the tile's first output cell, so that cell ``i`` of
            the image is cell ``i - offset`` of the tile.
    """

    start: int
    length: int
    cells: range
    offset: int


def field_spacing(axis: AxisGeometry) -> int:
    """How many pixels apart the fields of neighbouring output cells start, mid-axis: the
    product of the strides and pools on the way; 1 where the output has under three cells, 0
    where neighbours read from one pixel on (an upsampled output)."""
    first = axis.fields[-1][0]
    middle = len(first) // 2
    return int(first[middle + 1] - first[middle]) if len(first) > 2 else 1


def plan_axis(geometry: AxisGeometry, step: int, tile_size: int) -> list[AxisTile]:
    """Splits one axis into as few tiles of at most ``tile_size`` pixels as exactness allows.

    Each tile starts at a multiple of ``step``, so that every pooling window of a tile is one of
    the whole image's, and spans the receptive fields of the output cells it answers for. Every
    value in the cone of those cells, at every layer, then depends only on pixels of the tile,
    where the image's own border is the tile's border and 'same' padding pads both alike, so the
    tile's Jacobian rows for its cells are the image's.

    The tiles answer for equal runs of output cells and all have the same length, just enough for
    such a run, so that they overlap little and the engines compile once for them all; the last
    ones move back from the image's end where they would pass it.

    Args:
        geometry: the geometry of the whole axis.
        step: the multiple of which tile starts and lengths must be.
        tile_size: the largest tile length wanted.

    Returns:
        The tiles in order; their ``cells`` partition the output axis.

    Raises:
        SettingError: if ``tile_size`` cannot hold the receptive field of one output cell.
    """
    length, outputs = geometry.lengths[0], geometry.lengths[-1]
    first, last = geometry.fields[-1]
    starts = first // step * step
    ends = -(-(last + 1) // step) * step
    if length <= tile_size:
        return [AxisTile(0, length, range(outputs), 0)]
    for count in range(2, outputs + 1):
        run = -(-outputs // count)
        need = int(np.max(ends[run - 1 :] - starts[: outputs - run + 1]))
        if need <= tile_size:
            break
    else:
        raise SettingError(
            f"tiles of {tile_size} pixels cannot hold the receptive field of one output cell"
        )
    tiles = []
    for low in range(0, outputs, run):
        start = int(min(starts[low], length - need))
        tiles.append(
            AxisTile(start, need, range(low, min(low + run, outputs)), start * outputs // length)
        )
    return tiles


def congruent(tile: AxisTile, length: int, step: int) -> AxisTile:
    """The tile grown at its end (or, at the axis's end, moved back) to a length that leaves the
    same remainder after division by ``step`` as the axis's ``length``: a 'same'-padded layer
    of stride ``step`` pads such a tile as it pads the axis."""
    grown = min(length, tile.length + (length - tile.length) % step)
    return dataclasses.replace(tile, start=min(tile.start, length - grown), length=grown)


def matched_tile(whole: AxisGeometry, tile: AxisTile, alone: AxisGeometry) -> AxisTile | None:
    """The tile with the offset of its cells, where a graph's outputs for them are the image's.

    ``plan_axis`` numbers a tile's cells as a chain's 'same' layers do, in proportion to its
    start. A graph's layers ('valid' or strided padding, crops, pads) may number them otherwise,
    and place their windows by the length they are given: its tile is kept only where each of
    its cells, computed on the tile alone, reads the very pixels the image's cell reads, neither
    fewer (a field the tile's border cut) nor others (windows placed otherwise).

    Args:
        whole: the geometry of the whole axis.
        tile: a tile ``plan_axis`` made of it.
        alone: the geometry of an axis of the tile's length.

    Returns:
        The tile with its ``offset`` found, or None where no offset gives the image's fields.
    """
    first, last = (np.asarray(bound) - tile.start for bound in whole.fields[-1])
    tile_first, tile_last = alone.fields[-1]
    cells = np.arange(tile.cells.start, tile.cells.stop)
    candidates = np.flatnonzero((tile_first == first[cells[0]]) & (tile_last == last[cells[0]]))
    for candidate in candidates:
        local = cells - cells[0] + candidate
        if (
            local[-1] < len(tile_first)
            and np.array_equal(tile_first[local], first[cells])
            and np.array_equal(tile_last[local], last[cells])
        ):
            return dataclasses.replace(tile, offset=int(cells[0] - candidate))
    return None


def changed_windows(
    geometry: AxisGeometry, spans: list[tuple[int, int]], step: int
) -> list[AxisTile]:
    """For each span of input indices, the window of the axis that computes exactly the outputs
    the span can change.

    A window's ``cells`` are the outputs in the span's footprint, and the window spans their
    receptive fields from a multiple of ``step``, as ``plan_axis``'s tiles do, so its outputs for
    those cells are the whole axis's. All windows have one length, the longest any span needs, so
    that a model compiled for one takes them all.

    Args:
        geometry: the geometry of the whole axis.
        spans: ``(first, last)`` input indices, inclusive.
        step: the multiple of which window starts and lengths must be.
    """
    length, outputs = geometry.lengths[0], geometry.lengths[-1]
    first, last = geometry.fields[-1]
    cells = [range(geometry.first[-1][a], geometry.last[-1][b] + 1) for a, b in spans]
    starts = [first[run.start] // step * step for run in cells]
    ends = [-(-(last[run.stop - 1] + 1) // step) * step for run in cells]
    need = int(max(end - start for start, end in zip(starts, ends, strict=True)))
    windows = []
    for run, start in zip(cells, starts, strict=True):
        start = int(min(start, length - need))
        windows.append(AxisTile(start, need, run, start * outputs // length))
    return windows


@dataclasses.dataclass(frozen=True)
class Tile:
    """A tile of an image or a volume: one ``AxisTile`` along each spatial axis."""

    axes: tuple[AxisTile, ...]

    @property
    def rows(self) -> AxisTile:
        """The tile along a micrograph's rows, its first axis."""
        return self.axes[0]

    @property
    def columns(self) -> AxisTile:
        """The tile along a micrograph's columns, its second axis."""
        return self.axes[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(axis.length for axis in self.axes)

    @property
    def region(self) -> tuple[slice, ...]:
        """The tile's pixels, as slices of the image."""
        return tuple(slice(axis.start, axis.start + axis.length) for axis in self.axes)


def plan_tiles(
    layers: "list[ComplexLayer]", height: int, width: int, step: int, tile_size: int
) -> list[Tile]:
    """Splits an image into tiles whose outputs are exact, as ``plan_axis`` does along each axis."""
    rows = plan_axis(AxisGeometry.of(layers, height), step, tile_size)
    columns = plan_axis(AxisGeometry.of(layers, width), step, tile_size)
    return [Tile((row, column)) for row in rows for column in columns]
