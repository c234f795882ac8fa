"""The ``Explainer``: what explaining one layer of one model needs, kept from image to image.

It holds the twin and engine for each tile shape (and their compiled passes) and the tile plan of
each image size. Images larger than ``tile_size`` are split into overlapping tiles whose outputs
are exact (``geometry.plan_tiles``), so work grows with the image's area and memory does not. Its
domain (``domains``) says what a map attributes to, and its kind (``kinds``) which map it is.
"""

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.engines import ENGINES, ignore_passes
from complexstep.engines.graph import GraphEngine
from complexstep.errors import (
    ImageError,
    ImageSizeError,
    ModelError,
    SettingError,
    UnsupportedLayerError,
)
from complexstep.explain import domains, kinds
from complexstep.explain.jacobian import Jacobian
from complexstep.model import torch_files
from complexstep.model.files import load_model
from complexstep.twin import geometry

if TYPE_CHECKING:
    import keras

# Keras's twin and engines (twin.building, twin.graph, the registry's classes) are imported where
# a Keras model needs them: a PyTorch module is explained without starting Keras.


_SIDES = {1: "(length)", 2: "(height, width)", 3: "(depth, height, width)"}


def as_images(
    images, unit_range: bool = True, spatial: int = 2, channels: int = 1
) -> tuple[np.ndarray, bool]:
    """Checks images and returns them as a float32 batch, and whether one image was given.

    Args:
        images: one image or a batch, float values in [0, 1]: for a grey micrograph
            ``(height, width)``, ``(n, height, width)`` or ``(n, height, width, 1)``; for a model
            of ``channels`` channels ``(height, width, channels)`` or ``(n, height, width,
            channels)``; volumes have ``depth`` before ``height``.
        unit_range: refuse values outside [0, 1]; without, any finite value is taken.
        spatial: the image's spatial axes, 2 for a micrograph, 3 for a volume.
        channels: the channels the model takes.

    Returns:
        ``(n, *sides)`` for grey images, ``(n, *sides, channels)`` otherwise.

    Raises:
        ImageError: for another shape, integer values, or values outside [0, 1].
    """
    array = np.asarray(images)
    sides = _SIDES[spatial]
    if channels == 1:
        if array.ndim == spatial + 2 and array.shape[-1] == 1:
            array = array[..., 0]
        single = array.ndim == spatial
        expected = f"one grey image {sides} or a batch (n, {sides[1:]} or (n, {sides[1:-1]}, 1)"
        shaped = array.ndim in (spatial, spatial + 1)
    else:
        single = array.ndim == spatial + 1
        expected = f"one image {sides[:-1]}, {channels}) or a batch (n, {sides[1:-1]}, {channels})"
        shaped = array.ndim in (spatial + 1, spatial + 2) and array.shape[-1] == channels
    if not shaped or 0 in array.shape:
        raise ImageError(f"images must be {expected}, not an array of shape {np.shape(images)}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(
            f"images must hold floats in [0, 1], not {array.dtype}; divide 8-bit values by 255 "
            "and a microscope's 12- or 14-bit values by 4095 or 16383 (the largest their "
            "significant bits hold, as stage 2 reads them), or read the file with "
            "complexstep.io.images.read_image, which scales it so"
        )
    low, high = float(np.min(array)), float(np.max(array))
    inside = not unit_range or (low >= 0.0 and high <= 1.0)
    if not (np.all(np.isfinite(array)) and inside):
        wanted = "lie in [0, 1]" if unit_range else "be finite"
        raise ImageError(f"image values must {wanted}; these range from {low:g} to {high:g}")
    return np.asarray(array[None] if single else array, np.float32), single


