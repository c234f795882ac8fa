"""The two engines: attribution maps and Jacobian rows of one image the size of their twin.

For an image ``x`` and the output ``f`` of the complex twin, the attribution of pixel ``k`` is
``||Im f(x + i*h*e_k)|| / h``, the complex-step derivative of the whole output with respect to that
pixel (Arumugam & Kiran, Materials & Design, 2022). The twin's real part never depends on its
imaginary part, so once the real pass of ``x`` has fixed every ReLU mask and every pooling choice,
the imaginary part is a linear function of the perturbation and ``Im f(x + i*h*e_k) / h = J e_k``,
the k-th column of the Jacobian of ``f``. The two engines compute the norms of those columns:

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
  squared column norms. The same passes, kept instead of squared, are the Jacobian's rows.

Both can answer for a window of the output only (``cells``), which is how ``api`` splits a large
image into tiles whose outputs are exact.
"""

import dataclasses
import itertools
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError
from complexstep.twin.complex_layers import ComplexLayer
from complexstep.twin.geometry import AxisGeometry, lattice_periods, separating_period

Cells = tuple[range, range]
"""The output cells an engine answers for: a range of rows and a range of columns."""


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


def ignore_passes(passes: int) -> None:
    """The default ``on_pass``: nobody is told."""


@dataclasses.dataclass(frozen=True)
class LatticePlan:
    """How the complex-step engine's perturbations share passes, along rows and columns alike.

    A perturbation is the product of a profile along the rows and one along the columns: a pixel
    for the pixel map, a wavelet basis image for the wavelet map. Perturbations whose footprints
    stay apart share a pass, on lattices split into sparser ones as the layers widen the
    footprints; each is told apart at the output by where its contribution lands.

    Attributes:
        counts: how many profiles there are along the rows and along the columns.
        periods: per axis, the lattice period of the passes through each layer.
        inputs: per axis, float32 ``(periods[0], pixels)``: the sum of the profiles of each residue.
        covers: before each layer where lattices are split, per axis, indicator
            ``(period, length)`` of the indices the footprints of each residue cover there.
        members: per axis, indicator ``(period, members, length)`` of each lattice member's own
            footprint on the output.
        stops: for each level a pass starts from, the next split or the end.
        batch: for each level a pass starts from, how many lattices one batch holds.
    """

    counts: tuple[int, int]
    periods: tuple[list[int], list[int]]
    inputs: tuple[np.ndarray, np.ndarray]
    covers: dict[int, tuple[np.ndarray, np.ndarray]]
    members: tuple[np.ndarray, np.ndarray]
    stops: dict[int, int]
    batch: dict[int, int]

    @property
    def passes(self) -> int:
        """How many passes through the last layer the plan takes."""
        return self.periods[0][-1] * self.periods[1][-1]


@dataclasses.dataclass(frozen=True)
class _ImageWork:
    """What the passes over one image share: its layer states, the plan, the sums, and whom to
    tell."""

    states: list
    plan: LatticePlan
    squares: np.ndarray
    owned: np.ndarray | None
    on_pass: Callable[[int], None]


