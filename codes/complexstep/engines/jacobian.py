"""The jacobian engine: patch Jacobians from the image up, reverse passes from the output down.

See ``engines.base`` for why its numbers are those of the complex step exactly.
"""

import itertools
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from complexstep import defaults
from complexstep.engines.base import Cells, Engine, compile_passes, ignore_passes
from complexstep.engines.graph import RowWindows
from complexstep.errors import ImageSizeError, SettingError
from complexstep.twin.geometry import AxisGeometry, separating_period


class JacobianAttribution(Engine):
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
        batch_size: see ``Engine``.
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
        self.patch_jacobians = compile_passes(self._patch_jacobians_of)
        self._pull_back = compile_passes(self._squared_derivatives)
        self._many = compile_passes(lambda xs: ops.vectorized_map(self._image_squares, xs))
        self.pull_back_rows = compile_passes(self._derivative_maps)
        self._own_squares = compile_passes(self._squared_patch_jacobians)

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
        states, _ = self.real_pass(image)
        patch_jacobians = self.patch_jacobians(states)
        owned = self.owned(cells)
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
        owned = self.owned(cells)
        totals = None
        for image in images:
            states, _ = self.real_pass(image)
            patch_jacobians = self.patch_jacobians(states)
            if self.split == len(self.layers):
                if owned is not None:
                    patch_jacobians = patch_jacobians * ops.convert_to_tensor(owned[:, :, None, :])
                parts = [ops.convert_to_numpy(patch_jacobians)]
                on_pass(1)
            else:
                parts = []
                for g, count in self._seed_batches(owned):
                    parts.append(
                        ops.convert_to_numpy(self.pull_back_rows(g, states, patch_jacobians))
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
        states, output = self.real_pass(image)
        patch_jacobians = self.patch_jacobians(states)
        rows = RowWindows(self.axes, self.output_shape, self.periods, cells)
        for g, seeds in self._seed_batches(self.owned(cells), with_seeds=True):
            maps = self.to_images(
                ops.convert_to_numpy(self.pull_back_rows(g, states, patch_jacobians))
            )
            rows.add(maps, seeds)
            on_pass(len(seeds))
        return ops.convert_to_numpy(output)[0], rows.values

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
        return self.to_images(squares[..., None])[0]

    def to_images(self, blocks: np.ndarray) -> np.ndarray:
        """Lays out ``_by_pixel``'s blocks of ``n`` values per pixel as ``n`` images."""
        row_blocks, column_blocks, stride, _, count = blocks.shape
        images = blocks.transpose(4, 0, 2, 1, 3).reshape(
            count, row_blocks * stride, column_blocks * stride
        )
        # Block rows count from where the first cell's receptive field starts, before the image.
        start = -self._patches.start
        return images[:, start : start + self.shape[0], start : start + self.shape[1]]
