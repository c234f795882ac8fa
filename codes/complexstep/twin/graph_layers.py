"""The twin of each layer of any encoder: a state from the real pass, a linear map for the rest.

The real pass of an image fixes a state in every layer; the imaginary part of the complex step,
``Im f(x + i*h*e_k) / h``, then goes through a fixed linear map, the layer's derivative at that
state, whatever else the layer does. A ``LayerTwin`` is that pair for one layer of a Keras model:

- ``real(inputs)`` gives the layer's real output and its state: ``g'(a)`` at the pre-activation
  ``a`` of an element-wise activation (the ReLU mask, 1 or alpha for a leaky ReLU, ``1 - tanh**2``),
  the real input where the derivative is the backend's own (the window a max pooling picks, a
  normalisation's Jacobian), the other branch's real value for a product, or nothing for a layer
  that is linear in its input;
- ``linear(tangents, state)`` applies the derivative to a batch of perturbations, which
  broadcasts against a state of batch one; an affine layer is the layer without its bias;
- ``adjoint(cotangent, state, inputs)`` applies its transpose, for the reverse passes;
- ``fields(dim, length, out_length)`` says which input indices along a spatial axis each output
  index reads, so that the engines know where each pixel's influence can land.

``TWINS`` maps each Keras layer class to the function that makes its twin; ``register_twin`` adds
one for a layer of a user's own, and ``docs/encoders.md`` lists every entry with its state.
"""

import dataclasses
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import layers, ops

from complexstep.errors import Refusal
from complexstep.twin import autodiff
from complexstep.twin.fields import (
    IDENTITY,
    Fields,
    per_dim,
    shifted,
    transposed_fields,
    upsampled,
    window_fields,
)


class LayerTwin:
    """One layer linearised at the real pass of an image.

    Attributes:
        keeps_axes: whether the spatial axes of the input stay at their places in the output
            (False for Flatten, Reshape, Permute: every axis is then read whole).
        state_kind: the state, in a few words, for the documentation.
    """

    keeps_axes: bool = True
    state_kind: str = "none: the map is the layer without its bias"

    def real(self, inputs: list) -> tuple:
        raise NotImplementedError

    def linear(self, tangents: list, state):
        raise NotImplementedError

    def adjoint(self, cotangent, state, inputs: list) -> list:
        """The transpose of ``linear`` for each input; by default the backend's reverse mode of
        ``linear``, exact since the map is linear."""
        return [
            autodiff.vjp(lambda t: self.linear([t], state), ops.zeros_like(inputs[0]), cotangent)
        ]

    def fields(self, dim: int, length: int, out_length: int) -> Fields:
        return IDENTITY


class KerasCall(LayerTwin):
    """A layer linear in its input (padding, cropping, up-sampling, average pooling, reshaping,
    flattening): its map is the layer itself."""

    def __init__(self, layer: keras.layers.Layer, fields: Callable | None = None, keeps=True):
        self.layer = layer
        self._fields = fields
        self.keeps_axes = keeps

    def real(self, inputs):
        return self.layer(inputs[0]), None

    def linear(self, tangents, state):
        return self.layer(tangents[0])

    def fields(self, dim, length, out_length):
        return self._fields(dim, length, out_length) if self._fields else None


class Derivative(LayerTwin):
    """A layer whose state is its real input and whose map is its derivative there, from the
    backend's own forward and reverse modes: max pooling (the window's maximum), normalisation
    over positions or groups, and other layers the backend differentiates exactly."""

    state_kind = "the real input: the layer's derivative there, from the backend"

    def __init__(self, layer: keras.layers.Layer, fields: Callable | None = None, keeps=True):
        self.layer = layer
        self._fields = fields
        self.keeps_axes = keeps

    def real(self, inputs):
        return self.layer(inputs[0]), inputs[0]

    def linear(self, tangents, state):
        return autodiff.jvp(self.layer, state, tangents[0])

    def adjoint(self, cotangent, state, inputs):
        return [autodiff.vjp(self.layer, state, cotangent)]

    def fields(self, dim, length, out_length):
        return self._fields(dim, length, out_length) if self._fields else None


class Activation(LayerTwin):
    """An element-wise activation ``g``: the state is ``g'(a)`` at the real input ``a``."""

    state_kind = "g'(a) at the real pre-activation a"

    def __init__(self, function: Callable):
        self.function = function

    def real(self, inputs):
        a = inputs[0]
        return self.function(a), autodiff.vjp(self.function, a, ops.ones_like(a))

    def linear(self, tangents, state):
        return tangents[0] * state

    def adjoint(self, cotangent, state, inputs):
        return [cotangent * state]


