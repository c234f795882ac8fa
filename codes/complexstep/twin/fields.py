"""Which input indices each output index of a layer reads along one spatial axis, composed
through a graph from the image to the layer explained.

Each layer twin says, along each spatial axis, which indices of its input every index of its
output reads (its fields); composing them from the image up gives the pixels every output cell
reads, and inverting those, the cells every pixel can change: what the engines need to let
pixels, or cells, share a pass. Plain NumPy, so that the graphs of Keras models and of PyTorch
modules share it.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from complexstep.twin.geometry import AxisGeometry

IDENTITY = "identity"
"""``fields`` of a layer whose output index ``j`` along an axis reads input index ``j`` alone."""

Fields = tuple[np.ndarray, np.ndarray] | str | None
"""What ``LayerTwin.fields`` gives: ``(first, last)`` input indices, inclusive, per output index;
``IDENTITY``; or None where every output index reads the whole axis."""


def window_fields(kernel: int, stride: int, dilation: int, padding: str) -> Callable:
    """The fields of a sliding window along one axis, as Keras's padding places it."""

    def fields(dim, length, out_length):
        span = (kernel - 1) * dilation
        if padding == "same":
            before = max((out_length - 1) * stride + span + 1 - length, 0) // 2
        elif padding == "causal":
            before = span
        else:
            before = 0
        first = np.arange(out_length) * stride - before
        return np.clip(first, 0, length - 1), np.clip(first + span, 0, length - 1)

    return fields


