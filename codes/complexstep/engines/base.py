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
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from complexstep import defaults
from complexstep.engines.graph import Cells, ignore_passes
from complexstep.errors import ImageSizeError, SettingError
from complexstep.twin.complex_layers import ComplexLayer
from complexstep.twin.geometry import AxisGeometry


def compile_passes(function: Callable) -> Callable:
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
class ImageWork:
    """What the passes over one image share: its layer states, the plan, the sums, and whom to
    tell."""

    states: list
    plan: LatticePlan
    squares: np.ndarray
    owned: np.ndarray | None
    on_pass: Callable[[int], None]


class Engine:
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
        self._linearize = compile_passes(self._states)
        self._adjoint = compile_passes(lambda g, states: self._adjoint_of(g, states, 0))

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

    def real_pass(self, image: np.ndarray) -> tuple[list, object]:
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
        states, _ = self.real_pass(image)
        u = np.asarray(cotangent, np.float32).reshape(1, *self.output_shape)
        return ops.convert_to_numpy(self._adjoint(ops.convert_to_tensor(u), states))[0, ..., 0]

    def _adjoint_of(self, g, states: list, stop: int):
        """Applies the adjoint maps of the layers from the last down to ``stop`` to ``g``."""
        for layer, state in zip(reversed(self.layers[stop:]), reversed(states[stop:]), strict=True):
            g = layer.imaginary_adjoint(g, state)
        return g

    def owned(self, cells: Cells | None) -> np.ndarray | None:
        """Indicator ``(rows, columns, 1)`` of the output cells answered for; None for all."""
        if cells is None:
            return None
        height, width, _ = self.output_shape
        owned = np.zeros((height, width, 1), np.float32)
        owned[cells[0].start : cells[0].stop, cells[1].start : cells[1].stop] = 1.0
        return owned