class Softmax(LayerTwin):
    """Softmax over one axis: the state is ``s``, and the map ``t -> s * (t - <s, t>)``, the
    product with ``diag(s) - s s^T``, which is symmetric, so its own adjoint."""

    state_kind = "s = softmax(a): diag(s) - s s^T"

    def __init__(self, axis: int, rank: int):
        self.axis = axis
        self.rank = rank

    def real(self, inputs):
        s = ops.softmax(inputs[0], axis=self.axis)
        return s, s

    def linear(self, tangents, state):
        t = tangents[0]
        return state * (t - ops.sum(state * t, axis=self.axis, keepdims=True))

    def adjoint(self, cotangent, state, inputs):
        return [self.linear([cotangent], state)]

    def fields(self, dim, length, out_length):
        return None if dim == self.axis % self.rank else IDENTITY


class Affine(LayerTwin):
    """A convolution of any kind, or a dense layer, and its activation: the map is the layer
    without its bias, times the activation's derivative at the real pre-activation."""

    def __init__(self, layer: keras.layers.Layer, activation: LayerTwin | None, fields: Callable):
        self.with_bias = _copy(layer, activation="linear")
        self.without_bias = _copy(layer, activation="linear", use_bias=False)
        self.activation = activation
        self._fields = fields
        self.state_kind = (
            activation.state_kind if activation else "none: the layer without its bias"
        )

    def real(self, inputs):
        a = self.with_bias(inputs[0])
        if self.activation is None:
            return a, None
        return self.activation.real([a])

    def linear(self, tangents, state):
        t = self.without_bias(tangents[0])
        return t if self.activation is None else self.activation.linear([t], state)

    def adjoint(self, cotangent, state, inputs):
        if self.activation is not None:
            cotangent = self.activation.adjoint(cotangent, state, [])[0]
        return [autodiff.vjp(self.without_bias, ops.zeros_like(inputs[0]), cotangent)]

    def fields(self, dim, length, out_length):
        return self._fields(dim, length, out_length)


class Scale(LayerTwin):
    """A per-channel affine map, ``x * scale + offset`` (batch normalisation at inference,
    rescaling): the map multiplies by ``scale``."""

    state_kind = "none: x * scale"

    def __init__(self, scale: np.ndarray, offset: np.ndarray):
        self.scale = ops.convert_to_tensor(np.asarray(scale, np.float32))
        self.offset = ops.convert_to_tensor(np.asarray(offset, np.float32))

    def real(self, inputs):
        return inputs[0] * self.scale + self.offset, None

    def linear(self, tangents, state):
        return tangents[0] * self.scale

    def adjoint(self, cotangent, state, inputs):
        return [cotangent * self.scale]


class Merge(LayerTwin):
    """Branches joined by a sum, a difference, a mean or a stack along an axis: linear in them."""

    def __init__(self, how: str, axis: int, rank: int):
        self.how = how
        self.axis = axis
        self.rank = rank

    def real(self, inputs):
        return self._join(inputs), None

    def linear(self, tangents, state):
        return self._join(tangents)

    def _join(self, values):
        if self.how == "add":
            return sum(values[1:], values[0])
        if self.how == "subtract":
            return values[0] - values[1]
        if self.how == "average":
            return sum(values[1:], values[0]) / float(len(values))
        return ops.concatenate(values, axis=self.axis)

    def adjoint(self, cotangent, state, inputs):
        if self.how == "add":
            return [cotangent] * len(inputs)
        if self.how == "subtract":
            return [cotangent, -cotangent]
        if self.how == "average":
            return [cotangent / float(len(inputs))] * len(inputs)
        cuts = np.cumsum([x.shape[self.axis] for x in inputs])[:-1].tolist()
        return ops.split(cotangent, cuts, axis=self.axis)

    def fields(self, dim, length, out_length):
        if self.how == "concatenate" and dim == self.axis % self.rank:
            return None
        return IDENTITY


class Product(LayerTwin):
    """Branches multiplied element by element: bilinear, so each branch's perturbation is
    multiplied by the other branches' real values."""

    state_kind = "the other branches' real values"

    def real(self, inputs):
        return math.prod(inputs[1:], start=inputs[0]), inputs

    def linear(self, tangents, state):
        return sum(self._others(state, i) * t for i, t in enumerate(tangents))

    def adjoint(self, cotangent, state, inputs):
        return [cotangent * self._others(state, i) for i in range(len(state))]

    @staticmethod
    def _others(values, skip):
        others = [value for i, value in enumerate(values) if i != skip]
        return math.prod(others[1:], start=others[0])


