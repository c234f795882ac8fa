"""The public API: attribution maps and Jacobians of any model layer, for images of any size.

    import complexstep

    maps = complexstep.attribute("models/autoencoder_microstructure.keras", images)
    jacobian = complexstep.jacobian(model, image)
    jacobian.row(4, 7, 2)        # how output (4, 7, 2) depends on every pixel
    jacobian.column(100, 80)     # how every output depends on pixel (100, 80)

An ``Explainer`` holds what explaining one layer of one model needs and reuses it from image to
image: the twin and engine for each tile shape (and their compiled passes), and the tile plan of
each image size. Images larger than ``tile_size`` are split into overlapping tiles whose outputs
are exact (``geometry.plan_tiles``), so work grows with the image's area and memory does not.
"""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from complexstep import defaults, progress
from complexstep.engines import ENGINES, ignore_passes
from complexstep.engines import wavelet_basis as wavelets
from complexstep.errors import ImageError, ModelError, SettingError
from complexstep.twin import building as twin
from complexstep.twin import geometry

_JACOBIAN = ENGINES["jacobian"].pixel
"""The engine of a Jacobian's rows and pullbacks, whatever method maps are made with."""

PRETRAINED = defaults.PRETRAINED
"""The name that stands for the model trained at the paper's settings and shipped with the
package."""

PRETRAINED_PATH = Path(__file__).parent / "model" / "pretrained" / defaults.MODEL_FILE

Progress = Callable[[int, int], None]
"""A progress callback: called with the passes done so far and the passes in all."""


def load_model(model: "keras.Model | str | os.PathLike") -> keras.Model:
    """The model itself, the model saved at a path, or the shipped model for ``"pretrained"``.

    Raises:
        ModelError: if the file is missing or is not a Keras model.
    """
    if isinstance(model, keras.Model):
        return model
    path = PRETRAINED_PATH if model == PRETRAINED else Path(model)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelError(f"cannot load the model at {path}: {error}") from None


def as_images(images, unit_range: bool = True) -> tuple[np.ndarray, bool]:
    """Checks images and returns them as float32 ``(n, height, width)``, and whether one was given.

    Args:
        images: one image ``(height, width)``, or a batch ``(n, height, width)`` or
            ``(n, height, width, 1)``, float values in [0, 1].
        unit_range: refuse values outside [0, 1]; without, any finite value is taken.

    Raises:
        ImageError: for another shape, integer values, or values outside [0, 1].
    """
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ImageError(
            "images must be one grey image (height, width) or a batch (n, height, width) or "
            f"(n, height, width, 1), not an array of shape {np.shape(images)}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(
            f"images must hold floats in [0, 1], not {array.dtype}; divide 8-bit values by 255 "
            "and 16-bit ones by 65535"
        )
    low, high = float(np.min(array)), float(np.max(array))
    inside = not unit_range or (low >= 0.0 and high <= 1.0)
    if not (np.all(np.isfinite(array)) and inside):
        wanted = "lie in [0, 1]" if unit_range else "be finite"
        raise ImageError(f"image values must {wanted}; these range from {low:g} to {high:g}")
    single = array.ndim == 2
    return np.asarray(array[None] if single else array, np.float32), single


