"""Stage 2: the attribution of every pixel to a layer's output, by two engines that agree.

For a micrograph ``x`` and the output ``f`` of a chosen layer of the complex twin, the attribution
of pixel ``k`` is ``||Im f(x + i*h*e_k)|| / h``, the complex-step derivative of the whole output
with respect to that pixel (Arumugam & Kiran, Materials & Design, 2022). The twin's real part never
depends on its imaginary part, so once the real pass of ``x`` has fixed every ReLU mask and every
pooling choice, the imaginary part is a linear function of the perturbation and
``Im f(x + i*h*e_k) / h = J e_k``, the k-th column of the Jacobian of ``f``. The two engines
compute the norms of those columns:

- ``ComplexStepAttribution`` runs the real pass once, then pushes imaginary parts forward through
  the layers' linear maps, many pixels per pass: pixels whose footprints (the outputs they can
  change) do not overlap share a pass and are told apart by where their contribution lands. As
  footprints grow from layer to layer, a pass is split into passes with sparser pixel lattices, so
  that each layer runs no more passes than its own footprints require.
- ``JacobianAttribution`` builds the whole Jacobian from both ends. Below a split level, each
  layer turns the patch Jacobians of its input (every cell's derivatives with respect to the pixels
  of its receptive field) into its own, by one product for all cells. Above it, output cells are
  pulled back through the adjoint maps (reverse mode), many cells per pass: cells whose receptive
  fields do not overlap share a pass, and the squares of the pulled-back sums add up to the
  squared column norms.

Footprints and receptive fields are worked out from the layers themselves, so both engines stay
right for any layer of the model and for other architectures built from the same layer kinds.
"""

import dataclasses
import itertools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from keras import ops

from complexstep import architecture, cli, images
from complexstep.cli import UserError
from complexstep.complex_layers import ComplexLayer

DEFAULT_H = 0.1
DEFAULT_BATCH_SIZE = 16


@dataclasses.dataclass(frozen=True)
class _ImageWork:
    """What the passes over one image share: its layer states, the sums, and whom to tell."""

    states: list
    squares: np.ndarray
    on_pass: Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class _Patches:
    """Where the receptive fields of one level's cells lie along an axis of the input.

    The receptive field of cell ``i`` spans ``size`` pixels from pixel ``stride * i + start``;
    near the border some of them lie outside the image, where padding makes every derivative zero.
    """

    stride: int
    start: int
    size: int


@dataclasses.dataclass(frozen=True)
class _AxisGeometry:
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
    def of(cls, layers: list[ComplexLayer], length: int) -> "_AxisGeometry":
        lengths = [length]
        first = [np.arange(length)]
        last = [np.arange(length)]
        fields = [(np.arange(length), np.arange(length))]
        for layer in layers:
            spans = [layer.footprint(a, b, lengths[-1]) for a, b in zip(first[-1], last[-1])]
            first.append(np.array([a for a, _ in spans]))
            last.append(np.array([b for _, b in spans]))
            below = layer.output_length(lengths[-1])
            spans = [layer.receptive_field(i, i, lengths[-1]) for i in range(below)]
            fields.append(
                (fields[-1][0][[a for a, _ in spans]], fields[-1][1][[b for _, b in spans]])
            )
            lengths.append(below)
        return cls(tuple(lengths), np.stack(first), np.stack(last), tuple(fields))

    def patches(self, level: int) -> _Patches | None:
        """The receptive fields after ``level`` layers, or None if they are not evenly spaced."""
        first, last = self.fields[level]
        middle = len(first) // 2
        if middle + 1 >= len(first):
            return None
        stride = int(first[middle + 1] - first[middle])
        start = int(first[middle]) - stride * middle
        patches = _Patches(stride, start, int(last[middle] - first[middle]) + 1)
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
        return _separating_period(self.first[level], self.last[level])

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


def _separating_period(first: np.ndarray, last: np.ndarray) -> int:
    """The smallest period p for which the intervals ``first[i]..last[i]`` and those p further on
    never overlap; intervals that move forward with i then never overlap at any multiple of p."""
    return next((p for p in range(1, len(first)) if np.all(last[:-p] < first[p:])), len(first))


def _lattice_periods(geometry: _AxisGeometry, costs: list[float]) -> list[int]:
    """Chooses the lattice period of the passes through each layer.

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
        cost = sum(period**2 * layer_cost for period, layer_cost in zip(periods, costs))
        if cost < best_cost:
            best, best_cost = periods, cost
    return best


def _compile(function: Callable) -> Callable:
    """Compiles a function of tensors with the backend's whole-program compiler, where it has one.

    Fusing the adjoint maps' masks, repeats and sums into the convolutions around them halves the
    time of a reverse pass on TensorFlow, whose eager kernels each read and write whole tensors.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def _ignore(passes: int) -> None:
    """The default ``on_pass``: nobody is told."""


