"""The engines of any encoder: column norms of the Jacobian of a graph twin at one image.

The real pass fixes every layer's state; the graph's linear maps then take perturbations of the
image to the output (forward) and output-shaped vectors back to the image (adjoint). Each pixel
has one Jacobian column per input channel, and its attribution is the norm of those columns.

- Forward passes, one per lattice of pixels and channel: pixels whose footprints (the output
  cells they can change) are apart share a pass, each told apart by where its contribution
  lands. This is the complex step: the perturbation is ``h`` on those pixels, and what comes out
  is ``Im f / h`` of the complex twin.
- Reverse passes, one per lattice of output cells and value: cells whose receptive fields are apart
  share a pass, so that every pixel of the pulled-back sum holds one cell's derivative and the
  squares add up the squared Jacobian entries.

Where a layer reads a whole axis (a dense latent, global pooling, group normalisation), a
footprint is the whole image and the forward passes are one per pixel, while the reverse passes
are one per code value: the jacobian engine takes whichever needs fewer passes; the complex-step
engine always goes forward, as the paper does.
"""

import itertools
import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError
from complexstep.twin.geometry import AxisGeometry, separating_period

Cells = tuple[range, ...]
"""The output cells an engine answers for: a range along each spatial axis."""


def ignore_passes(passes: int) -> None:
    """The default ``on_pass``: nobody is told."""


class Layout(Protocol):
    """A linearised graph's geometry for one image size, and its output laid out as cells."""

    axes: list[AxisGeometry]
    cells: tuple[int, ...]
    values: int

    def to_cells(self, y):
        """The output ``(batch,) + the layer's shape`` as ``(batch, *cells, values)``."""

    def from_cells(self, g):
        """The inverse of ``to_cells``."""


class LinearisedGraph(Protocol):
    """What the engines need of a network cut at a layer, in the framework that computes it:
    ``twin.graph.GraphTwin`` for Keras models, ``pytorch.graph`` for PyTorch modules.

    ``real_pass`` takes an image ``(1, *spatial, channels)`` and returns every node's value and
    state; ``forward`` and ``adjoint`` push batches through the linear maps those states fix;
    ``tensor`` and ``numpy`` move arrays between NumPy and the framework, on its device.
    """

    spatial: int
    channels: int

    def geometry(self, spatial: tuple[int, ...]) -> Layout: ...

    def real_pass(self, x) -> tuple[list, list]: ...

    def forward(self, t, values: list, states: list): ...

    def adjoint(self, g, values: list, states: list): ...

    def tensor(self, array: np.ndarray): ...

    def numpy(self, tensor) -> np.ndarray: ...