@dataclasses.dataclass(frozen=True)
class Jacobian:
    """The Jacobian of a layer's output with respect to one image, stored by receptive field.

    Each output value depends only on the pixels of its receptive field, so each row of the
    Jacobian is kept as a window over that field: for the code of a 256x256 image, 2,048 windows of
    46x46 pixels, 17 MB where the dense matrix would take 537 MB.

    Attributes:
        values: float32 ``(rows, columns, channels, window height, window width)``: entry
            ``[i, j, c, u, v]`` is the derivative of output ``(i, j, c)`` with respect to pixel
            ``(row_starts[i] + u, column_starts[j] + v)``; zero outside its receptive field.
        row_starts: where the window of each output row starts, int ``(rows,)``.
        column_starts: where the window of each output column starts, int ``(columns,)``.
        image_shape: the image's ``(height, width)``.
        output: the layer's output for the image, float32 ``(rows, columns, channels)``.
    """

    values: np.ndarray
    row_starts: np.ndarray
    column_starts: np.ndarray
    image_shape: tuple[int, int]
    output: np.ndarray

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """The layer's output shape, ``(rows, columns, channels)``."""
        return self.values.shape[:3]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the dense Jacobian, ``output_shape + image_shape``."""
        return self.output_shape + tuple(self.image_shape)

    def row(self, i: int, j: int, channel: int) -> np.ndarray:
        """The derivatives of output ``(i, j, channel)`` with respect to every pixel, ``(H, W)``."""
        rows, columns, channels = self.output_shape
        if not (0 <= i < rows and 0 <= j < columns and 0 <= channel < channels):
            raise SettingError(
                f"output ({i}, {j}, {channel}) is outside the output's shape {self.output_shape}"
            )
        full = self._canvas()
        top, left = self.row_starts[i], self.column_starts[j]
        full[top : top + self.values.shape[3], left : left + self.values.shape[4]] = self.values[
            i, j, channel
        ]
        return self._crop(full)

    def column(self, y: int, x: int) -> np.ndarray:
        """The derivatives of every output with respect to pixel ``(y, x)``, ``output_shape``.

        This is ``Im f(image + i*h*e_k) / h`` for the pixel ``k = (y, x)``.
        """
        height, width = self.image_shape
        if not (0 <= y < height and 0 <= x < width):
            raise SettingError(f"pixel ({y}, {x}) is outside the {height}x{width} image")
        u, v = y - self.row_starts, x - self.column_starts
        rows = np.flatnonzero((u >= 0) & (u < self.values.shape[3]))
        columns = np.flatnonzero((v >= 0) & (v < self.values.shape[4]))
        result = np.zeros(self.output_shape, np.float32)
        block = self.values[np.ix_(rows, columns)]
        result[np.ix_(rows, columns)] = block[
            np.arange(len(rows))[:, None],
            np.arange(len(columns))[None, :],
            :,
            u[rows][:, None],
            v[columns][None, :],
        ]
        return result

    def column_norms(self) -> np.ndarray:
        """The norm of every column, ``(H, W)``: the attribution map, as ``attribute`` gives it."""
        return np.sqrt(self._scatter(np.sum(np.square(self.values), axis=2)))

    def jvp(self, tangent: np.ndarray) -> np.ndarray:
        """The Jacobian times an image-shaped vector, ``output_shape``."""
        windows = self._windows(np.asarray(tangent, np.float32))
        return np.einsum("ijcuv,ijuv->ijc", self.values, windows)

    def vjp(self, cotangent: np.ndarray) -> np.ndarray:
        """An output-shaped vector times the Jacobian, ``(H, W)``."""
        return self._scatter(np.einsum("ijcuv,ijc->ijuv", self.values, cotangent))

    def to_dense(self, max_bytes: int = 2**30) -> np.ndarray:
        """The dense Jacobian, ``output_shape + image_shape``, for images small enough.

        Raises:
            SettingError: if it would take more than ``max_bytes``.
        """
        size = 4 * int(np.prod(self.shape))
        if size > max_bytes:
            raise SettingError(
                f"the dense Jacobian would take {size / 2**30:.1f} GiB, more than max_bytes "
                f"({max_bytes / 2**30:.1f} GiB); use row, column, jvp and vjp instead"
            )
        dense = np.zeros(self.shape, np.float32)
        for i, j, channel in np.ndindex(*self.output_shape):
            dense[i, j, channel] = self.row(i, j, channel)
        return dense

    def _canvas(self) -> np.ndarray:
        """Zeros over the image and a window's reach past its far edges."""
        height, width = self.image_shape
        return np.zeros((height + self.values.shape[3], width + self.values.shape[4]), np.float32)

    def _crop(self, canvas: np.ndarray) -> np.ndarray:
        return canvas[: self.image_shape[0], : self.image_shape[1]]

    def _scatter(self, windows: np.ndarray) -> np.ndarray:
        """Adds per-output windows ``(rows, columns, window)`` into the image's pixels."""
        canvas = self._canvas().astype(np.float64)
        height, width = self.values.shape[3:]
        for i, top in enumerate(self.row_starts):
            for j, left in enumerate(self.column_starts):
                canvas[top : top + height, left : left + width] += windows[i, j]
        return self._crop(canvas).astype(np.float32)

    def _windows(self, image: np.ndarray) -> np.ndarray:
        """Each output's window of an image, ``(rows, columns, window)``."""
        padded = np.pad(image, ((0, self.values.shape[3]), (0, self.values.shape[4])))
        view = np.lib.stride_tricks.sliding_window_view(padded, self.values.shape[3:])
        return view[np.ix_(self.row_starts, self.column_starts)]