def transposed_fields(kernel: int, stride: int, dilation: int) -> Callable:
    """The fields of a transposed convolution along one axis, wide enough for any padding."""

    def fields(dim, length, out_length):
        span = (kernel - 1) * dilation
        j = np.arange(out_length)
        first = -(-(j - span) // stride)
        last = (j + span) // stride
        return np.clip(first, 0, length - 1), np.clip(last, 0, length - 1)

    return fields


def per_dim(makers: tuple[Callable, ...]) -> Callable:
    """Fields along spatial axis ``dim`` (1 for the first) from one maker per axis."""

    def fields(dim, length, out_length):
        return makers[dim - 1](dim, length, out_length)

    return fields


def shifted(offset: int) -> Callable:
    """Fields of output ``j`` reading input ``j - offset``; none where that lies outside."""

    def fields(dim, length, out_length):
        j = np.arange(out_length) - offset
        inside = (j >= 0) & (j < length)
        return np.where(inside, j, length), np.where(inside, j, -1)

    return fields


def upsampled(factor: int, interpolation: str) -> Callable:
    def fields(dim, length, out_length):
        j = np.arange(out_length)
        if interpolation == "nearest":
            return j // factor, j // factor
        # Half-pixel centres read the two inputs around (j + 1/2) / factor - 1/2.
        centre = np.floor((j + 0.5) / factor - 0.5).astype(int)
        return np.clip(centre, 0, length - 1), np.clip(centre + 1, 0, length - 1)

    return fields


def layout(
    reads: list[list[int]],
    image: int,
    shapes: list[tuple],
    twins: list,
    spatial: tuple[int, ...],
    backend,
) -> "Layout":
    """The geometry of a graph for an image of sides ``spatial``.

    Args:
        reads: for each node, the nodes it reads, each before it.
        image: the node that is the image.
        shapes: each node's output shape for such an image, batch left out.
        twins: each node's twin (with ``fields`` and ``keeps_axes``), None for the identity.
        spatial: the image's spatial sides.
        backend: the framework's ``transpose`` and ``reshape``, to lay the output out as cells.
    """
    placed = []
    for axis, length in enumerate(spatial):
        dims, composed = [], []
        for position, twin in enumerate(twins):
            if position == image:
                dims.append(axis + 1)
                composed.append((np.arange(length), np.arange(length)))
                continue
            dim = dims[reads[position][0]]
            whole = dim is None or any(dims[read] != dim for read in reads[position])
            own = IDENTITY
            if not whole and twin is not None:
                in_length = shapes[reads[position][0]][dim - 1]
                own = (
                    twin.fields(dim, in_length, shapes[position][dim - 1])
                    if twin.keeps_axes
                    else None
                )
            if whole or own is None:
                dims.append(None)
                composed.append(None)
                continue
            dims.append(dim)
            out_length = shapes[position][dim - 1]
            composed.append(
                _hull([_compose(composed[read], own, out_length) for read in reads[position]])
            )
        placed.append((dims[-1], composed[-1]))
    return Layout(tuple(spatial), tuple(shapes[-1]), placed, backend)


def _compose(inner, own, out_length: int):
    """Pixel fields of a node's outputs from its input's pixel fields and its own index fields."""
    if own == IDENTITY:
        return inner
    first, last = inner
    own_first, own_last = own
    composed_first = np.full(out_length, len(first), np.int64)
    composed_last = np.full(out_length, -1, np.int64)
    for j in range(out_length):
        if own_last[j] >= own_first[j]:
            composed_first[j] = first[own_first[j] : own_last[j] + 1].min()
            composed_last[j] = last[own_first[j] : own_last[j] + 1].max()
    return composed_first, composed_last


def _hull(fields: list):
    first = np.min([f for f, _ in fields], axis=0)
    last = np.max([b for _, b in fields], axis=0)
    return first, last


@dataclasses.dataclass(frozen=True)
class Layout:
    """The geometry of a graph for one image size, and how its output is laid out as cells.

    Attributes:
        spatial: the image's spatial sides.
        output_shape: the layer's output shape as the model gives it, batch left out.
        cells: the output cells along each spatial axis (1 where the axis is read whole).
        values: the values per cell.
        axes: per spatial axis, an ``AxisGeometry`` from the image to the cells.
        placed: per spatial axis, the output's dimension along it (None where it is read
            whole) and each output index's pixel fields.
        backend: the framework's ``transpose`` and ``reshape``.
    """

    spatial: tuple[int, ...]
    output_shape: tuple[int, ...]
    placed: list
    backend: object

    @property
    def dims(self) -> list[int | None]:
        return [dim for dim, _ in self.placed]

    @property
    def cells(self) -> tuple[int, ...]:
        return tuple(1 if dim is None else self.output_shape[dim - 1] for dim in self.dims)

    @property
    def values(self) -> int:
        return int(np.prod(self.output_shape)) // int(np.prod(self.cells))

    @property
    def axes(self) -> list[AxisGeometry]:
        return [
            _axis_geometry(length, count, fields)
            for length, count, (_, fields) in zip(
                self.spatial, self.cells, self.placed, strict=True
            )
        ]

    def _order(self) -> list[int]:
        kept = [dim for dim in self.dims if dim is not None]
        rest = [dim for dim in range(1, len(self.output_shape) + 1) if dim not in kept]
        return [0, *kept, *rest]

    def to_cells(self, y):
        """The output ``(batch,) + output_shape`` as ``(batch, *cells, values)``."""
        y = self.backend.transpose(y, self._order())
        return self.backend.reshape(y, (-1, *self.cells, self.values))

    def from_cells(self, g):
        """The inverse of ``to_cells``."""
        order = self._order()
        transposed = [self.output_shape[dim - 1] for dim in order[1:]]
        g = self.backend.reshape(g, (-1, *transposed))
        return self.backend.transpose(g, [int(axis) for axis in np.argsort(order)])


def _axis_geometry(length: int, count: int, fields) -> AxisGeometry:
    """An ``AxisGeometry`` of two levels, the pixels and the output cells, from the cells' fields
    (None for one cell reading the whole axis)."""
    if fields is None:
        fields = (np.zeros(1, np.int64), np.full(1, length - 1, np.int64))
    first, last = (np.asarray(side, np.int64) for side in fields)
    footprint_first = np.full(length, count, np.int64)
    footprint_last = np.full(length, -1, np.int64)
    for cell in range(count):
        if last[cell] >= first[cell]:
            span = slice(first[cell], last[cell] + 1)
            footprint_first[span] = np.minimum(footprint_first[span], cell)
            footprint_last[span] = np.maximum(footprint_last[span], cell)
    pixels = np.arange(length)
    return AxisGeometry(
        (length, count),
        np.stack([pixels, footprint_first]),
        np.stack([pixels, footprint_last]),
        ((pixels, pixels), (first, last)),
    )