@dataclasses.dataclass(frozen=True)
class Entry:
    """How a layer class becomes its twin.

    Attributes:
        make: the layer -> its twin, None for a layer that is the identity at inference; raises
            ``Refusal`` for a configuration it cannot mirror.
        state: the state, in a few words, for the documentation's table.
    """

    make: Callable[[keras.layers.Layer], LayerTwin | None]
    state: str


TWINS: dict[type, Entry] = {}
"""How each Keras layer class becomes its twin."""


def register_twin(layer_class: type, state: str = "") -> Callable:
    """Registers the decorated function as the twin maker of ``layer_class``: it takes the layer
    and returns a ``LayerTwin`` (or None for a layer that is the identity at inference).

    Examples:
        >>> @complexstep.register_twin(MyScale, state="none: x * factor")  # doctest: +SKIP
        ... def _my_scale(layer):
        ...     return complexstep.twin.graph_layers.Scale(layer.factor, 0.0)
    """

    def register(make: Callable) -> Callable:
        TWINS[layer_class] = Entry(make, state or "given by the registered twin")
        return make

    return register


def twin_of(layer: keras.layers.Layer) -> LayerTwin | None:
    """The twin of one layer, None for an identity at inference.

    Raises:
        Refusal: if the registry has no entry for the layer's class, or refuses its configuration.
    """
    for cls in type(layer).__mro__:
        if cls in TWINS:
            return TWINS[cls].make(layer)
    raise Refusal(
        "the registry has no twin for its class",
        "register one with complexstep.register_twin (see docs/encoders.md)",
    )


# ---- What the layers' configurations say -------------------------------------------------------

# Activations that mix values, whose derivative is no element-wise product.
_MIXING = {"softmax", "log_softmax", "glu", "sparsemax"}


def activation_twin(name) -> LayerTwin | None:
    """The twin of an activation given by name in a layer's configuration; None for "linear".

    Raises:
        Refusal: for an activation that is not one of Keras's by name.
    """
    if name in (None, "linear"):
        return None
    if not isinstance(name, str):
        raise Refusal(
            f"its activation {name!r} is not one of Keras's by name",
            "an Activation layer of a Keras activation, or a registered twin",
        )
    if name == "softmax":
        return Softmax(-1, 2)
    if name in _MIXING:
        raise Refusal(f"its activation {name!r} mixes values", "softmax or an element-wise one")
    try:
        function = keras.activations.get(name)
    except (ValueError, TypeError):
        raise Refusal(f"its activation {name!r} is unknown", "a Keras activation") from None
    return Activation(function)


def _copy(layer: keras.layers.Layer, **changes) -> keras.layers.Layer:
    """A copy of a layer with some of its configuration changed, holding its weights (the bias
    left out where ``use_bias`` is turned off).

    A grouped convolution becomes one convolution whose kernel holds the groups' kernels block by
    block: the same numbers, and a layer TensorFlow can differentiate on the CPU, which it cannot
    for grouped convolutions.
    """
    config = {**layer.get_config(), **changes}
    config.pop("name", None)
    groups = config.get("groups", 1)
    if groups > 1:
        config["groups"] = 1
    copy = type(layer).from_config(config)
    copy.build(layer.input.shape)
    weights = [
        _ungrouped(value, groups) if variable.path.endswith("kernel") and groups > 1 else value
        for variable, value in zip(layer.weights, layer.get_weights(), strict=True)
        if config.get("use_bias", True) or not variable.path.endswith("bias")
    ]
    copy.set_weights(weights)
    return copy


def _ungrouped(kernel: np.ndarray, groups: int) -> np.ndarray:
    """A grouped convolution's kernel ``(*window, inputs / groups, outputs)`` as the block-diagonal
    kernel of one convolution, ``(*window, inputs, outputs)``."""
    size, width = kernel.shape[-2], kernel.shape[-1] // groups
    full = np.zeros((*kernel.shape[:-2], size * groups, kernel.shape[-1]), kernel.dtype)
    for group in range(groups):
        outputs = slice(group * width, (group + 1) * width)
        full[..., group * size : (group + 1) * size, outputs] = kernel[..., outputs]
    return full


def rank_of(layer: keras.layers.Layer) -> int:
    """The rank of a layer's output, batch axis included."""
    return len(layer.output.shape)


