"""One layer of one model as the engines see it: a graph of linear maps at each image, the engine
of each tile shape, and the tiles of each image size.

Images larger than ``tile_size`` are split into overlapping tiles whose outputs are exact, so
work grows with the image's area and memory does not: the paper's kind of chain by
``geometry.plan_tiles``, any other graph along each axis whose output cells read windows of the
image (``_graph_plan``), and in one piece along an axis they read whole. A ``Tiling`` knows
nothing of what a map attributes to or which map it is: the domains and kinds are given one and
ask it for engines, tiles and passes.
"""

import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.engines import ENGINES
from complexstep.engines.graph import GraphEngine
from complexstep.errors import ImageSizeError, ModelError, SettingError, UnsupportedLayerError
from complexstep.explain.jacobian import Jacobian
from complexstep.model import torch_files
from complexstep.twin import geometry

if TYPE_CHECKING:
    import keras

# Keras's twin and engines (twin.building, twin.graph, the registry's classes) are imported where
# a Keras model needs them: a PyTorch module is explained without starting Keras.


class Tiling:
    """The engines and tile plans of one layer of a loaded model.

    Args:
        model: a loaded ``keras.Model``, or a PyTorch module or ``torch.export`` program.
        settings: the explainer's ``settings.ExplainerSettings`` (not imported here: the settings
            check the domains and kinds, which are given a tiling); the tiling reads the layer (a
            PyTorch submodule's path) whose output is explained, the engine, ``h``, the batch and
            tile sizes, the images per call and ``per_channel``.

    Raises:
        ModelError, UnsupportedLayerError: if the model cannot be cut at the layer or mirrored.
    """

    def __init__(self, model, settings):
        self.model, self.settings = model, settings
        self.entry = ENGINES[settings.engine]
        if torch_files.is_pytorch(model):
            from complexstep.pytorch import graph as torch_graphs

            self.graph = torch_graphs.cut(model, settings.layer)
        else:
            from complexstep.twin import graph as graphs

            self.graph = graphs.cut(model, settings.layer)
        self.spatial, self.channels = self.graph.spatial, self.graph.channels
        self.layers, self.step = self._chain()
        if self.is_chain:
            self._registered = {
                engine: entry
                for entry in ENGINES.values()
                for engine in (entry.pixel, entry.wavelet)
            }
        else:
            # The graph engine runs every engine's passes: the registry's entries stand for them.
            self._registered = {entry: entry for entry in ENGINES.values()}
        self._engines: dict[tuple, object] = {}
        self._plans: dict[tuple, list[geometry.Tile]] = {}
        self._encoders: dict[tuple[int, int], keras.Model] = {}

    @property
    def batch_size(self) -> int:
        """Perturbed copies of a full-resolution tile pushed through a layer at once."""
        if self.settings.batch_size is None:
            return defaults.ENGINE_BATCH_SIZE
        return self.settings.batch_size

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
        return max(1, math.lcm(*(geometry.field_spacing(axis) for axis in axes)))

    @property
    def is_chain(self) -> bool:
        """Whether the paper's kind of chain is explained, with tiles and the chain's engines."""
        return self.layers is not None

    def engine_of(self, name: str):
        """What stands for the pixel engine of an engine's name: its class for a chain, its
        registry entry for the graph engine."""
        return ENGINES[name].pixel if self.is_chain else ENGINES[name]

    def check_size(self, *sides: int) -> None:
        """Checks that the network takes images of these spatial sides.

        Raises:
            ImageSizeError: naming the nearest sizes it takes, if not.
        """
        if self.is_chain:
            from complexstep.twin import building as twin

            twin.check_size(*sides, self.step)
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

    def plan(self, *sides: int, engine: type | None = None) -> list[geometry.Tile]:
        """The tiles an image of these spatial sides is explained in by an engine of class
        ``engine`` (the settings' pixel engine if None)."""
        engine = engine or self.engine_of(self.settings.engine)
        key = (sides, engine)
        if key not in self._plans:
            self.check_size(*sides)
            size = self.settings.tile_size or self._registered[engine].tile_size
            if self.is_chain:
                self._plans[key] = geometry.plan_tiles(self.layers, *sides, self.step, size)
            else:
                self._plans[key] = self._graph_plan(sides, size)
        return self._plans[key]

    def _graph_plan(self, sides: tuple[int, ...], size: int) -> list[geometry.Tile]:
        """A graph's tiles: along each axis, those ``plan_axis`` makes where the graph computes
        their cells as the image does (``matched_tile``); one the whole axis where a cell reads
        more than ``size`` pixels (a dense layer, global pooling, a group's norm), or a tile's
        cells would come out otherwise."""
        along = []
        for index, axis in enumerate(self.graph.geometry(sides).axes):
            length = sides[index]
            one = [geometry.AxisTile(0, length, range(axis.lengths[-1]), 0)]
            step = max(1, geometry.field_spacing(axis))
            try:
                # Each tile is then grown to the image's length modulo the step, by which 'same'
                # padding places a strided layer's windows: so it places them as on the image.
                planned = geometry.plan_axis(axis, step, size - step + 1)
            except SettingError:
                planned = one
            if len(planned) > 1:
                grown = [geometry.congruent(tile, length, step) for tile in planned]
                alone = {tile.length: self._axis_alone(sides, index, tile.length) for tile in grown}
                matched = [
                    None
                    if alone[tile.length] is None
                    else geometry.matched_tile(axis, tile, alone[tile.length])
                    for tile in grown
                ]
                planned = one if None in matched else matched
            along.append(planned)
        return [geometry.Tile(axes) for axes in itertools.product(*along)]

    def _axis_alone(self, sides: tuple[int, ...], index: int, length: int):
        """The geometry of axis ``index`` of an image of ``sides`` cut to ``length`` along it;
        None where the graph takes no such image (a program exported for one size)."""
        cut = tuple(length if axis == index else side for axis, side in enumerate(sides))
        try:
            return self.graph.geometry(cut).axes[index]
        except ImageSizeError:
            return None

    def tiles(self, image: np.ndarray, engine: type | None = None):
        """Yields each tile of an image (as ``plan`` makes them for an engine of class
        ``engine``), its pixels, and the tile's output cells it answers for (None where one tile
        is the whole image)."""
        tiles = self.plan(*image.shape[: self.spatial], engine=engine)
        for tile in tiles:
            crop = image[tile.region]
            if len(tiles) == 1:
                yield tile, crop, None
                continue
            cells = tuple(
                range(axis.cells.start - axis.offset, axis.cells.stop - axis.offset)
                for axis in tile.axes
            )
            yield tile, crop, cells

    def engine(self, shape: tuple[int, ...], engine: type | None = None):
        """The engine of class ``engine`` (the settings' pixel engine if None) for tiles of one
        shape, made once and kept."""
        engine = engine or self.engine_of(self.settings.engine)
        key = (engine, tuple(shape))
        if key not in self._engines and not self.is_chain:
            # The complex step goes forward, as the paper does; the jacobian engine takes the
            # direction with fewer passes.
            direction = "forward" if self._registered[engine].takes_h else None
            self._engines[key] = GraphEngine(
                self.graph, tuple(shape), self.batch_size, self.settings.h, direction
            )
        if key not in self._engines:
            from complexstep.twin import building as twin

            made = twin.build_complex_twin(self.model, self.settings.layer, shape)
            self._engines[key] = engine(
                made,
                batch_size=self.batch_size,
                **self._registered[engine].settings(self.settings.h),
            )
        return self._engines[key]

    def pixel_passes(self, *sides: int) -> int:
        """The passes of one image's map of pixels."""
        return sum(self.engine(tile.shape).passes for tile in self.plan(*sides))

    def describe_passes(self, *sides: int) -> str:
        """How an image of these sides is explained, in a few words: the passes and their kind."""
        tiles = self.plan(*sides)
        if self.is_chain:
            how = "passes a map"
        elif self.engine(tiles[0].shape).direction == "forward":
            how = "forward passes, one per lattice of pixels whose influence stays apart"
        else:
            how = "reverse passes, one per lattice of output values whose fields stay apart"
        tiled = f", in {len(tiles)} tiles" if len(tiles) > 1 else ""
        return f"{self.pixel_passes(*sides):,} {how}{tiled}"

    def pixel_squares(self, image: np.ndarray, on_pass) -> np.ndarray:
        """The squared map of pixels of one checked image, tile by tile; per channel where
        ``per_channel`` is set."""
        per_channel = self.settings.per_channel
        sides = image.shape[: self.spatial]
        channels = (self.channels,) if per_channel else ()
        squares = np.zeros((*sides, *channels), np.float32)
        for tile, crop, cells in self.tiles(image):
            engine = self.engine(tile.shape)
            if self.is_chain:
                squares[tile.region] += engine.squares(crop, cells, on_pass)
                continue
            part = engine.channel_squares(crop, cells, on_pass)
            squares[tile.region] += part if per_channel else part.sum(axis=-1)
        return squares

    def pixel_maps(self, images: np.ndarray, on_pass: Callable[[int], None]) -> np.ndarray:
        """The paper's maps of pixels, ``||J e_k||``, of checked images of one size.

        On JAX, the jacobian engine explains images that fit in one tile ``images_per_call`` at
        a time in one compiled call; otherwise one image at a time.
        """
        tiles = self.plan(*images.shape[1:3]) if self.is_chain else []
        size = min(len(images), self.settings.images_per_call)
        together = (
            self.is_chain
            and _keras_backend() == "jax"
            and self.settings.engine == defaults.JACOBIAN_ENGINE
            and len(tiles) == 1
            and size > 1
        )
        if not together:
            return np.stack(
                [np.sqrt(self.pixel_squares(image, on_pass)).astype(np.float32) for image in images]
            )
        engine = self.engine(tiles[0].shape)
        maps = []
        for start in range(0, len(images), size):
            chunk = images[start : start + size]
            # A short last chunk is padded, so that the compiled call keeps its shape.
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]))])
            maps.append(np.sqrt(engine.squares_of_many(padded)[: len(chunk)]))
            on_pass(engine.passes * len(chunk))
        return np.concatenate(maps)

    def jacobian_passes(self, height: int, width: int) -> int:
        """How many passes the Jacobian of an image of this size takes, as ``jacobian`` reports
        them."""
        jacobian = self.engine_of(defaults.JACOBIAN_ENGINE)
        return sum(
            self.engine(tile.shape, jacobian).row_passes
            for tile in self.plan(height, width, engine=jacobian)
        )

    def mean_passes(self, *sides: int) -> int:
        """How many passes ``mean_map`` takes per image of these sides."""
        jacobian = self.engine_of(defaults.JACOBIAN_ENGINE)
        return sum(
            self.engine(tile.shape, jacobian).passes for tile in self.plan(*sides, engine=jacobian)
        )

    def mean_map(self, batch: np.ndarray, on_pass: Callable[[int], None]) -> np.ndarray:
        """``||(1/n) sum_i J(x_i) e_k||`` of checked images of one size, by the jacobian engine."""
        jacobian = self.engine_of(defaults.JACOBIAN_ENGINE)
        squares = np.zeros(batch.shape[1 : 1 + self.spatial], np.float32)
        for tile, _, cells in self.tiles(batch[0], jacobian):
            crops = batch[(slice(None), *tile.region)]
            part = self.engine(tile.shape, jacobian).squares_of_mean(crops, cells, on_pass)
            squares[tile.region] += part if self.is_chain else part.sum(axis=-1)
        return np.sqrt(squares)

    def jacobian(self, image: np.ndarray, on_pass: Callable[[int], None]) -> Jacobian:
        """The ``Jacobian`` of the layer's output at one checked grey image."""
        if (self.spatial, self.channels) != (2, 1):
            raise SettingError("the Jacobian's rows are given for models of grey micrographs")
        height, width = image.shape
        self.check_size(height, width)
        starts = self.field_starts(height, width)
        values = output = None
        jacobian = self.engine_of(defaults.JACOBIAN_ENGINE)
        for tile, crop, cells in self.tiles(image, jacobian):
            engine = self.engine(tile.shape, jacobian)
            part_output, part = engine.jacobian_rows(crop, cells, on_pass)
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
        """``J^T u`` at one checked image, one reverse pass per tile.

        Raises:
            SettingError: if ``cotangent`` does not have the output's shape.
        """
        if not self.is_chain:
            engine = self.engine(image.shape[: self.spatial])
            if cotangent.shape != engine.output_shape:
                raise SettingError(
                    f"the cotangent must have the output's shape, {engine.output_shape}, not "
                    f"{cotangent.shape}"
                )
            pulled = engine.pull_back(image, cotangent)
            return pulled[..., 0] if self.channels == 1 else pulled
        rows, columns = (len(starts) for starts in self.field_starts(*image.shape))
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

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """The layer's output for checked images of one size."""
        if not self.is_chain:
            engine = self.engine(batch.shape[1 : 1 + self.spatial])
            return np.stack([engine.output(image) for image in batch])
        import keras

        from complexstep.twin import building as twin

        height, width = batch.shape[1:]
        if (height, width) not in self._encoders:
            self._encoders[height, width] = twin.build_real_chain(
                self.model, self.settings.layer, (height, width)
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
        return geometry.AxisGeometry.of(self.layers, length)

    def field_starts(self, height: int, width: int) -> list[np.ndarray]:
        """Where the receptive field of each output row and of each output column starts, in an
        image of this size: one entry per output row, and one per output column."""
        return [self.axis_geometry(length).fields[-1][0] for length in (height, width)]


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()