class Explainer:
    """Explains one layer of one model, for images of every size the network takes.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"``; or a
            ``torch.nn.Module`` in eval mode, a ``torch.export`` program, or the path of a
            ``.pt2`` archive of one (see ``complexstep.pytorch``).
        layer: the name of the layer whose whole output is explained; for a PyTorch module the
            path of a submodule (``"encoder.layer3"``), the module's own output where it has no
            submodule of the default name, "code".
        method: "jacobian" (reverse-mode passes, faster) or "complex-step" (complex forward
            passes, as in the paper); both give the same numbers.
        h: the imaginary step of the complex-step method.
        batch_size: perturbed copies of a full-resolution tile pushed through a layer at once;
            None for the default. Larger is faster and takes more memory.
        tile_size: the largest tile side, in pixels; larger images are split into overlapping
            tiles, so that memory stays bounded however large the image. None for the method's
            default; ``jacobian`` always uses the jacobian engine's.
        images_per_call: how many images of one size ``attribute_many`` explains in one compiled
            call on JAX.
        domain: "pixel" to attribute to every pixel, "wavelet" to every coefficient of the
            image's orthonormal wavelet transform (see ``domains``).
        wavelet: the orthogonal PyWavelets wavelet of the wavelet domain: haar, db2, db4, sym4...
        levels: how many levels the wavelet transform has.
        kind: the map ``attribute`` gives: "complex-step" (the paper's), "gradient-input" or
            "integrated-complex-step" (see ``kinds``).
        baseline: what the weighted kinds measure ``|x - b|`` from: "blur" (the image blurred by
            ``blur_sigma`` pixels) or "mean" (its mean grey value).
        blur_sigma: the blur baseline's Gaussian, in pixels.
        integration_steps: the path points of the integrated complex step.
        per_channel: for a model of several input channels, one map per channel (the norm of
            each channel's Jacobian column) instead of their norm together.

    Attributes:
        domain: the domain, ``domains.Pixels`` or ``domains.Wavelets``.
        kind: the kind of map, a ``kinds.MapKind``.
        settings: the arguments that build this explainer again from its model, in another
            process (a Dask worker).

    Raises:
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained.
        SettingError: for an unknown method, domain, kind or baseline, a step that is not
            positive, a wavelet that is unknown or not orthogonal, or a kind the domain cannot
            make.
    """

    def __init__(
        self,
        model: "keras.Model | str | os.PathLike",
        *,
        layer: str = defaults.LAYER,
        method: str = defaults.METHOD,
        h: float = defaults.H,
        batch_size: int | None = None,
        tile_size: int | None = None,
        images_per_call: int = defaults.IMAGES_PER_CALL,
        domain: str = defaults.DOMAIN,
        wavelet: str = defaults.WAVELET,
        levels: int = defaults.WAVELET_LEVELS,
        kind: str = defaults.MAP_KIND,
        baseline: str = defaults.BASELINE,
        blur_sigma: float = defaults.BLUR_SIGMA,
        integration_steps: int = defaults.INTEGRATION_STEPS,
        per_channel: bool = False,
    ):
        if method not in ENGINES:
            raise SettingError(f"unknown method {method!r}; choose one of {', '.join(ENGINES)}")
        low, high = defaults.H_RANGE
        if not (isinstance(h, int | float) and low <= h <= high):
            raise SettingError(
                f"h must be a number from {low:g} to {high:g}, not {h!r}: float32 passes cannot "
                "carry a step outside that range through a network's layers"
            )
        if batch_size is not None and batch_size < 1:
            raise SettingError(f"batch_size must be positive, not {batch_size}")
        self.domain = domains.domain_of(domain, wavelet, levels)
        self.kind = kinds.kind_of(kind, self.domain)
        self.baseline = kinds.check_baseline(baseline)
        if not (isinstance(integration_steps, int) and integration_steps >= 1):
            raise SettingError(
                f"integration_steps must be a whole number >= 1, not {integration_steps!r}"
            )
        self.blur_sigma = kinds.check_blur_sigma(blur_sigma)
        self.integration_steps = integration_steps
        self.settings = dict(
            layer=layer,
            method=method,
            h=h,
            batch_size=batch_size,
            tile_size=tile_size,
            images_per_call=images_per_call,
            **self.domain.settings(),
            kind=kind,
            baseline=baseline,
            blur_sigma=blur_sigma,
            integration_steps=integration_steps,
            per_channel=per_channel,
        )
        self.model = load_model(model)
        self.layer = layer
        self.method = method
        self.h = h
        self.batch_size = defaults.ENGINE_BATCH_SIZE if batch_size is None else batch_size
        self.images_per_call = images_per_call
        self._tile_size = tile_size
        self.per_channel = per_channel
        if torch_files.is_pytorch(self.model):
            from complexstep.pytorch import graph as torch_graphs

            self.graph = torch_graphs.cut(self.model, layer)
        else:
            from complexstep.twin import graph as graphs

            self.graph = graphs.cut(self.model, layer)
        self.spatial, self.channels = self.graph.spatial, self.graph.channels
        self._layers, self.step = self._chain()
        if self._layers is None and not isinstance(self.domain, domains.Pixels):
            raise SettingError(
                "wavelet maps are made for the paper's kind of network, a chain of stride-1 "
                "convolutions and 2x2 pooling; explain this one in the pixel domain"
            )
        if self.kind.weighted and (self.spatial, self.channels) != (2, 1):
            raise SettingError(
                f"{kind} maps weigh grey micrographs; explain this model's images with the "
                "complex-step kind"
            )
        if self.is_chain:
            self.engine_class = self.domain.engine(ENGINES[method])
            self._registered = {
                engine: entry
                for entry in ENGINES.values()
                for engine in (entry.pixel, entry.wavelet)
            }
        else:
            # The graph engine runs every method: the registry's entries stand for them.
            self.engine_class = ENGINES[method]
            self._registered = {entry: entry for entry in ENGINES.values()}
        self._engines: dict[tuple, object] = {}
        self._plans: dict[tuple, list[geometry.Tile]] = {}
        self._encoders: dict[tuple[int, int], keras.Model] = {}

    def _chain(self) -> tuple[list | None, int]:
        """The twin's layers where the model is the paper's kind of network up to the layer, a
        chain whose engines are faster, and the multiple its sides must be of; None and the
        spacing of the output's fields for any other graph."""
        chain = self.graph.chain()
        if chain is None or (self.spatial, self.channels) != (2, 1):
            return None, self._graph_step()
        from complexstep.twin import building as twin

        try:
            made = twin.twins_of(chain)
        except UnsupportedLayerError:
            return None, self._graph_step()
        return [item.layer for item in made], twin.size_step(chain)

    def _graph_step(self) -> int:
        """The spacing of the output cells' fields in pixels (the product of the strides and
        pools on the way), which windows of the image start at multiples of, so that every
        stride and pooling window of a window is one of the whole image's."""
        declared = getattr(self.graph, "input_shape", None)
        if declared is None:
            # A PyTorch module declares no sides; it is captured at the sides it is first given.
            return 1
        sides = tuple(side or defaults.IMAGE_SIZE for side in declared[:-1])
        try:
            axes = self.graph.geometry(sides).axes
        except Exception:  # noqa: BLE001 - a model that takes no such image has no windows
            return 1
        steps = []
        for axis in axes:
            first = axis.fields[-1][0]
            middle = len(first) // 2
            steps.append(int(first[middle + 1] - first[middle]) if len(first) > 2 else 1)
        return max(1, math.lcm(*steps))

    @property
    def backend(self) -> str:
        """The framework that computes the maps: Keras's backend, or "torch" for a PyTorch
        module, which Keras never sees."""
        if torch_files.is_pytorch(self.model):
            return "torch"
        import keras

        return keras.backend.backend()

    @property
    def is_chain(self) -> bool:
        """Whether the paper's kind of chain is explained, with tiles and the chain's engines."""
        return self._layers is not None

    def _engine_of(self, method: str):
        """What stands for a method's pixel engine: its class for a chain, its registry entry
        for the graph engine."""
        return ENGINES[method].pixel if self.is_chain else ENGINES[method]

    def check_size(self, *sides: int) -> None:
        """Checks that the network takes images of these spatial sides, and the domain too.

        Raises:
            ImageSizeError: naming the nearest sizes it takes, if not.
            SettingError: if the wavelet transform has more levels than the size takes.
        """
        if self.is_chain:
            from complexstep.twin import building as twin

            twin.check_size(*sides, self.step)
            self.domain.check_size(*sides)
            return
        if len(sides) != self.spatial or min(sides) < 1:
            raise ImageSizeError(
                f"the network takes images of {self.spatial} spatial axes, not "
                f"{'x'.join(map(str, sides))}"
            )
        try:
            self.graph.shapes(tuple(sides))
        except (ModelError, ImageSizeError):
            # A PyTorch module is captured at its first image size, and refused then.
            raise
        except Exception as error:  # noqa: BLE001 - the backend's own error says why
            reason = str(error).strip().splitlines()
            raise ImageSizeError(
                f"the network cannot take a {'x'.join(map(str, sides))} image: "
                f"{reason[0] if reason else type(error).__name__}"
            ) from None

    def plan(self, height: int, width: int, engine: type | None = None) -> list[geometry.Tile]:
        """The tiles an image of this size is explained in by an engine of class ``engine``
        (the pixel engine of the method if None)."""
        engine = engine or self._engine_of(self.method)
        key = (height, width, engine)
        if key not in self._plans and not self.is_chain:
            # A graph's layers may read whole axes, so its image is one tile.
            self.check_size(height, width)
            whole = self.engine((height, width), engine)
            self._plans[key] = [
                geometry.Tile(
                    geometry.AxisTile(0, height, range(whole.output_shape[0]), 0),
                    geometry.AxisTile(0, width, range(whole.output_shape[1]), 0),
                )
            ]
        if key not in self._plans:
            self.check_size(height, width)
            self._plans[key] = geometry.plan_tiles(
                self._layers,
                height,
                width,
                self.step,
                self._tile_size or self._registered[engine].tile_size,
            )
        return self._plans[key]

    def passes(self, *sides: int) -> int:
        """How many passes an image of these sides takes, as ``attribute`` reports them.

        Raises:
            ImageSizeError, SettingError: as ``check_size``.
        """
        self.check_size(*sides)
        return self.kind.passes(self, *sides)

    def pixel_passes(self, *sides: int) -> int:
        """The passes of one image's map of pixels."""
        if not self.is_chain:
            return self.engine(sides).passes
        return sum(self.engine(tile.shape).passes for tile in self.plan(*sides))

    def describe_passes(self, *sides: int) -> str:
        """How an image of these sides is explained, in a few words: the passes and their kind."""
        if self.is_chain:
            return f"{self.pixel_passes(*sides):,} passes a map"
        engine = self.engine(sides)
        if engine.direction == "forward":
            how = "forward passes, one per lattice of pixels whose influence stays apart"
        else:
            how = "reverse passes, one per lattice of output values whose fields stay apart"
        return f"{engine.passes:,} {how}"

    def pixel_squares(self, image: np.ndarray, on_pass) -> np.ndarray:
        """The squared map of one checked image, tile by tile where the network is a chain;
        per channel where ``per_channel`` is set."""
        if not self.is_chain:
            squares = self.engine(image.shape[: self.spatial]).channel_squares(image, None, on_pass)
            return squares if self.per_channel else squares.sum(axis=-1)
        squares = np.zeros(image.shape, np.float32)
        for tile, crop, cells in self.tiles(image):
            squares[tile.region] += self.engine(tile.shape).squares(crop, cells, on_pass)
        return squares

    def jacobian_passes(self, height: int, width: int) -> int:
        """How many passes the Jacobian of an image of this size takes, as ``jacobian`` reports
        them."""
        return sum(
            self.engine(tile.shape, self._engine_of("jacobian")).row_passes
            for tile in self.plan(height, width, self._engine_of("jacobian"))
        )

    def mean_passes(self, height: int, width: int) -> int:
        """How many passes ``mean_attribution`` takes per image of this size."""
        return sum(
            self.engine(tile.shape, self._engine_of("jacobian")).passes
            for tile in self.plan(height, width, self._engine_of("jacobian"))
        )

    def attribute(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None):
        """The map of one image, of the explainer's kind, float32 ``(height, width)``.

        In the wavelet domain, the attribution of every coefficient, in the layout of
        ``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet, mode="periodization",
        level=levels))``.

        Args:
            image: float ``(height, width)`` with values in [0, 1], checked by ``as_images``.
            on_pass: called with the number of passes each time some finish.
        """
        images, _ = self.as_images(image)
        return self.attribute_many(images, on_pass)[0]

    def attribute_many(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The maps of a batch of images of one size, of the explainer's kind, float32
        ``(n, height, width)``."""
        batch, _ = self.as_images(images)
        self.check_size(*batch.shape[1 : 1 + self.spatial])
        return self.kind.maps(self, batch, self._baselines(batch), on_pass or ignore_passes)

    def from_plain(self, images, plain: np.ndarray) -> np.ndarray | None:
        """The maps of the explainer's kind from the paper's maps of the same images (as a
        ``Jacobian``'s ``column_norms`` gives them), with no pass of their own; None where the
        kind takes passes of its own.

        Args:
            images: as for ``attribute_many``, or one image.
            plain: the paper's maps of the images, of their shape.
        """
        if self.kind.of_plain is None:
            return None
        batch, single = as_images(images)
        plain = np.asarray(plain, np.float32).reshape(batch.shape)
        maps = self.kind.of_plain(self, batch, self._baselines(batch), plain)
        return maps[0] if single else maps

    def _baselines(self, batch: np.ndarray) -> np.ndarray | None:
        """The baselines of checked images, where the kind takes them."""
        if not self.kind.weighted:
            return None
        return np.stack(
            [kinds.baseline_of(image, self.baseline, self.blur_sigma) for image in batch]
        )

    def plain_maps(self, images: np.ndarray, on_pass: Callable[[int], None]) -> np.ndarray:
        """The paper's maps of checked images of one size, ``||J e_k||`` (``||J w_k||`` in the
        wavelet domain), whatever the explainer's kind.

        On JAX, the jacobian method explains pixel maps of images that fit in one tile
        ``images_per_call`` at a time in one compiled call; otherwise one image at a time.
        """
        tiles = self.plan(*images.shape[1:3]) if self.is_chain else []
        together = (
            self.is_chain
            and _keras_backend() == "jax"
            and self.engine_class is self._engine_of("jacobian")
            and len(tiles) == 1
            and min(len(images), self.images_per_call) > 1
        )
        if not together:
            return np.stack(
                [
                    np.sqrt(self.domain.squares(self, image, on_pass)).astype(np.float32)
                    for image in images
                ]
            )
        engine = self.engine(tiles[0].shape)
        size = min(len(images), self.images_per_call)
        maps = []
        for start in range(0, len(images), size):
            chunk = images[start : start + size]
            # A short last chunk is padded, so that the compiled call keeps its shape.
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]))])
            maps.append(np.sqrt(engine.squares_of_many(padded)[: len(chunk)]))
            on_pass(engine.passes * len(chunk))
        return np.concatenate(maps)

    def mean_attribution(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The attribution map of the mean of the Jacobians at several images of one size,
        ``||(1/n) sum_i J(x_i) e_k||``, float32 ``(height, width)``, by the jacobian engine.

        Along a path of images this is what the integrated complex step needs, at the cost of one
        map per image.
        """
        batch, _ = self.as_images(images)
        if not self.is_chain:
            engine = self.engine(batch.shape[1 : 1 + self.spatial], self._engine_of("jacobian"))
            return np.sqrt(engine.squares_of_mean(batch, None, on_pass or ignore_passes).sum(-1))
        squares = np.zeros(batch.shape[1:], np.float32)
        jacobian = self._engine_of("jacobian")
        for tile, _, cells in self.tiles(batch[0], jacobian):
            crops = batch[(slice(None), *tile.region)]
            squares[tile.region] += self.engine(tile.shape, jacobian).squares_of_mean(
                crops, cells, on_pass or ignore_passes
            )
        return np.sqrt(squares)

    def jacobian(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None):
        """The ``Jacobian`` of the layer's output with respect to one image."""
        images, _ = self.as_images(image)
        image = images[0]
        if (self.spatial, self.channels) != (2, 1):
            raise SettingError("the Jacobian's rows are given for models of grey micrographs")
        height, width = image.shape
        self.check_size(height, width)
        starts = self._field_starts(height, width)
        values = output = None
        jacobian = self._engine_of("jacobian")
        for tile, crop, cells in self.tiles(image, jacobian):
            engine = self.engine(tile.shape, jacobian)
            part_output, part = engine.jacobian_rows(crop, cells, on_pass or ignore_passes)
            if values is None:
                shape = (len(starts[0]), len(starts[1]), part.shape[2])
                values = np.zeros(shape + part.shape[3:], np.float32)
                output = np.zeros(shape, np.float32)
            local = (
                slice(cells[0].start, cells[0].stop) if cells else slice(None),
                slice(cells[1].start, cells[1].stop) if cells else slice(None),
            )
            owned = (
                slice(tile.rows.cells.start, tile.rows.cells.stop),
                slice(tile.columns.cells.start, tile.columns.cells.stop),
            )
            values[owned] = part[local]
            output[owned] = part_output[local]
        return Jacobian(values, starts[0], starts[1], (height, width), output)

    def vjp(self, image: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """An output-shaped vector ``u`` times the layer's Jacobian at one image, ``J^T u``.

        This is the gradient of ``<f(x), u>`` with respect to the image, float32
        ``(height, width)``, equal to ``jacobian(image).vjp(u)`` but from one reverse pass per
        tile instead of the whole Jacobian.

        Raises:
            ImageError, ImageSizeError: as ``attribute``.
            SettingError: if ``cotangent`` does not have the output's shape.
        """
        images, _ = self.as_images(image)
        image = images[0]
        cotangent = np.asarray(cotangent, np.float32)
        if not self.is_chain:
            engine = self.engine(image.shape[: self.spatial])
            if cotangent.shape != engine.output_shape:
                raise SettingError(
                    f"the cotangent must have the output's shape, {engine.output_shape}, not "
                    f"{cotangent.shape}"
                )
            pulled = engine.pull_back(image, cotangent)
            return pulled[..., 0] if self.channels == 1 else pulled
        rows, columns = (len(starts) for starts in self._field_starts(*image.shape))
        gradient = np.zeros(image.shape, np.float32)
        for tile, crop, cells in self.tiles(image):
            engine = self.engine(tile.shape)
            shape = (rows, columns, engine.output_shape[-1])
            if cotangent.shape != shape:
                raise SettingError(
                    f"the cotangent must have the output's shape, {shape}, not {cotangent.shape}"
                )
            local = cotangent
            if cells is not None:
                local = np.zeros(engine.output_shape, np.float32)
                local[cells[0].start : cells[0].stop, cells[1].start : cells[1].stop] = cotangent[
                    tile.rows.cells.start : tile.rows.cells.stop,
                    tile.columns.cells.start : tile.columns.cells.stop,
                ]
            gradient[tile.region] += engine.pull_back(crop, local)
        return gradient

    def encode(self, images, unit_range: bool = True) -> np.ndarray:
        """The layer's output for images of one size, float32 ``(n, rows, columns, channels)``.

        Args:
            images: as for ``attribute``.
            unit_range: refuse values outside [0, 1]; False takes any finite values, for probes
                that step a pixel just past them.
        """
        batch, _ = self.as_images(images, unit_range)
        if not self.is_chain:
            engine = self.engine(batch.shape[1 : 1 + self.spatial])
            return np.stack([engine.output(image) for image in batch])
        import keras

        from complexstep.twin import building as twin

        height, width = batch.shape[1:]
        if (height, width) not in self._encoders:
            self._encoders[height, width] = twin.build_real_chain(
                self.model, self.layer, (height, width)
            )
        encoder = self._encoders[height, width]
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(
                    encoder(batch[start : start + self.batch_size, ..., None])
                )
                for start in range(0, len(batch), self.batch_size)
            ]
        )

    def axis_geometry(self, length: int) -> geometry.AxisGeometry:
        """Where inputs' influence lands and outputs look, along an image axis of this length."""
        if not self.is_chain:
            return self.engine((length,) * self.spatial).axes[0]
        return geometry.AxisGeometry.of(self._layers, length)

    def as_images(self, images, unit_range: bool = True) -> tuple[np.ndarray, bool]:
        """``as_images`` for the images this model takes."""
        return as_images(images, unit_range, self.spatial, self.channels)

    def _field_starts(self, height: int, width: int) -> list[np.ndarray]:
        """Where the receptive field of each output row and of each output column starts, in an
        image of this size: one entry per output row, and one per output column."""
        return [self.axis_geometry(length).fields[-1][0] for length in (height, width)]

    def tiles(self, image: np.ndarray, engine: type | None = None):
        """Yields each tile of an image (as ``plan`` makes them for an engine of class
        ``engine``), its pixels, and the tile's output cells it answers for (None where one tile
        is the whole image)."""
        tiles = self.plan(*image.shape, engine)
        for tile in tiles:
            crop = image[tile.region]
            if len(tiles) == 1:
                yield tile, crop, None
                continue
            cells = tuple(
                range(axis.cells.start - axis.offset, axis.cells.stop - axis.offset)
                for axis in (tile.rows, tile.columns)
            )
            yield tile, crop, cells

    def engine(self, shape: tuple[int, int], engine: type | None = None):
        """The engine of class ``engine`` (the method's pixel engine if None) for tiles of one
        shape, made once and kept."""
        engine = engine or self._engine_of(self.method)
        key = (engine, tuple(shape))
        if key not in self._engines and not self.is_chain:
            # The complex step goes forward, as the paper does; the jacobian engine takes the
            # direction with fewer passes.
            direction = "forward" if self._registered[engine].takes_h else None
            self._engines[key] = GraphEngine(
                self.graph, tuple(shape), self.batch_size, self.h, direction
            )
        if key not in self._engines:
            from complexstep.twin import building as twin

            made = twin.build_complex_twin(self.model, self.layer, shape)
            self._engines[key] = engine(
                made, batch_size=self.batch_size, **self._registered[engine].settings(self.h)
            )
        return self._engines[key]


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()
