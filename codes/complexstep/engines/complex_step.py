"""The complex-step engine: a real pass, then imaginary parts pushed forward, many pixels a pass.

See ``engines.base`` for why its numbers are the Jacobian's column norms exactly.
"""

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from complexstep import defaults
from complexstep.engines.base import Engine, ImageWork, LatticePlan, ignore_passes
from complexstep.errors import SettingError
from complexstep.twin.geometry import lattice_periods


class ComplexStepAttribution(Engine):
    """Attributions by complex-step forward passes, many pixels per pass.

    Pixel ``k`` is perturbed by ``i*h``, and its attribution is ``||Im(output)|| / h``, as in
    Arumugam & Kiran (2022). The real pass is shared by every perturbation of an image, and the
    imaginary passes carry a whole lattice of pixels at once, split into sparser lattices as the
    layers spread each pixel's influence.

    Args:
        twin: a complex twin from ``twin.build_complex_twin``.
        h: the size of the imaginary step.
        batch_size: see ``Engine``.
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
        states, _ = self.real_pass(image)
        return self.lattice_squares(self.plan, states, self.owned(cells), on_pass)

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
        work = ImageWork(states, plan, np.zeros(plan.counts, np.float32), owned, on_pass)
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
        return work.squares

    def _chunk(self, level: int, stop: int) -> int:
        """How many lattices entering layer ``level`` fit in one batch, counting every tensor
        they make up to ``stop``, the next split."""
        return max(1, self._budget // max(self._sizes[level : stop + 1]))

    def _through(self, start: int, stop: int, t, states: list):
        """The imaginary parts ``t`` after layers ``start`` to ``stop - 1``."""
        for level in range(start, stop):
            t = self.layers[level].imaginary_pass(t, states[level])
        return t

    def _forward(self, t, residues: np.ndarray, level: int, work: ImageWork) -> None:
        """Pushes the imaginary parts ``t`` of the lattices ``residues`` from layer ``level`` to
        the next split or the end, and on."""
        stop = work.plan.stops[level]
        t = self._through(level, stop, t, work.states)
        if stop == len(self.layers):
            self._collect(t, residues, work)
        else:
            self._split(t, residues, stop, work)

    def _split(self, t, residues: np.ndarray, level: int, work: ImageWork) -> None:
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

    def _collect(self, t, residues: np.ndarray, work: ImageWork) -> None:
        """Adds each lattice member's squared output, summed over its own footprint, to squares."""
        period_rows, period_columns = work.plan.periods[0][-1], work.plan.periods[1][-1]
        if work.owned is not None:
            t = t * ops.convert_to_tensor(work.owned)
        # Divided by h before the square: a textbook step of 1e-20 squared would underflow
        # float32 to zero.
        energy = ops.sum(ops.square(t / self.h), axis=-1)
        rows = ops.convert_to_tensor(work.plan.members[0][residues[:, 0]])
        columns = ops.convert_to_tensor(work.plan.members[1][residues[:, 1]])
        sums = ops.convert_to_numpy(
            ops.matmul(ops.matmul(rows, energy), ops.transpose(columns, (0, 2, 1)))
        )
        for (r, s), block in zip(residues, sums, strict=True):
            target = work.squares[r::period_rows, s::period_columns]
            target += block[: target.shape[0], : target.shape[1]]
        work.on_pass(len(residues))


def _residue_sums(profiles: np.ndarray, period: int) -> np.ndarray:
    """The sum of the profiles of each residue modulo ``period``, ``(period, pixels)``."""
    count, pixels = profiles.shape
    padded = np.zeros((-(-count // period) * period, pixels), np.float32)
    padded[:count] = profiles
    return padded.reshape(-1, period, pixels).sum(axis=0)