def _tuple(value, rank: int) -> tuple[int, ...]:
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _channels_last(layer, config) -> None:
    if config.get("data_format", "channels_last") not in (None, "channels_last"):
        raise Refusal("it is channels_first", "data_format='channels_last'")


def _convolution(layer) -> LayerTwin:
    config = layer.get_config()
    _channels_last(layer, config)
    rank = len(_tuple(config["kernel_size"], 1)) if "kernel_size" in config else 1
    kernel = _tuple(config["kernel_size"], rank)
    strides = _tuple(config["strides"], rank)
    dilation = _tuple(config.get("dilation_rate", 1), rank)
    transposed = "Transpose" in type(layer).__name__
    if transposed:
        makers = tuple(
            transposed_fields(k, s, d) for k, s, d in zip(kernel, strides, dilation, strict=True)
        )
    else:
        makers = tuple(
            window_fields(k, s, d, config["padding"])
            for k, s, d in zip(kernel, strides, dilation, strict=True)
        )
    return Affine(layer, activation_twin(config.get("activation")), per_dim(makers))


def _dense(layer) -> LayerTwin:
    config = layer.get_config()
    return Affine(layer, activation_twin(config.get("activation")), _identity)


def _identity(dim, length, out_length):
    return IDENTITY


def _pooling(layer, average: bool) -> LayerTwin:
    config = layer.get_config()
    _channels_last(layer, config)
    pool = _tuple(config["pool_size"], 1)
    rank = len(pool)
    strides = _tuple(config["strides"] or config["pool_size"], rank)
    makers = tuple(
        window_fields(k, s, 1, config["padding"]) for k, s in zip(pool, strides, strict=True)
    )
    kind = KerasCall if average else Derivative
    return kind(layer, per_dim(makers))


def _global_pooling(layer, average: bool) -> LayerTwin:
    config = layer.get_config()
    _channels_last(layer, config)
    keeps = bool(config.get("keepdims", False))
    return (KerasCall if average else Derivative)(layer, None, keeps)


def _activation_layer(layer) -> LayerTwin | None:
    return activation_twin(layer.get_config()["activation"])


def _keras_activation(layer) -> LayerTwin:
    """ReLU, LeakyReLU, ELU and PReLU layers: element-wise, their derivative from the backend."""
    return Activation(layer)


def _softmax(layer) -> LayerTwin:
    axis = layer.get_config()["axis"]
    if not isinstance(axis, int):
        raise Refusal(f"it normalises over the axes {axis}", "softmax over one axis")
    return Softmax(axis, rank_of(layer))


def _batch_normalization(layer) -> LayerTwin:
    config = layer.get_config()
    if config["axis"] not in (-1, [-1]) and config["axis"] != len(layer.input.shape) - 1:
        raise Refusal(f"it normalises axis {config['axis']}", "axis=-1, the channels")
    mean = np.asarray(layer.moving_mean, np.float64)
    variance = np.asarray(layer.moving_variance, np.float64)
    gamma = np.asarray(layer.gamma, np.float64) if layer.scale else np.ones_like(mean)
    beta = np.asarray(layer.beta, np.float64) if layer.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + config["epsilon"])
    return Scale(scale, beta - mean * scale)


def _normalised_axes(layer, axes) -> Callable:
    """Fields of a normalisation over ``axes``: whole along them, the identity elsewhere."""
    rank = len(layer.input.shape)
    over = {axis % rank for axis in (axes if isinstance(axes, list | tuple) else [axes])}

    def fields(dim, length, out_length):
        return None if dim in over else IDENTITY

    return fields


def _layer_normalization(layer) -> LayerTwin:
    return Derivative(layer, _normalised_axes(layer, layer.get_config()["axis"]))


def _group_normalization(layer) -> LayerTwin:
    _channels_last(layer, {"data_format": "channels_last"})
    return Derivative(layer, None)


def _rescaling(layer) -> LayerTwin:
    config = layer.get_config()
    scale, offset = config["scale"], config["offset"]
    if isinstance(scale, dict) or isinstance(offset, dict):
        raise Refusal("its scale or offset is a tensor", "numbers or lists of numbers")
    return Scale(np.asarray(scale, np.float32), np.asarray(offset, np.float32))


def _normalization(layer) -> LayerTwin:
    return Derivative(layer, _identity)


def _padding(layer) -> LayerTwin:
    padding = layer.get_config()["padding"]
    return KerasCall(layer, per_dim(tuple(shifted(before) for before, _ in _pairs(padding))))