class _Engine:
    """What both engines share: the twin's layers, their geometry and the real pass.

    Args:
        twin: a complex twin from ``architecture.build_complex_twin``; its output is explained.
        batch_size: how many perturbed copies of a full-resolution image go through a layer at
            once; coarser layers take proportionally more. Larger is faster and uses more memory.

    Attributes:
        passes: how many passes through the last layer one image takes (one when the jacobian
            engine needs none); ``__call__`` reports them as they finish to its ``on_pass``
            callback.
    """

    def __init__(self, twin: keras.Model, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
        self.layers: list[ComplexLayer] = twin.layers[1:]
        self.batch_size = batch_size
        _, height, width, _ = twin.input_shape
        if height != width:
            raise ValueError(f"the twin's input must be square. Received: {twin.input_shape}")
        self.geometry = _AxisGeometry.of(self.layers, height)
        shapes = [twin.input_shape] + [layer.output.shape for layer in self.layers]
        self._sizes = [math.prod(shape[1:]) for shape in shapes]
        self._budget = batch_size * max(self._sizes)
        self._linearize = _compile(self._states)

    def _chunk(self, level: int) -> int:
        """How many tensors of the size at ``level`` fit in one batch."""
        return max(1, self._budget // self._sizes[level])

    def _real_pass(self, image: np.ndarray) -> list:
        """Runs the real pass of one image and returns each layer's state."""
        x = np.asarray(image, np.float32).reshape(1, *image.shape[:2], 1)
        return self._linearize(ops.convert_to_tensor(x))

    def _states(self, x) -> list:
        """Each layer's state for the real input ``x``: what fixes its imaginary linear map."""
        states = []
        for layer in self.layers:
            x, state = layer.real_pass(x)
            states.append(state)
        return states

    def _check(self, image: np.ndarray) -> None:
        size = self.geometry.lengths[0]
        if np.shape(image)[:2] != (size, size):
            raise ValueError(f"image must be {size}x{size}. Received: shape={np.shape(image)}")


class ComplexStepAttribution(_Engine):
    """Attributions by complex-step forward passes, many pixels per pass.

    Pixel ``k`` is perturbed by ``i*h``, and its attribution is ``||Im(output)|| / h``, as in
    Arumugam & Kiran (2022). The real pass is shared by every perturbation of an image, and the
    imaginary passes carry a whole lattice of pixels at once, split into sparser lattices as the
    layers spread each pixel's influence.

    Args:
        twin: a complex twin from ``architecture.build_complex_twin``.
        h: the size of the imaginary step.
        batch_size: see ``_Engine``.
    """

    def __init__(self, twin: keras.Model, h: float = DEFAULT_H, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(twin, batch_size)
        if not h > 0:
            raise ValueError(f"h must be positive. Received: h={h}")
        self.h = h
        costs = [size * layer.taps() for layer, size in zip(self.layers, self._sizes[1:])]
        self.periods = _lattice_periods(self.geometry, costs)
        # Before layer l, the lattices of period periods[l - 1] are split into periods[l], telling
        # the children apart by the indices their footprints cover at that point (level l).
        self._covers = {
            level: self.geometry.cover(level, self.periods[level])
            for level in range(1, len(self.layers))
            if self.periods[level] != self.periods[level - 1]
        }
        self._members = self.geometry.members(len(self.layers), self.periods[-1])
        self.passes = self.periods[-1] ** 2

    def __call__(self, image: np.ndarray, on_pass: Callable[[int], None] = _ignore) -> np.ndarray:
        """The attribution map of one image.

        Args:
            image: float ``(height, width)`` or ``(height, width, 1)`` with values in [0, 1].
            on_pass: called with the number of passes each time some finish.

        Returns:
            float32 ``(height, width)``.
        """
        self._check(image)
        size = self.geometry.lengths[0]
        work = _ImageWork(self._real_pass(image), np.zeros((size, size), np.float32), on_pass)
        period = self.periods[0]
        on_lattice = np.eye(period, dtype=np.float32)[:, np.arange(size) % period]
        residues = np.array([(r, s) for r in range(period) for s in range(period)])
        for start in range(0, len(residues), self._chunk(0)):
            chunk = residues[start : start + self._chunk(0)]
            rows, columns = on_lattice[chunk[:, 0]], on_lattice[chunk[:, 1]]
            t = self.h * rows[:, :, None, None] * columns[:, None, :, None]
            self._forward(ops.convert_to_tensor(t), chunk, 0, work)
        return np.sqrt(work.squares) / np.float32(self.h)

    def _forward(self, t, residues: np.ndarray, level: int, work: _ImageWork) -> None:
        """Pushes the imaginary parts ``t`` of the lattices ``residues`` through layer ``level``
        and on, splitting the lattices where the next layer needs sparser ones."""
        while True:
            t = self.layers[level].imaginary_pass(t, work.states[level])
            level += 1
            if level == len(self.layers):
                self._collect(t, residues, work)
                return
            if level in self._covers:
                self._split(t, residues, level, work)
                return

    def _split(self, t, residues: np.ndarray, level: int, work: _ImageWork) -> None:
        """Splits each lattice into sub-lattices whose footprints stay apart through ``level``."""
        old = self.periods[level - 1]
        offsets = old * np.arange(self.periods[level] // old)
        children = [
            (parent, (r + row_offset, s + column_offset))
            for parent, (r, s) in enumerate(residues)
            for row_offset in offsets
            for column_offset in offsets
        ]
        cover = self._covers[level]
        for start in range(0, len(children), self._chunk(level)):
            chunk = children[start : start + self._chunk(level)]
            parents = np.array([parent for parent, _ in chunk])
            child_residues = np.array([residue for _, residue in chunk])
            rows = ops.convert_to_tensor(cover[child_residues[:, 0]])
            columns = ops.convert_to_tensor(cover[child_residues[:, 1]])
            child = ops.take(t, parents, axis=0)
            child = child * rows[:, :, None, None] * columns[:, None, :, None]
            self._forward(child, child_residues, level, work)

    def _collect(self, t, residues: np.ndarray, work: _ImageWork) -> None:
        """Adds each lattice member's squared output, summed over its own footprint, to squares."""
        period = self.periods[-1]
        energy = ops.sum(ops.square(t), axis=-1)
        rows = ops.convert_to_tensor(self._members[residues[:, 0]])
        columns = ops.convert_to_tensor(self._members[residues[:, 1]])
        sums = ops.convert_to_numpy(
            ops.matmul(ops.matmul(rows, energy), ops.transpose(columns, (0, 2, 1)))
        )
        for (r, s), block in zip(residues, sums):
            target = work.squares[r::period, s::period]
            target += block[: target.shape[0], : target.shape[1]]
        work.on_pass(len(residues))


class JacobianAttribution(_Engine):
    """Attributions as the column norms of the Jacobian, accumulated from both ends.

    Below a split level, the layers' patch Jacobians are built once per image: each cell's
    derivatives with respect to the pixels of its receptive field, by one product per layer. Above
    it, reverse-mode passes pull output cells back through the adjoint maps down to the split
    level, many cells per pass: cells whose receptive fields do not overlap share a pass. Weighting
    the patch Jacobians carries a pass the rest of the way, and each input pixel then holds the
    derivative of at most one of its cells, so the squares of a pass add up the squared Jacobian
    entries of all of them. When every layer has patch Jacobians, they are the Jacobian itself and
    no pass is needed.

    The wide shallow layers cost far less once, as patch Jacobians, than once per pass; the
    split is the level with the least estimated work.

    Args:
        twin: a complex twin from ``architecture.build_complex_twin``.
        batch_size: see ``_Engine``.
        split: how many layers, from the input, are taken as patch Jacobians; None for the split
            with the least estimated work. Every split gives the same numbers.

    Attributes:
        splits: the splits this twin allows: patch Jacobians need the receptive fields of a
            level's cells to be evenly spaced, which upsampling breaks.
    """

    def __init__(
        self,
        twin: keras.Model,
        batch_size: int = DEFAULT_BATCH_SIZE,
        split: int | None = None,
    ):
        super().__init__(twin, batch_size)
        firsts, lasts = self.geometry.fields[-1]
        self.period = _separating_period(firsts, lasts)
        self._channels = self.layers[-1].output.shape[-1]
        # The receptive fields after each level, up to the first that is not evenly spaced.
        self._level_patches = list(
            itertools.takewhile(
                lambda patches: patches is not None,
                map(self.geometry.patches, range(len(self.layers) + 1)),
            )
        )
        self.splits = list(range(len(self._level_patches)))
        if split is None:
            split = self._choose_split()
        elif split not in self.splits:
            raise ValueError(
                f"split must be one of {', '.join(map(str, self.splits))}. Received: split={split}"
            )
        self.split = split
        self._patches = self._level_patches[split]
        self.passes = max(1, self._seeds(split))
        # A pass holds its tensors above the split and its derivatives over every patch.
        largest = max(
            (self.geometry.lengths[split] * self._patches.size) ** 2, *self._sizes[split:]
        )
        self._chunk_of_passes = min(self.passes, max(1, self._budget // largest))
        self._patch_jacobians = _compile(self._patch_jacobians_of)
        self._pull_back = _compile(self._squared_derivatives)
        self._own_squares = _compile(self._squared_patch_jacobians)

    def _seeds(self, split: int) -> int:
        """How many reverse passes an image takes with the given split."""
        return 0 if split == len(self.layers) else self.period**2 * self._channels

    def _choose_split(self) -> int:
        """The split with the least work.

        Work counts multiplications: for each layer below the split, one per output value, tap and
        patch pixel; for each pass, one per output value and tap of the layers above and one per
        value and patch pixel to weigh the patch Jacobians.
        """
        work = [size * layer.taps() for layer, size in zip(self.layers, self._sizes[1:])]
        best, best_cost, below = 0, math.inf, 0.0
        for level in self.splits:
            pixels = self._level_patches[level].size ** 2
            above = sum(work[level:]) + self._sizes[level] * pixels
            cost = below + self._seeds(level) * above
            if cost < best_cost:
                best, best_cost = level, cost
            if level < len(self.layers):
                below += work[level] * pixels
        return best

    def __call__(self, image: np.ndarray, on_pass: Callable[[int], None] = _ignore) -> np.ndarray:
        """The attribution map of one image, as ``ComplexStepAttribution`` but ``h``-free."""
        self._check(image)
        states = self._real_pass(image)
        patch_jacobians = self._patch_jacobians(states)
        if self._seeds(self.split) == 0:
            squares = ops.convert_to_numpy(self._own_squares(patch_jacobians))
            on_pass(1)
        else:
            squares = self._passes(states, patch_jacobians, on_pass)
        # squares[i, j, a, b] belongs to pixel (stride * i + a, stride * j + b), counted from where
        # the first cell's receptive field starts.
        size, stride, start = self.geometry.lengths[0], self._patches.stride, self._patches.start
        squares = squares.transpose(0, 2, 1, 3).reshape(squares.shape[0] * stride, -1)
        return np.sqrt(squares[-start : size - start, -start : size - start])

    def _passes(self, states: list, patch_jacobians, on_pass: Callable[[int], None]) -> np.ndarray:
        """The squared derivatives summed over every reverse pass, as ``_squared_derivatives``."""
        cells = self.geometry.lengths[-1]
        on_lattice = np.eye(self.period, dtype=np.float32)[:, np.arange(cells) % self.period]
        channels = np.eye(self._channels, dtype=np.float32)
        seeds = [
            (r, s, c)
            for r in range(self.period)
            for s in range(self.period)
            for c in range(self._channels)
        ]
        size = self._chunk_of_passes
        squares = 0.0
        for start in range(0, len(seeds), size):
            chunk = np.array(seeds[start : start + size])
            rows, columns = on_lattice[chunk[:, 0]], on_lattice[chunk[:, 1]]
            # Every batch has the same shape, so the compiled pass is traced once; the last one is
            # padded with seeds of zero, which add nothing.
            g = np.zeros((size, cells, cells, self._channels), np.float32)
            g[: len(chunk)] = (
                rows[:, :, None, None]
                * columns[:, None, :, None]
                * channels[chunk[:, 2]][:, None, None]
            )
            squares += ops.convert_to_numpy(
                self._pull_back(ops.convert_to_tensor(g), states, patch_jacobians)
            )
            on_pass(len(chunk))
        return squares

    def _patch_jacobians_of(self, states: list):
        """The patch Jacobians at the split level, ``(height, width, patch pixels, channels)``."""
        size = self.geometry.lengths[0]
        j = ops.ones((1, 1, size, size, 1))
        for level in range(self.split):
            j = self.layers[level].patch_pass(j, states[level], self._level_patches[level].stride)
        _, _, height, width, channels = j.shape
        return ops.reshape(ops.transpose(j, (2, 3, 0, 1, 4)), (height, width, -1, channels))

    def _squared_derivatives(self, g, states: list, patch_jacobians):
        """Pulls the seeds ``g`` back to the input and sums their squared derivatives.

        Returns:
            As ``_by_pixel``, summed over the seeds.
        """
        layers, states = self.layers[self.split :], states[self.split :]
        for layer, state in zip(reversed(layers), reversed(states)):
            g = layer.imaginary_adjoint(g, state)
        g = ops.transpose(g, (1, 2, 3, 0))
        if g.shape[2] == 1:
            # Over one channel the product is a broadcast, which batched matrix products would
            # run one cell at a time.
            derivatives = patch_jacobians * g
        else:
            derivatives = ops.matmul(patch_jacobians, g)
        return ops.sum(ops.square(self._by_pixel(derivatives)), axis=-1)

    def _squared_patch_jacobians(self, patch_jacobians):
        """The squares of every Jacobian entry, summed by pixel, as ``_by_pixel``."""
        squares = ops.sum(ops.square(patch_jacobians), axis=-1, keepdims=True)
        return self._by_pixel(squares)[..., 0]

    def _by_pixel(self, values):
        """Adds per-cell values over patches into the pixels they belong to.

        Padding and adding whole blocks, where slices could be updated in place, lets the squares
        and sums that follow fuse with the additions.

        Args:
            values: ``(height, width, patch pixels, n)`` at the split level.

        Returns:
            ``(blocks, blocks, stride, stride, n)``: entry ``[i, j, a, b]`` belongs to the pixel at
            ``(stride * i + a, stride * j + b)`` from where the first cell's receptive field
            starts.
        """
        height, width, _, _ = values.shape
        stride, patch = self._patches.stride, self._patches.size
        # Block (p, q) of stride x stride pixels of cell (i, j)'s patch falls on block
        # (i + p, j + q) of the image.
        blocks = -(-patch // stride)
        margin = blocks * stride - patch
        values = ops.reshape(values, (height, width, patch, patch, -1))
        values = ops.pad(values, ((0, 0), (0, 0), (0, margin), (0, margin), (0, 0)))
        values = ops.reshape(values, (height, width, blocks, stride, blocks, stride, -1))
        return sum(
            ops.pad(
                values[:, :, p, :, q],
                ((p, blocks - 1 - p), (q, blocks - 1 - q), (0, 0), (0, 0), (0, 0)),
            )
            for p in range(blocks)
            for q in range(blocks)
        )


METHODS = {"complex-step": ComplexStepAttribution, "jacobian": JacobianAttribution}


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a model saved by stage 1.

    Raises:
        UserError: if the file is missing or is not a Keras model.
    """
    path = Path(path)
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(f"cannot load the model at {path}: {error}") from None


def attribute_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    model: keras.Model,
    method: str = "complex-step",
    h: float = DEFAULT_H,
    layer: str = architecture.CODE_LAYER,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[list[Path], list[images.UnreadableImageError]]:
    """Writes the attribution map of every image in a folder and its subfolders.

    For an input ``<inputs>/<sub>/<stem>.<ext>`` it writes ``<outputs>/<sub>/<stem>.npy`` (float32,
    the raw attribution) and ``<outputs>/<sub>/<stem>.png`` (8-bit grey, min-max scaled).
    Unreadable images are reported one line each and skipped.

    Args:
        inputs: the folder of micrographs.
        outputs: the folder to write into.
        model: the trained autoencoder.
        method: a key of ``METHODS``.
        h: the complex step (complex-step method only).
        layer: the name of the layer whose output is explained.
        batch_size: see ``_Engine``.

    Returns:
        The images explained, and the errors of those that could not be read.

    Raises:
        UserError: for an unknown method or layer, ``h <= 0``, or a folder without images.
    """
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    paths = images.find_images(inputs)
    twin = architecture.build_complex_twin(model, layer)
    settings = {"h": h} if method == "complex-step" else {}
    try:
        engine = METHODS[method](twin, batch_size=batch_size, **settings)
    except ValueError as error:
        raise UserError(str(error)) from None
    done, failed = [], []
    label = f"{method} attribution of {layer!r}"
    bar = cli.ProgressBar(len(paths) * engine.passes, label, units="passes")
    for number, path in enumerate(paths, start=1):
        bar.detail = f"image {number}/{len(paths)}"
        try:
            image = images.read_image(path, size=engine.geometry.lengths[0])
        except images.UnreadableImageError as error:
            failed.append(error)
            bar.advance(engine.passes)
            continue
        values = engine(image, on_pass=bar.advance)
        target = Path(outputs) / path.relative_to(inputs).with_suffix("")
        images.write_array(target.with_name(target.name + ".npy"), values)
        images.write_grey_png(target.with_name(target.name + ".png"), values)
        done.append(path)
    for error in failed:
        print(f"skipped: {error}", file=sys.stderr)
    return done, failed
