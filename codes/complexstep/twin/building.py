"""The complex twin of a trained model, built from the model's own layers.

A model is read as a chain of layers from its input to the layer to explain. Each layer becomes its
complex twin through ``TWINS``, a registry keyed by Keras layer class: the entry reads the layer's
configuration (kernel, strides, pool size, activation), refuses what the twin cannot mirror with a
message that says why, and returns the complex layer with the weights it takes. Layers that are
the identity at inference (``Dropout``) have no twin and are left out of the chain.

The twin and the real chain can be built for any input height and width the layers accept, which
is how a model trained on 256x256 micrographs explains micrographs of any size.
"""

import dataclasses
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import layers

from complexstep.errors import ImageSizeError, ModelError, UnsupportedLayerError
from complexstep.twin import complex_layers
from complexstep.twin import graph as graphs
from complexstep.twin.complex_layers import ComplexLayer


@dataclasses.dataclass(frozen=True)
class Twin:
    """What a registry entry makes of a layer: its complex twin and the weights it takes."""

    layer: ComplexLayer
    weights: list[np.ndarray]


TWINS: dict[type, Callable[[keras.layers.Layer], Twin | None]] = {}
"""Registry of twin makers by Keras layer class; a maker returns None for an identity layer."""

SUPPORTED = (
    "Conv2D (odd square kernel, stride 1, no dilation, 'same' padding, ReLU or linear), "
    "MaxPooling2D (square windows, stride equal to the window, 'valid' padding), "
    "UpSampling2D (nearest, the same factor along both axes), "
    "BatchNormalization (over channels) and Dropout"
)


def registers(layer_class: type) -> Callable:
    """Registers the decorated function as the twin maker of ``layer_class``."""

    def register(maker: Callable) -> Callable:
        TWINS[layer_class] = maker
        return maker

    return register


def _refuse(layer: keras.layers.Layer, reason: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"layer {layer.name!r} ({type(layer).__name__}) has no complex twin: {reason}; the twin "
        f"supports {SUPPORTED}"
    )


def _square(value, layer: keras.layers.Layer, name: str) -> int:
    """The single side of a square size from a layer's configuration."""
    sides = (value, value) if isinstance(value, int) else tuple(value)
    if len(set(sides)) != 1:
        raise _refuse(layer, f"its {name} {sides} is not square")
    return sides[0]


def _channels_last(layer: keras.layers.Layer, config: dict) -> None:
    if config.get("data_format", "channels_last") != "channels_last":
        raise _refuse(layer, "it is channels_first")


@registers(layers.Conv2D)
def _convolution(layer: keras.layers.Conv2D) -> Twin:
    config = layer.get_config()
    _channels_last(layer, config)
    size = _square(config["kernel_size"], layer, "kernel")
    if size % 2 == 0:
        raise _refuse(layer, f"its kernel side {size} is even, so 'same' padding is lopsided")
    if _square(config["strides"], layer, "strides") != 1:
        raise _refuse(layer, f"its strides are {tuple(config['strides'])}, not 1")
    if _square(config["dilation_rate"], layer, "dilation") != 1:
        raise _refuse(layer, f"its dilation rate is {tuple(config['dilation_rate'])}, not 1")
    if config["padding"] != "same":
        raise _refuse(layer, f"its padding is {config['padding']!r}, not 'same'")
    if config["groups"] != 1:
        raise _refuse(layer, f"it has {config['groups']} groups, not 1")
    activation = config["activation"]
    if activation not in ("relu", "linear"):
        raise _refuse(layer, f"its activation is {activation!r}, not 'relu' or 'linear'")
    twin = complex_layers.ComplexConv2D(
        config["filters"], size, activation, config["use_bias"], name=layer.name
    )
    return Twin(twin, [np.asarray(weight) for weight in layer.get_weights()])


@registers(layers.MaxPooling2D)
def _pooling(layer: keras.layers.MaxPooling2D) -> Twin:
    config = layer.get_config()
    _channels_last(layer, config)
    size = _square(config["pool_size"], layer, "pool size")
    if _square(config["strides"], layer, "strides") != size:
        raise _refuse(layer, f"its strides {tuple(config['strides'])} differ from its windows")
    if config["padding"] != "valid":
        raise _refuse(layer, f"its padding is {config['padding']!r}, not 'valid'")
    return Twin(complex_layers.ComplexMaxPooling2D(size, name=layer.name), [])


@registers(layers.UpSampling2D)
def _upsampling(layer: keras.layers.UpSampling2D) -> Twin:
    config = layer.get_config()
    _channels_last(layer, config)
    if config["interpolation"] != "nearest":
        raise _refuse(layer, f"its interpolation is {config['interpolation']!r}, not 'nearest'")
    size = _square(config["size"], layer, "size")
    return Twin(complex_layers.ComplexUpSampling2D(size, name=layer.name), [])


@registers(layers.BatchNormalization)
def _batch_normalization(layer: keras.layers.BatchNormalization) -> Twin:
    config = layer.get_config()
    axis = config["axis"]
    if axis not in (-1, 3, [-1], [3]):
        raise _refuse(layer, f"it normalises axis {axis}, not the channels")
    mean = np.asarray(layer.moving_mean, np.float64)
    variance = np.asarray(layer.moving_variance, np.float64)
    gamma = np.asarray(layer.gamma, np.float64) if layer.scale else np.ones_like(mean)
    beta = np.asarray(layer.beta, np.float64) if layer.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + config["epsilon"])
    offset = beta - mean * scale
    return Twin(
        complex_layers.ComplexBatchNormalization(name=layer.name),
        [scale.astype(np.float32), offset.astype(np.float32)],
    )