class Explainer:
    """Explains one layer of one model, for images of every size the network takes.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"``.
        layer: the name of the layer whose whole output is explained.
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
            image's orthonormal wavelet transform (see ``wavelets``).
        wavelet: the orthogonal PyWavelets wavelet of the wavelet domain: haar, db2, db4, sym4...
        levels: how many levels the wavelet transform has.

    Raises:
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained.
        SettingError: for an unknown method or domain, a step that is not positive, or a wavelet
            that is unknown or not orthogonal.
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
    ):
        if method not in ENGINES:
            raise SettingError(f"unknown method {method!r}; choose one of {', '.join(ENGINES)}")
        if not (isinstance(h, int | float) and h > 0 and np.isfinite(h)):
            raise SettingError(f"h must be a positive number, not {h!r}")
        if batch_size is not None and batch_size < 1:
            raise SettingError(f"batch_size must be positive, not {batch_size}")
        if domain not in defaults.DOMAINS:
            raise SettingError(
                f"unknown domain {domain!r}; choose one of {', '.join(defaults.DOMAINS)}"
            )
        wavelets.check_wavelet(wavelet)
        if not (isinstance(levels, int) and levels >= 1):
            raise SettingError(f"levels must be a whole number >= 1, not {levels!r}")
        self.domain = domain
        self.wavelet = wavelet
        self.levels = levels
        # What builds this explainer again from its model, in another process (a Dask worker).
        self.settings = dict(
            layer=layer,
            method=method,
            h=h,
            batch_size=batch_size,
            tile_size=tile_size,
            images_per_call=images_per_call,
            domain=domain,
            wavelet=wavelet,
            levels=levels,
        )
        self.model = load_model(model)
        self.layer = layer
        self.method = method
        self.h = h
        self.batch_size = defaults.ENGINE_BATCH_SIZE if batch_size is None else batch_size
        self.images_per_call = images_per_call
        self._engine_kind = ENGINES[method]
        # The Jacobian's rows and pullbacks take the jacobian engine whatever the method.
        self._kinds = {
            kind: engine for engine in ENGINES.values() for kind in (engine.pixel, engine.wavelet)
        }
        self._tile_size = tile_size
        chain = twin.layer_chain(self.model, layer)
        self._layers = [made.layer for made in twin.twins_of(chain)]
        self.step = twin.size_step(chain)
        self._engines: dict[tuple, object] = {}
        self._plans: dict[tuple, list[geometry.Tile]] = {}
        self._encoders: dict[tuple[int, int], keras.Model] = {}

    def check_size(self, height: int, width: int) -> None:
        """Checks that the network takes images of this size, and the wavelet transform too in
        the wavelet domain.

        Raises:
            ImageSizeError: naming the nearest sizes it takes, if not.
            SettingError: if the wavelet transform has more levels than the size takes.
        """
        twin.check_size(height, width, self.step)
        if self.domain == "wavelet":
            self.basis(height, width)

    def basis(self, height: int, width: int) -> wavelets.WaveletBasis:
        """The wavelet basis of images of this size.

        Raises:
            SettingError: if the transform has more levels than the size takes.
        """
        return wavelets.WaveletBasis(self.wavelet, self.levels, (height, width))

    def plan(self, height: int, width: int, kind: type | None = None) -> list[geometry.Tile]:
        """The tiles an image of this size is explained in by an engine of ``kind`` (the
        method's if None)."""
        kind = kind or self._engine_kind.pixel
        key = (height, width, kind)
        if key not in self._plans:
            self.check_size(height, width)
            self._plans[key] = geometry.plan_tiles(
                self._layers,
                height,
                width,
                self.step,
                self._tile_size or self._kinds[kind].tile_size,
            )
        return self._plans[key]

    def passes(self, height: int, width: int) -> int:
        """How many passes an image of this size takes, as ``attribute`` reports them."""
        if self.domain == "pixel":
            return sum(self._engine(tile.shape).passes for tile in self.plan(height, width))
        kind = self._engine_kind.wavelet
        tiles = self.plan(height, width, kind)
        basis = self.basis(height, width)
        total = 0
        for tile in tiles:
            canvas = basis.canvas(*_region(tile))
            engine = self._engine(tile.shape, kind)
            total += engine.coefficient_passes(canvas.basis, canvas.offset(*_region(tile)))
        return total

    def jacobian_passes(self, height: int, width: int) -> int:
        """How many passes the Jacobian of an image of this size takes, as ``jacobian`` reports
        them."""
        kind = _JACOBIAN
        return sum(
            self._engine(tile.shape, kind).row_passes for tile in self.plan(height, width, kind)
        )

    def attribute(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None):
        """The attribution map of one image, float32 ``(height, width)``.

        In the wavelet domain, the attribution of every coefficient, in the layout of
        ``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet, mode="periodization",
        level=levels))``.

        Args:
            image: float ``(height, width)`` with values in [0, 1], checked by ``as_images``.
            on_pass: called with the number of passes each time some finish.
        """
        images, _ = as_images(image)
        image = images[0]
        if self.domain == "wavelet":
            return self._wavelet_attribution(image, on_pass or ignore_passes)
        squares = np.zeros(image.shape, np.float32)
        for tile, crop, cells in self._tiles(image):
            part = self._engine(tile.shape).squares(crop, cells, on_pass or ignore_passes)
            squares[_region(tile)] += part
        return np.sqrt(squares)

    def attribute_many(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The attribution maps of a batch of images of one size, float32 ``(n, height, width)``.

        On JAX, the jacobian method explains pixel maps of images that fit in one tile
        ``images_per_call`` at a time in one compiled call; otherwise one image at a time.
        """
        batch, _ = as_images(images)
        tiles = self.plan(*batch.shape[1:])
        together = (
            keras.backend.backend() == "jax"
            and self.domain == "pixel"
            and self.method == "jacobian"
            and len(tiles) == 1
            and min(len(batch), self.images_per_call) > 1
        )
        if not together:
            return np.stack([self.attribute(image, on_pass) for image in batch])
        engine = self._engine(tiles[0].shape)
        size = min(len(batch), self.images_per_call)
        maps = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            # A short last chunk is padded, so that the compiled call keeps its shape.
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]))])
            maps.append(np.sqrt(engine.squares_of_many(padded)[: len(chunk)]))
            (on_pass or ignore_passes)(engine.passes * len(chunk))
        return np.concatenate(maps)

    def _wavelet_attribution(self, image: np.ndarray, on_pass: Callable[[int], None]):
        """The attribution of every wavelet coefficient of one image, tile by tile: each tile's
        share is worked out on a canvas that holds the basis images touching it."""
        self.check_size(*image.shape)
        basis = self.basis(*image.shape)
        kind = self._engine_kind.wavelet
        squares = np.zeros(image.shape)
        for tile, crop, cells in self._tiles(image, kind):
            canvas = basis.canvas(*_region(tile))
            part = self._engine(tile.shape, kind).coefficient_squares(
                crop, canvas.basis, canvas.offset(*_region(tile)), cells, on_pass
            )
            canvas.add_to(squares, part)
        return np.sqrt(squares).astype(np.float32)

    def mean_attribution(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The attribution map of the mean of the Jacobians at several images of one size,
        ``||(1/n) sum_i J(x_i) e_k||``, float32 ``(height, width)``, by the jacobian engine.

        Along a path of images this is what the integrated complex step needs, at the cost of one
        map per image.
        """
        batch, _ = as_images(images)
        kind = _JACOBIAN
        squares = np.zeros(batch.shape[1:], np.float32)
        for tile, _, cells in self._tiles(batch[0], kind):
            crops = batch[(slice(None), *_region(tile))]
            squares[_region(tile)] += self._engine(tile.shape, kind).squares_of_mean(
                crops, cells, on_pass or ignore_passes
            )
        return np.sqrt(squares)

    def jacobian(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None):
        """The ``Jacobian`` of the layer's output with respect to one image."""
        images, _ = as_images(image)
        image = images[0]
        height, width = image.shape
        self.check_size(height, width)
        starts = self._field_starts(height, width)
        values = output = None
        for tile, crop, cells in self._tiles(image, _JACOBIAN):
            engine = self._engine(tile.shape, _JACOBIAN)
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
        images, _ = as_images(image)
        image = images[0]
        cotangent = np.asarray(cotangent, np.float32)
        rows, columns = (len(starts) for starts in self._field_starts(*image.shape))
        gradient = np.zeros(image.shape, np.float32)
        for tile, crop, cells in self._tiles(image):
            engine = self._engine(tile.shape)
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
            gradient[_region(tile)] += engine.pull_back(crop, local)
        return gradient

    def encode(self, images, unit_range: bool = True) -> np.ndarray:
        """The layer's output for images of one size, float32 ``(n, rows, columns, channels)``.

        Args:
            images: as for ``attribute``.
            unit_range: refuse values outside [0, 1]; False takes any finite values, for probes
                that step a pixel just past them.
        """
        batch, _ = as_images(images, unit_range)
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
        return geometry.AxisGeometry.of(self._layers, length)

    def _field_starts(self, height: int, width: int) -> list[np.ndarray]:
        """Where the receptive field of each output row and of each output column starts, in an
        image of this size: one entry per output row, and one per output column."""
        return [self.axis_geometry(length).fields[-1][0] for length in (height, width)]

    def _tiles(self, image: np.ndarray, kind: type | None = None):
        """Yields each tile of an image, its pixels, and the tile's output cells it answers for
        (None where one tile is the whole image)."""
        tiles = self.plan(*image.shape, kind)
        for tile in tiles:
            crop = image[_region(tile)]
            if len(tiles) == 1:
                yield tile, crop, None
                continue
            cells = tuple(
                range(axis.cells.start - axis.offset, axis.cells.stop - axis.offset)
                for axis in (tile.rows, tile.columns)
            )
            yield tile, crop, cells

    def _engine(self, shape: tuple[int, int], kind=None):
        """The engine for images of one shape, made once and kept."""
        kind = kind or self._engine_kind.pixel
        key = (kind, shape)
        if key not in self._engines:
            made = twin.build_complex_twin(self.model, self.layer, shape)
            self._engines[key] = kind(
                made, batch_size=self.batch_size, **self._kinds[kind].settings(self.h)
            )
        return self._engines[key]


def _region(tile: geometry.Tile) -> tuple[slice, slice]:
    """The pixels of a tile, as slices of the image."""
    return (
        slice(tile.rows.start, tile.rows.start + tile.rows.length),
        slice(tile.columns.start, tile.columns.start + tile.columns.length),
    )


def attribute(
    model: "keras.Model | str | os.PathLike",
    images,
    *,
    layer: str = defaults.LAYER,
    method: str = defaults.METHOD,
    h: float = defaults.H,
    batch_size: int | None = None,
    on_progress: Progress | None = None,
    show_progress: bool = False,
    domain: str = defaults.DOMAIN,
    wavelet: str = defaults.WAVELET,
    levels: int = defaults.WAVELET_LEVELS,
) -> np.ndarray:
    """The complex-step attribution map of every pixel of one image or a batch.

    The value at pixel ``k`` is ``||Im f(x + i*h*e_k)|| / h`` over the layer's whole output ``f``:
    the norm of the output's derivative with respect to that pixel (Arumugam & Kiran, 2022). Both
    methods give the same numbers, to float32 rounding.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"`` for the model
            trained at the paper's settings that comes with the package.
        images: one image ``(height, width)`` or a batch ``(n, height, width)`` or
            ``(n, height, width, 1)``, float values in [0, 1]. Heights and widths must be ones the
            network takes: multiples of 16 for the paper's.
        layer: the name of the layer whose output is explained; "code" is the latent code.
        method: "jacobian" or "complex-step".
        h: the imaginary step of the complex-step method.
        batch_size: perturbed copies pushed through a layer at once; None for the default.
        on_progress: called with the passes done so far and the passes in all.
        show_progress: without ``on_progress``, draw a tqdm bar of the passes (a widget in
            Jupyter) where tqdm is installed, and nothing where it is not.
        domain: "pixel", or "wavelet" for the attribution ``||Im f(x + i*h*w_k)|| / h`` of every
            coefficient ``k`` of the image's orthonormal wavelet transform, whose basis image is
            ``w_k``: the norm of ``J w_k``. The squares of a wavelet map add up to those of the
            pixel map.
        wavelet: in the wavelet domain, an orthogonal PyWavelets wavelet: haar, db2, db4, sym4...
        levels: in the wavelet domain, how many levels the transform has.

    Returns:
        float32 maps, ``(height, width)`` for one image or ``(n, height, width)`` for a batch; in
        the wavelet domain laid out as ``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet,
        mode="periodization", level=levels))``.

    Raises:
        ImageError, ImageSizeError: for images of the wrong shape, type, values or size.
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained.
        SettingError: for an unknown method or domain, a step that is not positive, a wavelet
            that is unknown or not orthogonal, or more levels than the images' size takes.

    Examples:
        >>> maps = complexstep.attribute("pretrained", micrographs)  # doctest: +SKIP
    """
    batch, single = as_images(images)
    explainer = _explainer(
        model,
        layer=layer,
        method=method,
        h=h,
        batch_size=batch_size,
        domain=domain,
        wavelet=wavelet,
        levels=levels,
    )
    total = len(batch) * explainer.passes(*batch.shape[1:])
    if show_progress and on_progress is None:
        on_progress = progress.tqdm_progress("attribution")
    maps = explainer.attribute_many(batch, _counting(total, on_progress))
    return maps[0] if single else maps


def jacobian(
    model: "keras.Model | str | os.PathLike",
    image,
    *,
    layer: str = defaults.LAYER,
    on_progress: Progress | None = None,
    show_progress: bool = False,
) -> Jacobian:
    """The whole Jacobian of a layer's output with respect to one image, stored sparsely.

    Args:
        model: as for ``attribute``.
        image: one image ``(height, width)``, float values in [0, 1].
        layer: the name of the layer whose output is differentiated.
        on_progress: called with the passes done so far and the passes in all.
        show_progress: as for ``attribute``.

    Returns:
        A ``Jacobian``: ``.row(i, j, channel)``, ``.column(y, x)``, ``.column_norms()`` (equal to
        ``attribute``), ``.jvp``, ``.vjp`` and ``.to_dense()``.

    Raises:
        ImageError: for a batch, and as ``attribute`` does.
        ImageSizeError, ModelError, UnsupportedLayerError: as ``attribute`` does.
    """
    batch, single = as_images(image)
    if not single:
        raise ImageError(f"jacobian takes one image (height, width), not {np.shape(image)}")
    explainer = _explainer(model, layer=layer)
    total = explainer.jacobian_passes(*batch.shape[1:])
    if show_progress and on_progress is None:
        on_progress = progress.tqdm_progress("Jacobian")
    return explainer.jacobian(batch[0], _counting(total, on_progress))


# How many settings an explained model keeps Explainers for, and how many model files are kept.
_KEPT_SETTINGS = 4
_KEPT_FILES = 4
_FILE_EXPLAINERS: dict[tuple, dict] = {}


def _explainer(model: "keras.Model | str | os.PathLike", **settings) -> Explainer:
    """The ``Explainer`` for a model and settings, kept from an earlier call where there was one,
    so that a loop of calls builds the twin and compiles the engines once.

    A ``keras.Model`` keeps its Explainers in an attribute of its own: they refer to the model
    and the model to them, a cycle the garbage collector frees with the model, so keeping them
    never keeps a model alive. A model file is known by its path, size and modification time, so
    that a file trained anew is loaded anew.
    """
    key = tuple(sorted(settings.items()))
    if isinstance(model, keras.Model):
        kept = model.__dict__.get("_complexstep_explainers")
        if kept is None:
            kept = {}
            # Past Keras's attribute tracking, which would take the cache for model state.
            object.__setattr__(model, "_complexstep_explainers", kept)
    else:
        path = PRETRAINED_PATH if model == PRETRAINED else Path(model)
        try:
            status = path.stat()
        except OSError:
            return Explainer(model, **settings)
        file = (str(path.resolve()), status.st_size, status.st_mtime_ns)
        if file not in _FILE_EXPLAINERS and len(_FILE_EXPLAINERS) >= _KEPT_FILES:
            _FILE_EXPLAINERS.pop(next(iter(_FILE_EXPLAINERS)))
        kept = _FILE_EXPLAINERS.setdefault(file, {})
    if key not in kept:
        if len(kept) >= _KEPT_SETTINGS:
            kept.pop(next(iter(kept)))
        kept[key] = Explainer(model, **settings)
    return kept[key]


def _counting(total: int, on_progress: Progress | None) -> Callable[[int], None]:
    """A per-pass callback that tells ``on_progress`` the passes done so far and the total."""
    done = 0

    def on_pass(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    return on_pass


def encode(
    model: "keras.Model | str | os.PathLike", images, *, layer: str = defaults.LAYER
) -> np.ndarray:
    """The output of a layer for one image or a batch: the code, for ``layer="code"``.

    Returns:
        float32 ``(rows, columns, channels)`` for one image, or with a leading batch axis.
    """
    batch, single = as_images(images)
    output = _explainer(model, layer=layer).encode(batch)
    return output[0] if single else output