class GraphEngine:
    """Attribution maps of a graph twin for images of one spatial shape.

    Args:
        graph: the network cut at its layer: ``twin.graph.cut`` of a Keras model, or a PyTorch
            module's graph.
        shape: the image's spatial sides.
        batch_size: perturbations of a 256x256 image pushed through the graph at once; fewer
            for larger images.
        h: the imaginary step of the forward passes.
        direction: "forward", "reverse", or None for the one with fewer passes.

    Attributes:
        shape: the spatial sides of the images it explains.
        output_shape: the output as cells along each spatial axis, then values per cell.
        direction: "forward" or "reverse", the passes it takes.
        passes: how many passes one image's map takes.
        row_passes: how many reverse passes the Jacobian's rows take.
    """

    def __init__(
        self,
        graph: LinearisedGraph,
        shape: tuple[int, ...],
        batch_size: int = defaults.ENGINE_BATCH_SIZE,
        h: float = defaults.H,
        direction: str | None = None,
    ):
        if batch_size < 1:
            raise SettingError(f"batch_size must be positive, not {batch_size}")
        self.graph = graph
        self.shape = tuple(shape)
        self.layout = graph.geometry(self.shape)
        self.axes = self.layout.axes
        self.output_shape = (*self.layout.cells, self.layout.values)
        self.channels = graph.channels
        self.h = h
        self.forward_periods = tuple(
            separating_period(axis.first[-1], axis.last[-1]) for axis in self.axes
        )
        self.reverse_periods = tuple(separating_period(*axis.fields[-1]) for axis in self.axes)
        forward = math.prod(self.forward_periods) * self.channels
        reverse = math.prod(self.reverse_periods) * self.layout.values
        if direction is None:
            direction = "forward" if forward <= reverse else "reverse"
        self.direction = direction
        self.passes = forward if direction == "forward" else reverse
        self.row_passes = reverse
        pixels = math.prod(self.shape)
        self._batch = max(1, int(batch_size * min(1.0, defaults.IMAGE_SIZE**2 / pixels)))

    def __call__(self, image: np.ndarray, on_pass: Callable[[int], None] = ignore_passes):
        """The attribution map of one image, ``shape``."""
        return np.sqrt(self.squares(image, on_pass=on_pass))

    def squares(self, image, cells: Cells | None = None, on_pass=ignore_passes) -> np.ndarray:
        """The squared attribution of every pixel, over all its channels, ``shape``."""
        return self.channel_squares(image, cells, on_pass).sum(axis=-1)

    def channel_squares(
        self, image, cells: Cells | None = None, on_pass=ignore_passes
    ) -> np.ndarray:
        """The squared norm of each pixel's Jacobian column per channel, ``shape + (channels,)``;
        over the output cells ``cells`` only where given."""
        return self.squares_of_mean([image], cells, on_pass)

    def squares_of_mean(
        self, images, cells: Cells | None = None, on_pass=ignore_passes
    ) -> np.ndarray:
        """The squared column norms of the mean of the Jacobians at several images, per channel,
        ``shape + (channels,)``: each pass is averaged over the images before it is squared."""
        points = [self.real_pass(image) for image in images]
        owned = self._owned(cells)
        if self.direction == "forward":
            return self._forward_squares(points, owned, on_pass)
        return self._reverse_squares(points, owned, on_pass)

    def real_pass(self, image: np.ndarray) -> tuple[list, list]:
        """Each layer's real value and state for one image, ``shape`` or ``shape + (channels,)``."""
        image = np.asarray(image, np.float32)
        if image.shape[: len(self.shape)] != self.shape:
            sides = "x".join(map(str, self.shape))
            raise ImageSizeError(
                f"the engine explains {sides} images, not {'x'.join(map(str, image.shape))}"
            )
        x = image.reshape(1, *self.shape, self.channels)
        return self.graph.real_pass(self.graph.tensor(x))

    def output(self, image: np.ndarray) -> np.ndarray:
        """The layer's output for one image, as the model lays it out."""
        values, _ = self.real_pass(image)
        return self.graph.numpy(values[-1])[0]

    def pull_back(self, image: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """``J^T u`` for an ``output_shape`` vector ``u``, ``shape + (channels,)``."""
        values, states = self.real_pass(image)
        g = self.layout.from_cells(np.asarray(cotangent, np.float32)[None])
        pulled = self.graph.adjoint(g, values, states)
        return self.graph.numpy(pulled)[0]

    def _owned(self, cells: Cells | None) -> np.ndarray | None:
        if cells is None:
            return None
        owned = np.zeros((*self.layout.cells, 1), np.float32)
        owned[tuple(slice(run.start, run.stop) for run in cells)] = 1.0
        return owned

    def _forward_squares(self, points, owned, on_pass) -> np.ndarray:
        squares = np.zeros((*self.shape, self.channels), np.float32)
        seeds = list(itertools.product(*map(range, self.forward_periods), range(self.channels)))
        members = [
            axis.members(1, period)
            for axis, period in zip(self.axes, self.forward_periods, strict=True)
        ]
        for start in range(0, len(seeds), self._batch):
            chunk = seeds[start : start + self._batch]
            t = np.zeros((len(chunk), *self.shape, self.channels), np.float32)
            for index, (*residues, channel) in enumerate(chunk):
                t[(index, *self._lattice(residues, self.forward_periods), channel)] = self.h
            y = self._mean(
                lambda values, states: self.graph.forward(self.graph.tensor(t), values, states),
                points,
            )
            y = self.graph.numpy(self.layout.to_cells(y)) / np.float32(self.h)
            if owned is not None:
                y = y * owned
            energy = np.sum(np.square(y), axis=-1)
            for index, (*residues, channel) in enumerate(chunk):
                block = energy[index]
                for axis, residue in enumerate(residues):
                    rows = members[axis][residue]
                    block = np.moveaxis(np.tensordot(rows, block, axes=([1], [axis])), 0, axis)
                lattice = self._lattice(residues, self.forward_periods)
                sides = [index.size for index in lattice]
                squares[(*lattice, channel)] += block[tuple(slice(0, side) for side in sides)]
            on_pass(len(chunk))
        return squares

    def _reverse_squares(self, points, owned, on_pass) -> np.ndarray:
        squares = np.zeros((*self.shape, self.channels), np.float32)
        for g, count in self._seed_batches(owned):
            pulled = self._mean(
                lambda values, states: self.graph.adjoint(
                    self.layout.from_cells(self.graph.tensor(g)), values, states
                ),
                points,
            )
            squares += np.sum(np.square(self.graph.numpy(pulled)), axis=0)
            on_pass(count)
        return squares

    def jacobian_rows(
        self, image: np.ndarray, cells: Cells | None = None, on_pass=ignore_passes
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Jacobian's rows for the output cells ``cells`` of a grey micrograph's model, each
        over its receptive field, as ``JacobianAttribution.jacobian_rows`` gives them."""
        values, states = self.real_pass(image)
        output = self.graph.numpy(self.layout.to_cells(values[-1]))[0]
        rows = RowWindows(self.axes, self.output_shape, self.reverse_periods, cells)
        for g, seeds in self._seed_batches(self._owned(cells), with_seeds=True):
            pulled = self.graph.adjoint(
                self.layout.from_cells(self.graph.tensor(g)), values, states
            )
            rows.add(self.graph.numpy(pulled)[..., 0], seeds)
            on_pass(len(seeds))
        return output, rows.values

    def _seed_batches(self, owned: np.ndarray | None, with_seeds: bool = False):
        """Yields batches of reverse seeds, each a lattice of output cells set to one in one
        value, with how many there are (or the seeds themselves)."""
        seeds = list(
            itertools.product(*map(range, self.reverse_periods), range(self.layout.values))
        )
        for start in range(0, len(seeds), self._batch):
            chunk = seeds[start : start + self._batch]
            g = np.zeros((len(chunk), *self.output_shape), np.float32)
            for index, (*residues, value) in enumerate(chunk):
                cells = self._lattice(residues, self.reverse_periods, self.layout.cells)
                g[(index, *cells, value)] = 1.0
            if owned is not None:
                g = g * owned
            yield g, (chunk if with_seeds else len(chunk))

    def _lattice(self, residues, periods, sides=None) -> tuple:
        """Index arrays of a lattice's points, for fancy indexing of the axes it spans."""
        sides = sides or self.shape
        ranges = [
            np.arange(residue, side, period)
            for residue, side, period in zip(residues, sides, periods, strict=True)
        ]
        return np.ix_(*ranges)

    @staticmethod
    def _mean(passes: Callable, points: list):
        """A pass's result averaged over the images' real passes."""
        total = None
        for values, states in points:
            part = passes(values, states)
            total = part if total is None else total + part
        return total / float(len(points)) if len(points) > 1 else total


class RowWindows:
    """The Jacobian's rows of a 2-D output, each kept over its cell's receptive field, cut from
    the maps that reverse passes pull back.

    A seed sets one lattice of output cells, whose receptive fields are apart, in one channel; its
    pulled-back map therefore holds, within each cell's field, that cell's row alone.

    Attributes:
        values: float32 ``output_shape + window``: entry ``[i, j, c, u, v]`` is the derivative of
            output ``(i, j, c)`` with respect to pixel ``(first_i + u, first_j + v)``, where
            ``first`` is where the cell's field starts; zero outside the field.
    """

    def __init__(self, axes: list, output_shape: tuple, periods: tuple, cells: Cells | None):
        self.firsts = [axis.fields[-1][0] for axis in axes]
        lasts = [axis.fields[-1][1] for axis in axes]
        self.window = tuple(
            int(np.max(last - first)) + 1 for first, last in zip(self.firsts, lasts, strict=True)
        )
        self.values = np.zeros(tuple(output_shape) + self.window, np.float32)
        spans = [np.arange(size) for size in self.window]
        self._inside = [
            spans[axis][None, :] <= (lasts[axis] - self.firsts[axis])[:, None] for axis in (0, 1)
        ]
        self._periods = periods
        self._cells = cells

    def add(self, maps: np.ndarray, seeds) -> None:
        """Cuts the rows of each seed's cells from its pulled-back map, ``(seeds, H, W)``."""
        # Padding on the far side lets every window be cut whole, even past the image's end.
        maps = np.pad(maps, ((0, 0), (0, self.window[0]), (0, self.window[1])))
        windows = np.lib.stride_tricks.sliding_window_view(maps, self.window, axis=(1, 2))
        for index, (r, s, channel) in enumerate(seeds):
            i = np.arange(r, self.values.shape[0], self._periods[0])
            j = np.arange(s, self.values.shape[1], self._periods[1])
            if self._cells is not None:
                i = i[(i >= self._cells[0].start) & (i < self._cells[0].stop)]
                j = j[(j >= self._cells[1].start) & (j < self._cells[1].stop)]
            cut = windows[index][np.ix_(self.firsts[0][i], self.firsts[1][j])]
            mask = self._inside[0][i][:, None, :, None] & self._inside[1][j][None, :, None, :]
            self.values[np.ix_(i, j, [channel])] = (cut * mask)[:, :, None]