@registers(layers.Dropout)
def _dropout(layer: keras.layers.Dropout) -> None:
    return None


def layer_chain(model: keras.Model, layer: str) -> list[keras.layers.Layer]:
    """The layers from the model's input up to and including ``layer``, nested models unpacked,
    where they form a chain.

    The model is cut at ``layer`` first (``graph.cut``), so what follows it never matters.

    Raises:
        ModelError: if the model does not take one grey channel, has no layer named ``layer``, or
            is not a chain of layers up to it.
    """
    shape = model.input_shape
    if not (isinstance(shape, tuple) and len(shape) == 4 and shape[-1] == 1):
        raise ModelError(
            f"the model takes inputs of shape {shape}; the twin explains models of grey images, "
            "(batch, height, width, 1)"
        )
    chain = graphs.cut(model, layer).chain()
    if chain is None:
        raise ModelError(
            f"the model is not a chain of layers up to {layer!r}: a layer reads another than the "
            "one before it"
        )
    return chain


def twins_of(chain: list[keras.layers.Layer]) -> list[Twin]:
    """The twin of each layer of a chain, identity layers left out.

    Raises:
        UnsupportedLayerError: for a layer the registry has no entry for or refuses.
    """
    made = []
    for item in chain:
        maker = TWINS.get(type(item))
        if maker is None:
            raise _refuse(item, "the registry has no entry for its class")
        twin = maker(item)
        if twin is not None:
            made.append(twin)
    return made


def size_step(chain: list[keras.layers.Layer]) -> int:
    """The number that heights and widths must be multiples of: the pooling windows' product."""
    return math.prod(twin.layer.pool_size for twin in twins_of(chain) if _pools(twin.layer))


def _pools(layer: ComplexLayer) -> bool:
    return isinstance(layer, complex_layers.ComplexMaxPooling2D)


def check_size(height: int, width: int, step: int) -> None:
    """Checks that the network takes an image of this size.

    Raises:
        ImageSizeError: naming the nearest sizes it takes, if it does not.
    """
    if height % step == 0 and width % step == 0 and height > 0 and width > 0:
        return
    nearest = []
    for name, side in (("height", height), ("width", width)):
        if side % step:
            below, above = side // step * step, (side // step + 1) * step
            options = [str(size) for size in (below, above) if size > 0]
            nearest.append(f"{name} {' or '.join(options)}")
    raise ImageSizeError(
        f"the network takes heights and widths that are multiples of {step}, not a "
        f"{height}x{width} image; the nearest it takes: {', '.join(nearest)} (crop or pad the "
        "image)"
    )


def build_complex_twin(
    model: keras.Model, layer: str, size: tuple[int, int] | None = None
) -> keras.Model:
    """Builds the complex-valued twin of a model, up to and including ``layer``.

    The twin takes and returns complex64 tensors; its real part follows the trained model exactly.

    Args:
        model: a trained model, a chain of supported layers taking one grey channel.
        layer: the name of the layer whose output the twin returns.
        size: the ``(height, width)`` of the images the twin takes; None for the model's own.

    Raises:
        ModelError: if the model has no such layer or is not a chain of layers.
        UnsupportedLayerError: for a layer the twin cannot mirror.
        ImageSizeError: if the layers cannot take images of ``size``.
    """
    chain = layer_chain(model, layer)
    made = twins_of(chain)
    height, width = _size(model, size)
    check_size(height, width, size_step(chain))
    inputs = keras.Input((height, width, 1), dtype="complex64", name="micrograph")
    outputs = inputs
    for twin in made:
        outputs = twin.layer(outputs)
    for twin in made:
        twin.layer.set_weights(twin.weights)
    return keras.Model(inputs, outputs, name=f"{model.name}_complex_twin")


def build_real_chain(
    model: keras.Model, layer: str, size: tuple[int, int] | None = None
) -> keras.Model:
    """A real model of the same layers and weights up to ``layer``, for images of ``size``.

    Raises:
        ModelError: if the model has no such layer or is not a chain of layers.
        UnsupportedLayerError: for a layer the twin cannot mirror.
        ImageSizeError: if the layers cannot take images of ``size``.
    """
    chain = layer_chain(model, layer)
    twins_of(chain)
    height, width = _size(model, size)
    check_size(height, width, size_step(chain))
    inputs = keras.Input((height, width, 1), name="micrograph")
    outputs = inputs
    copies = []
    for item in chain:
        copy = type(item).from_config(item.get_config())
        outputs = copy(outputs)
        copies.append((copy, item))
    for copy, item in copies:
        copy.set_weights(item.get_weights())
    return keras.Model(inputs, outputs, name=f"{model.name}_to_{layer}")


def _size(model: keras.Model, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is not None:
        return int(size[0]), int(size[1])
    _, height, width, _ = model.input_shape
    if height is None or width is None:
        raise ImageSizeError("the model takes images of any size; give the size to build for")
    return height, width