def _cropping(layer) -> LayerTwin:
    cropping = layer.get_config()["cropping"]
    return KerasCall(layer, per_dim(tuple(shifted(-before) for before, _ in _pairs(cropping))))


def _pairs(value) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * 3
    return [(side, side) if isinstance(side, int) else tuple(side) for side in value]


def _upsampling(layer) -> LayerTwin:
    config = layer.get_config()
    _channels_last(layer, config)
    size = _tuple(config.get("size", 2), 1)
    interpolation = config.get("interpolation", "nearest")
    if interpolation not in ("nearest", "bilinear"):
        raise Refusal(f"its interpolation is {interpolation!r}", "'nearest' or 'bilinear'")
    return KerasCall(layer, per_dim(tuple(upsampled(f, interpolation) for f in size)))


def _merge(how: str) -> Callable:
    def make(layer) -> LayerTwin:
        return Merge(how, layer.get_config().get("axis", -1), rank_of(layer))

    return make


def _none(layer) -> None:
    return None


def _register_keras_layers() -> None:
    linear_layer = "none: the layer itself, which is linear"
    derivative = Derivative.state_kind
    for cls in (
        layers.Conv1D,
        layers.Conv2D,
        layers.Conv3D,
        layers.DepthwiseConv1D,
        layers.DepthwiseConv2D,
        layers.SeparableConv1D,
        layers.SeparableConv2D,
        layers.Conv1DTranspose,
        layers.Conv2DTranspose,
        layers.Conv3DTranspose,
    ):
        register_twin(cls, "g'(a) of its activation; the layer without its bias")(_convolution)
    register_twin(layers.Dense, "g'(a) of its activation; the layer without its bias")(_dense)
    for cls in (layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D):
        register_twin(cls, "the real input: a one-hot of each window's maximum")(
            lambda layer: _pooling(layer, average=False)
        )
    for cls in (layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D):
        register_twin(cls, linear_layer)(lambda layer: _pooling(layer, average=True))
    for cls in (
        layers.GlobalAveragePooling1D,
        layers.GlobalAveragePooling2D,
        layers.GlobalAveragePooling3D,
    ):
        register_twin(cls, linear_layer)(lambda layer: _global_pooling(layer, average=True))
    for cls in (layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D):
        register_twin(cls, "the real input: a one-hot of each channel's maximum")(
            lambda layer: _global_pooling(layer, average=False)
        )
    register_twin(layers.Activation, "g'(a) at the real input a")(_activation_layer)
    for cls in (layers.ReLU, layers.LeakyReLU, layers.ELU, layers.PReLU):
        register_twin(cls, "g'(a) at the real input a")(_keras_activation)
    register_twin(layers.Softmax, Softmax.state_kind)(_softmax)
    register_twin(layers.BatchNormalization, "none: x * gamma / sqrt(variance + epsilon)")(
        _batch_normalization
    )
    register_twin(layers.LayerNormalization, derivative)(_layer_normalization)
    register_twin(layers.GroupNormalization, derivative)(_group_normalization)
    register_twin(layers.Rescaling, "none: x * scale")(_rescaling)
    register_twin(layers.Normalization, "none: x / sqrt(variance)")(_normalization)
    for cls in (layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D):
        register_twin(cls, linear_layer)(_padding)
    for cls in (layers.Cropping1D, layers.Cropping2D, layers.Cropping3D):
        register_twin(cls, linear_layer)(_cropping)
    for cls in (layers.UpSampling1D, layers.UpSampling2D, layers.UpSampling3D):
        register_twin(cls, linear_layer)(_upsampling)
    for cls in (layers.Flatten, layers.Reshape, layers.Permute):
        register_twin(cls, linear_layer + "; every axis read whole")(
            lambda layer: KerasCall(layer, None, keeps=False)
        )
    for how, cls, state in (
        ("add", layers.Add, "none: the branches' sum"),
        ("subtract", layers.Subtract, "none: the branches' difference"),
        ("average", layers.Average, "none: the branches' mean"),
        ("concatenate", layers.Concatenate, "none: the branches side by side"),
    ):
        register_twin(cls, state)(_merge(how))
    register_twin(layers.Multiply, Product.state_kind)(lambda layer: Product())
    for cls in (
        layers.Dropout,
        layers.SpatialDropout1D,
        layers.SpatialDropout2D,
        layers.SpatialDropout3D,
        layers.GaussianNoise,
        layers.GaussianDropout,
        layers.AlphaDropout,
        layers.ActivityRegularization,
        layers.Identity,
    ):
        register_twin(cls, "none: the identity at inference")(_none)


_register_keras_layers()