class _Engine:
    """What both engines share: the twin's layers, their geometry and the real pass.

    Args:
        twin: a complex twin from ``twin.build_complex_twin``; its output is explained.
        batch_size: how many perturbed copies of a full-resolution image go through a layer at
            once, counted in 256x256 images for larger ones; coarser layers take proportionally
            more. Larger is faster and uses more memory.

    Attributes:
        shape: the ``(height, width)`` of the images the engine explains.
        output_shape: the ``(height, width, channels)`` of the output it explains.
        passes: how many passes through the last layer one image takes (one when the jacobian
            engine needs none); ``squares`` reports them as they finish to its ``on_pass``, and
            the jacobian engine's ``jacobian_rows`` reports its ``row_passes``.
    """

    def __init__(self, twin: keras.Model, batch_size: int = defaults.ENGINE_BATCH_SIZE):
        if batch_size < 1:
            raise SettingError(f"batch_size must be positive, not {batch_size}")
        self.layers: list[ComplexLayer] = twin.layers[1:]
        self.batch_size = batch_size
        _, height, width, _ = twin.input_shape
        self.shape = (height, width)
        self.output_shape = tuple(twin.output.shape[1:])
        self.rows = AxisGeometry.of(self.layers, height)
        self.columns = AxisGeometry.of(self.layers, width)
        shapes = [twin.input_shape] + [layer.output.shape for layer in self.layers]
        self._sizes = [math.prod(shape[1:]) for shape in shapes]
        # Above the paper's size, the batch is counted in copies of a paper-sized image, so that
        # memory per call stays the same for the larger tiles of large images.
        reference = min(1.0, defaults.IMAGE_SIZE**2 / (height * width))
        self._budget = max(1, int(batch_size * max(self._sizes) * reference))
        self._linearize = _compile(self._states)
        self._adjoint = _compile(lambda g, states: self._adjoint_of(g, states, 0))

    def __call__(
        self, image: np.ndarray, on_pass: Callable[[int], None] = ignore_passes
    ) -> np.ndarray:
        """The attribution map of one image.

        Args:
            image: float ``shape`` or ``shape + (1,)``, values in [0, 1].
            on_pass: called with the number of passes each time some finish.

        Returns:
            float32 ``shape``.
        """
        return np.sqrt(self.squares(image, on_pass=on_pass))

    def squares(
        self,
        image: np.ndarray,
        cells: Cells | None = None,
        on_pass: Callable[[int], None] = ignore_passes,
    ) -> np.ndarray:
        """The squared attribution of every pixel to the output cells ``cells`` (all if None)."""
        raise NotImplementedError

    def _real_pass(self, image: np.ndarray) -> tuple[list, object]:
        """Runs the real pass of one image; returns each layer's state and the real output."""
        if np.shape(image)[:2] != self.shape:
            raise ImageSizeError(
                f"the engine explains {self.shape[0]}x{self.shape[1]} images, not "
                f"{np.shape(image)[0]}x{np.shape(image)[1]}"
            )
        x = np.asarray(image, np.float32).reshape(1, *self.shape, 1)
        return self._linearize(ops.convert_to_tensor(x))

    def _states(self, x) -> tuple[list, object]:
        """Each layer's state for the real input ``x`` (what fixes its imaginary linear map), and
        the real output."""
        states = []
        for layer in self.layers:
            x, state = layer.real_pass(x)
            states.append(state)
        return states, x

    def pull_back(self, image: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """An output-shaped cotangent ``u`` times the Jacobian at an image: ``J^T u``, ``shape``.

        This is the gradient of ``<f(x), u>``: one real pass fixes the layers' linear maps, and
        one reverse pass applies their adjoints from the output down to the input.
        """
        states, _ = self._real_pass(image)
        u = np.asarray(cotangent, np.float32).reshape(1, *self.output_shape)
        return ops.convert_to_numpy(self._adjoint(ops.convert_to_tensor(u), states))[0, ..., 0]

    def _adjoint_of(self, g, states: list, stop: int):
        """Applies the adjoint maps of the layers from the last down to ``stop`` to ``g``."""
        for layer, state in zip(reversed(self.layers[stop:]), reversed(states[stop:]), strict=True):
            g = layer.imaginary_adjoint(g, state)
        return g

    def _owned(self, cells: Cells | None) -> np.ndarray | None:
        """Indicator ``(rows, columns, 1)`` of the output cells answered for; None for all."""
        if cells is None:
            return None
        height, width, _ = self.output_shape
        owned = np.zeros((height, width, 1), np.float32)
        owned[cells[0].start : cells[0].stop, cells[1].start : cells[1].stop] = 1.0
        return owned


class ComplexStepAttribution(_Engine):
    """Attributions by complex-step forward passes, many pixels per pass.

    Pixel ``k`` is perturbed by ``i*h``, and its attribution is ``||Im(output)|| / h``, as in
    Arumugam & Kiran (2022). The real pass is shared by every perturbation of an image, and the
    imaginary passes carry a whole lattice of pixels at once, split into sparser lattices as the
    layers spread each pixel's influence.

    Args:
        twin: a complex twin from ``twin.build_complex_twin``.
        h: the size of the imaginary step.
        batch_size: see ``_Engine``.
    """

    def __init__(
        self,
        twin: keras.Model,
        h: float = defaults.H,
        batch_size: int = defaults.ENGINE_BATCH_SIZE,
    ):
        super().__init__(twin, batch_size)
        if not h > 0:
            raise SettingError(f"h must be positive, not {h}")
        self.h = h
        self._costs = [
            size * layer.taps() for layer, size in zip(self.layers, self._sizes[1:], strict=True)
        ]
        self.plan = self.lattice_plan(
            (self.rows, self.columns),
            (np.eye(self.shape[0], dtype=np.float32), np.eye(self.shape[1], dtype=np.float32)),
        )
        self.periods = self.plan.periods
        self.passes = self.plan.passes

    def lattice_plan(self, axes: tuple, profiles: tuple[np.ndarray, np.ndarray]) -> LatticePlan:
        """Plans the passes of perturbations given by their profiles along each axis.

        Args:
            axes: per axis, the geometry of the profiles' footprints, with the methods of
                ``geometry.AxisGeometry`` that choose and split lattices: ``lengths`` (the number
                of profiles, then each layer's length), ``separating_period``, ``cover`` and
                ``members``.
            profiles: per axis, float ``(count, pixels)``: each perturbation's profile.
        """
        periods = tuple(lattice_periods(axis, self._costs) for axis in axes)
        # Before layer l, the lattices of the periods before it are split into those after it,
        # telling the children apart by the indices their footprints cover at that point.
        covers = {
            level: tuple(
                axis.cover(level, axis_periods[level])
                for axis, axis_periods in zip(axes, periods, strict=True)
            )
            for level in range(1, len(self.layers))
            if any(axis_periods[level] != axis_periods[level - 1] for axis_periods in periods)
        }
        last = len(self.layers)
        members = tuple(
            axis.members(last, axis_periods[-1])
            for axis, axis_periods in zip(axes, periods, strict=True)
        )
        inputs = tuple(
            _residue_sums(np.asarray(axis_profiles, np.float32), axis_periods[0])
            for axis_profiles, axis_periods in zip(profiles, periods, strict=True)
        )
        # The passes run from level 0 or a split to the next split or the end. They stay eager:
        # on TensorFlow, XLA's convolutions of these large batches took twice as long as the
        # eager kernels, and there are few small operations between them to fuse.
        starts = [0, *sorted(covers)]
        stops = dict(zip(starts, [*starts[1:], last], strict=True))
        batch = {level: self._chunk(level, stops[level]) for level in starts}
        counts = tuple(len(axis_profiles) for axis_profiles in profiles)
        return LatticePlan(counts, periods, inputs, covers, members, stops, batch)

    def squares(self, image, cells=None, on_pass=ignore_passes):
        states, _ = self._real_pass(image)
        return self.lattice_squares(self.plan, states, self._owned(cells), on_pass)

    def lattice_squares(
        self,
        plan: LatticePlan,
        states: list,
        owned: np.ndarray | None,
        on_pass: Callable[[int], None],
    ) -> np.ndarray:
        """The squared norms of the output's derivatives along each of a plan's perturbations.

        Args:
            plan: from ``lattice_plan``.
            states: the layer states of the image's real pass.
            owned: indicator of the output cells answered for, from ``_owned``; None for all.
            on_pass: called with the number of passes each time some finish.

        Returns:
            float32 ``plan.counts``: entry ``[m, n]`` for the product of row profile ``m`` and
            column profile ``n``.
        """
        work = _ImageWork(states, plan, np.zeros(plan.counts, np.float32), owned, on_pass)
        rows, columns = plan.inputs
        residues = np.array([(r, s) for r in range(len(rows)) for s in range(len(columns))])
        size = plan.batch[0]
        for start in range(0, len(residues), size):
            chunk = residues[start : start + size]
            t = (
                self.h
                * rows[chunk[:, 0]][:, :, None, None]
                * columns[chunk[:, 1]][:, None, :, None]
            )
            self._forward(ops.convert_to_tensor(t), chunk, 0, work)
        return work.squares / np.float32(self.h**2)

    def _chunk(self, level: int, stop: int) -> int:
        """How many lattices entering layer ``level`` fit in one batch, counting every tensor
        they make up to ``stop``, the next split."""
        return max(1, self._budget // max(self._sizes[level : stop + 1]))

    def _through(self, start: int, stop: int, t, states: list):
        """The imaginary parts ``t`` after layers ``start`` to ``stop - 1``."""
        for level in range(start, stop):
            t = self.layers[level].imaginary_pass(t, states[level])
        return t

    def _forward(self, t, residues: np.ndarray, level: int, work: _ImageWork) -> None:
        """Pushes the imaginary parts ``t`` of the lattices ``residues`` from layer ``level`` to
        the next split or the end, and on."""
        stop = work.plan.stops[level]
        t = self._through(level, stop, t, work.states)
        if stop == len(self.layers):
            self._collect(t, residues, work)
        else:
            self._split(t, residues, stop, work)

    def _split(self, t, residues: np.ndarray, level: int, work: _ImageWork) -> None:
        """Splits each lattice into sub-lattices whose footprints stay apart through ``level``."""
        row_offsets, column_offsets = (
            periods[level - 1] * np.arange(periods[level] // periods[level - 1])
            for periods in work.plan.periods
        )
        children = [
            (parent, (r + row_offset, s + column_offset))
            for parent, (r, s) in enumerate(residues)
            for row_offset in row_offsets
            for column_offset in column_offsets
        ]
        row_cover, column_cover = work.plan.covers[level]
        size = work.plan.batch[level]
        for start in range(0, len(children), size):
            chunk = children[start : start + size]
            parents = np.array([parent for parent, _ in chunk])
            child_residues = np.array([residue for _, residue in chunk])
            rows = row_cover[child_residues[:, 0]]
            columns = column_cover[child_residues[:, 1]]
            child = ops.take(t, parents, axis=0)
            child = child * rows[:, :, None, None] * columns[:, None, :, None]
            self._forward(child, child_residues, level, work)

    def _collect(self, t, residues: np.ndarray, work: _ImageWork) -> None:
        """Adds each lattice member's squared output, summed over its own footprint, to squares."""
        period_rows, period_columns = work.plan.periods[0][-1], work.plan.periods[1][-1]
        if work.owned is not None:
            t = t * ops.convert_to_tensor(work.owned)
        energy = ops.sum(ops.square(t), axis=-1)
        rows = ops.convert_to_tensor(work.plan.members[0][residues[:, 0]])
        columns = ops.convert_to_tensor(work.plan.members[1][residues[:, 1]])
        sums = ops.convert_to_numpy(
            ops.matmul(ops.matmul(rows, energy), ops.transpose(columns, (0, 2, 1)))
        )
        for (r, s), block in zip(residues, sums, strict=True):
            target = work.squares[r::period_rows, s::period_columns]
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
    no pass is needed for the map.

    The wide shallow layers cost far less once, as patch Jacobians, than once per pass; the
    split is the level with the least estimated work.

    Args:
        twin: a complex twin from ``twin.build_complex_twin``.
        batch_size: see ``_Engine``.
        split: how many layers, from the input, are taken as patch Jacobians; None for the split
            with the least estimated work. Every split gives the same numbers.

    Attributes:
        splits: the splits this twin allows: patch Jacobians need the receptive fields of a
            level's cells to be evenly spaced, which upsampling breaks.
        periods: the lattice periods, along rows and columns, of the output cells that share a
            reverse pass.
        window: the height and width of the windows ``jacobian_rows`` returns, the largest
            receptive field of an output cell.
    """

    def __init__(
        self,
        twin: keras.Model,
        batch_size: int = defaults.ENGINE_BATCH_SIZE,
        split: int | None = None,
    ):
        super().__init__(twin, batch_size)
        self.periods = tuple(separating_period(*axis.fields[-1]) for axis in self.axes)
        self.window = tuple(
            int(np.max(axis.fields[-1][1] - axis.fields[-1][0])) + 1 for axis in self.axes
        )
        self._channels = self.output_shape[-1]
        # The receptive fields after each level, up to the first that is not evenly spaced or not
        # the same along both axes.
        pairs = (
            (self.rows.patches(level), self.columns.patches(level))
            for level in range(len(self.layers) + 1)
        )
        self._level_patches = [
            rows
            for rows, _ in itertools.takewhile(
                lambda pair: pair[0] is not None and pair[0] == pair[1], pairs
            )
        ]
        self.splits = list(range(len(self._level_patches)))
        if split is None:
            split = self._choose_split()
        elif split not in self.splits:
            raise SettingError(
                f"split must be one of {', '.join(map(str, self.splits))}, not {split}"
            )
        self.split = split
        self._patches = self._level_patches[split]
        self._seeds = self.periods[0] * self.periods[1] * self._channels
        self.passes = 1 if split == len(self.layers) else self._seeds
        # The rows need every seed's derivatives, even where the map needs no pass.
        self.row_passes = self._seeds
        # A pass holds its tensors above the split and its derivatives over every patch.
        largest = max(
            self.rows.lengths[split] * self.columns.lengths[split] * self._patches.size**2,
            *self._sizes[split:],
        )
        self._chunk_of_passes = min(self._seeds, max(1, self._budget // largest))
        self._patch_jacobians = _compile(self._patch_jacobians_of)
        self._pull_back = _compile(self._squared_derivatives)
        self._many = _compile(lambda xs: ops.vectorized_map(self._image_squares, xs))
        self._pull_back_rows = _compile(self._derivative_maps)
        self._own_squares = _compile(self._squared_patch_jacobians)

    @property
    def axes(self) -> tuple[AxisGeometry, AxisGeometry]:
        return self.rows, self.columns

    def _choose_split(self) -> int:
        """The split with the least work.

        Work counts multiplications: for each layer below the split, one per output value, tap and
        patch pixel; for each pass, one per output value and tap of the layers above and one per
        value and patch pixel to weigh the patch Jacobians.
        """
        work = [
            size * layer.taps() for layer, size in zip(self.layers, self._sizes[1:], strict=True)
        ]
        seeds = self.periods[0] * self.periods[1] * self.output_shape[-1]
        best, best_cost, below = 0, math.inf, 0.0
        for level in self.splits:
            pixels = self._level_patches[level].size ** 2
            above = sum(work[level:]) + self._sizes[level] * pixels
            cost = below + (0 if level == len(self.layers) else seeds) * above
            if cost < best_cost:
                best, best_cost = level, cost
            if level < len(self.layers):
                below += work[level] * pixels
        return best

    def squares(self, image, cells=None, on_pass=ignore_passes):
        states, _ = self._real_pass(image)
        patch_jacobians = self._patch_jacobians(states)
        owned = self._owned(cells)
        if self.split == len(self.layers):
            if owned is not None:
                patch_jacobians = patch_jacobians * ops.convert_to_tensor(owned[:, :, None, :])
            squares = ops.convert_to_numpy(self._own_squares(patch_jacobians))
            on_pass(1)
        else:
            squares = 0.0
            for g, count in self._seed_batches(owned):
                squares += ops.convert_to_numpy(self._pull_back(g, states, patch_jacobians))
                on_pass(count)
        return self._to_image(squares)

    def squares_of_mean(
        self,
        images: np.ndarray,
        cells: Cells | None = None,
        on_pass: Callable[[int], None] = ignore_passes,
    ) -> np.ndarray:
        """The squared column norms of the mean of the Jacobians at several images, ``shape``.

        Each seed's pulled-back derivatives are averaged over the images before they are squared.
        Cells that share a pass have receptive fields apart whatever the image, so each pixel of
        the average still holds the derivatives of one cell only: the squares add up the squared
        entries of the mean Jacobian. This costs a map per image, where building each image's
        Jacobian would cost about twice as much.
        """
        owned = self._owned(cells)
        totals = None
        for image in images:
            states, _ = self._real_pass(image)
            patch_jacobians = self._patch_jacobians(states)
            if self.split == len(self.layers):
                if owned is not None:
                    patch_jacobians = patch_jacobians * ops.convert_to_tensor(owned[:, :, None, :])
                parts = [ops.convert_to_numpy(patch_jacobians)]
                on_pass(1)
            else:
                parts = []
                for g, count in self._seed_batches(owned):
                    parts.append(
                        ops.convert_to_numpy(self._pull_back_rows(g, states, patch_jacobians))
                    )
                    on_pass(count)
            totals = (
                parts if totals is None else [a + b for a, b in zip(totals, parts, strict=True)]
            )
        means = [total / len(images) for total in totals]
        if self.split == len(self.layers):
            squares = ops.convert_to_numpy(self._own_squares(ops.convert_to_tensor(means[0])))
        else:
            squares = sum(np.sum(np.square(mean), axis=-1) for mean in means)
        return self._to_image(squares)

    def squares_of_many(self, images: np.ndarray) -> np.ndarray:
        """The squared attribution maps of several images at once, ``(n, height, width)``.

        The real pass, the patch Jacobians and every reverse pass of each image run in one
        compiled call, mapped over the images: on JAX, whose ``vmap`` batches them into larger
        operations, this keeps an accelerator busy where one image at a time leaves it waiting.
        """
        if np.shape(images)[1:3] != self.shape:
            raise ImageSizeError(
                f"the engine explains {self.shape[0]}x{self.shape[1]} images, not "
                f"{np.shape(images)[1]}x{np.shape(images)[2]}"
            )
        x = ops.convert_to_tensor(np.asarray(images, np.float32).reshape(-1, *self.shape, 1))
        blocks = ops.convert_to_numpy(self._many(x))
        return np.stack([self._to_image(squares) for squares in blocks])

    def _image_squares(self, x):
        """The squared attribution of one image ``(height, width, 1)``, as ``_by_pixel``."""
        states, _ = self._states(x[None])
        patch_jacobians = self._patch_jacobians_of(states)
        if self.split == len(self.layers):
            return self._squared_patch_jacobians(patch_jacobians)
        return sum(
            self._squared_derivatives(g, states, patch_jacobians)
            for g, _ in self._seed_batches(None)
        )

    def jacobian_rows(
        self,
        image: np.ndarray,
        cells: Cells | None = None,
        on_pass: Callable[[int], None] = ignore_passes,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Jacobian's rows for the output cells ``cells``, each over its receptive field.

        Returns:
            The real output of the image, float32 ``output_shape``, and the rows, float32
            ``(rows, columns, channels) + window``: entry ``[i, j, c, u, v]`` is the derivative
            of output ``(i, j, c)`` with respect to pixel ``(first_i + u, first_j + v)``, where
            ``first`` is where the cell's receptive field starts in ``rows.fields[-1]`` and
            ``columns.fields[-1]``; entries outside the field are zero. Cells outside ``cells``
            are zero.
        """
        states, output = self._real_pass(image)
        patch_jacobians = self._patch_jacobians(states)
        values = np.zeros(self.output_shape + self.window, np.float32)
        firsts = [axis.fields[-1][0] for axis in self.axes]
        lasts = [axis.fields[-1][1] for axis in self.axes]
        # Padding on the far side lets every window be cut whole, even past the image's end.
        padding = ((0, 0), (0, self.window[0]), (0, self.window[1]))
        spans = [np.arange(size) for size in self.window]
        inside = [
            spans[axis][None, :] <= (lasts[axis] - firsts[axis])[:, None] for axis in range(2)
        ]
        for g, seeds in self._seed_batches(self._owned(cells), with_seeds=True):
            maps = self._to_images(
                ops.convert_to_numpy(self._pull_back_rows(g, states, patch_jacobians))
            )
            maps = np.pad(maps, padding)
            windows = np.lib.stride_tricks.sliding_window_view(maps, self.window, axis=(1, 2))
            for index, (r, s, channel) in enumerate(seeds):
                i = np.arange(r, self.output_shape[0], self.periods[0])
                j = np.arange(s, self.output_shape[1], self.periods[1])
                if cells is not None:
                    i = i[(i >= cells[0].start) & (i < cells[0].stop)]
                    j = j[(j >= cells[1].start) & (j < cells[1].stop)]
                cut = windows[index][np.ix_(firsts[0][i], firsts[1][j])]
                mask = inside[0][i][:, None, :, None] & inside[1][j][None, :, None, :]
                values[np.ix_(i, j, [channel])] = (cut * mask)[:, :, None]
            on_pass(len(seeds))
        return ops.convert_to_numpy(output)[0], values

    def _seed_batches(self, owned: np.ndarray | None, with_seeds: bool = False):
        """Yields the seeds of the reverse passes in equal batches, with how many are real.

        A seed is one lattice of output cells in one channel, all set to one. Every batch has the
        same shape, so that a compiled pass is traced once; the last one is padded with seeds of
        zero, which add nothing.
        """
        cells = self.output_shape[:2]
        rows, columns = (
            np.eye(period, dtype=np.float32)[:, np.arange(size) % period]
            for period, size in zip(self.periods, cells, strict=True)
        )
        channels = np.eye(self._channels, dtype=np.float32)
        seeds = [
            (r, s, c)
            for r in range(self.periods[0])
            for s in range(self.periods[1])
            for c in range(self._channels)
        ]
        size = self._chunk_of_passes
        for start in range(0, len(seeds), size):
            chunk = np.array(seeds[start : start + size])
            g = np.zeros((size, *cells, self._channels), np.float32)
            g[: len(chunk)] = (
                rows[chunk[:, 0]][:, :, None, None]
                * columns[chunk[:, 1]][:, None, :, None]
                * channels[chunk[:, 2]][:, None, None]
            )
            if owned is not None:
                g *= owned
            yield ops.convert_to_tensor(g), (chunk if with_seeds else len(chunk))

    def _patch_jacobians_of(self, states: list):
        """The patch Jacobians at the split level, ``(height, width, patch pixels, channels)``."""
        j = ops.ones((1, 1, *self.shape, 1))
        for level in range(self.split):
            j = self.layers[level].patch_pass(j, states[level], self._level_patches[level].stride)
        _, _, height, width, channels = j.shape
        return ops.reshape(ops.transpose(j, (2, 3, 0, 1, 4)), (height, width, -1, channels))

    def _derivatives(self, g, states: list, patch_jacobians):
        """Pulls the seeds ``g`` back to the input, as derivatives over each split-level patch.

        Returns:
            ``(height, width, patch pixels, seeds)`` at the split level.
        """
        g = ops.transpose(self._adjoint_of(g, states, self.split), (1, 2, 3, 0))
        if g.shape[2] == 1:
            # Over one channel the product is a broadcast, which batched matrix products would
            # run one cell at a time.
            return patch_jacobians * g
        return ops.matmul(patch_jacobians, g)

    def _squared_derivatives(self, g, states: list, patch_jacobians):
        """The squared derivatives of the seeds ``g``, summed over seeds, as ``_by_pixel``."""
        derivatives = self._derivatives(g, states, patch_jacobians)
        return ops.sum(ops.square(self._by_pixel(derivatives)), axis=-1)

    def _derivative_maps(self, g, states: list, patch_jacobians):
        """The derivatives of each seed ``g``, as ``_by_pixel``."""
        return self._by_pixel(self._derivatives(g, states, patch_jacobians))

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
            ``(row blocks, column blocks, stride, stride, n)``: entry ``[i, j, a, b]`` belongs to
            the pixel at ``(stride * i + a, stride * j + b)`` from where the first cell's
            receptive field starts.
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

    def _to_image(self, squares: np.ndarray) -> np.ndarray:
        """Lays out ``_by_pixel``'s blocks of one value per pixel as the image."""
        return self._to_images(squares[..., None])[0]

    def _to_images(self, blocks: np.ndarray) -> np.ndarray:
        """Lays out ``_by_pixel``'s blocks of ``n`` values per pixel as ``n`` images."""
        row_blocks, column_blocks, stride, _, count = blocks.shape
        images = blocks.transpose(4, 0, 2, 1, 3).reshape(
            count, row_blocks * stride, column_blocks * stride
        )
        # Block rows count from where the first cell's receptive field starts, before the image.
        start = -self._patches.start
        return images[:, start : start + self.shape[0], start : start + self.shape[1]]


def _residue_sums(profiles: np.ndarray, period: int) -> np.ndarray:
    """The sum of the profiles of each residue modulo ``period``, ``(period, pixels)``."""
    count, pixels = profiles.shape
    padded = np.zeros((-(-count // period) * period, pixels), np.float32)
    padded[:count] = profiles
    return padded.reshape(-1, period, pixels).sum(axis=0)


METHODS = {"complex-step": ComplexStepAttribution, "jacobian": JacobianAttribution}
