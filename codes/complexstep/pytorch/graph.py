"""A PyTorch module, cut at one submodule, as a graph of operation twins linearised at an image.

``torch.export`` captures the module, for one image size, as a graph of ATen operations; the
graph is cut at the output of the submodule asked for (its nodes are known by the module path
each operation was called from) before anything is checked, so that what comes after it never
matters. Every operation that depends on the image gets a twin, as the layers of a Keras model
do (``twin.graph_layers``): the real pass leaves a state, and perturbations go through the
linear map that state fixes, the operation's derivative there:

- an operation affine in its inputs (convolutions, linear, average and adaptive average pooling,
  batch normalisation in eval, padding, interpolation, concatenation, sums, reshaping) is the
  operation without its bias;
- an element-wise activation multiplies by ``g'(a)`` at the real input;
- max pooling gathers the perturbation at the indices of the real pass's maxima;
- layer and group normalisation and softmax apply their Jacobian at the real input;
- a product of two branches takes each branch's perturbation times the other's real value.

The reverse passes pull back through PyTorch's reverse mode of those linear maps, which is
their exact transpose. Inside, tensors are laid out as PyTorch's are, ``(batch, channels,
*spatial)``; at the engines' side the image and the output are channels-last, as the engines
and a Keras model's twin lay them out.
"""

import dataclasses
import operator
import weakref
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional

from complexstep import defaults
from complexstep.errors import ImageSizeError, ModelError, Refusal, UnsupportedLayerError
from complexstep.twin import fields, passes
from complexstep.twin.fields import IDENTITY, per_dim, shifted, transposed_fields, upsampled

ATEN = torch.ops.aten

# Each module's exported programs by image sides, beside the module rather than written onto it;
# a program holds the module's tensors, not the module, so an entry goes when its module does.
_PROGRAMS: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Live:
    """Where an operation's argument is the ``index``-th tensor it reads from the image."""

    index: int


def _bind(structure, tensors: list):
    """An argument structure with each ``Live`` replaced by its tensor."""
    if isinstance(structure, Live):
        return tensors[structure.index]
    if isinstance(structure, tuple):
        return tuple(_bind(item, tensors) for item in structure)
    if isinstance(structure, list):
        return [_bind(item, tensors) for item in structure]
    return structure


class Call:
    """One ATen operation with its arguments bound, the image-dependent ones left ``Live``.

    Attributes:
        op: the operation (an ``OpOverload``).
        named: every argument by its name in the operation's schema, defaults filled in.
    """

    def __init__(self, op, args: tuple, kwargs: dict):
        name = op.overloadpacket.__name__
        if name.endswith("_") and hasattr(ATEN, name[:-1]):
            # The real pass keeps every node's value, so an activation in place (ReLU's
            # inplace=True) must not overwrite the value it reads.
            op = getattr(getattr(ATEN, name[:-1]), op._overloadname)
        self.op = op
        self.schema = op._schema.arguments
        self.named = {}
        for position, argument in enumerate(self.schema):
            if position < len(args) and not argument.kwarg_only:
                self.named[argument.name] = args[position]
            elif argument.name in kwargs:
                self.named[argument.name] = kwargs[argument.name]
            elif argument.has_default_value():
                self.named[argument.name] = argument.default_value
            else:
                self.named[argument.name] = None

    def __call__(self, tensors: list, **changes):
        """The operation on ``tensors``, with some named arguments changed."""
        named = {**self.named, **changes}
        args = [_bind(named[a.name], tensors) for a in self.schema if not a.kwarg_only]
        kwargs = {a.name: _bind(named[a.name], tensors) for a in self.schema if a.kwarg_only}
        return self.op(*args, **kwargs)


class OpTwin:
    """One operation linearised at the real pass of an image.

    Attributes:
        keeps_axes: whether the spatial axes of the input stay at their places in the output.
    """

    keeps_axes = True

    def __init__(self, call: Call, shapes: list[tuple], out_shape: tuple):
        self.call = call
        self.shapes = shapes
        self.out_shape = out_shape
        self.rank = len(out_shape)

    def real(self, inputs: list) -> tuple:
        """The real output and the state of the linear map."""
        return self.call(inputs), None

    def linear(self, tangents: list, state):
        """The derivative at the state, applied to a batch of perturbations of each input."""
        return self.call(tangents)

    def fields(self, dim: int, length: int, out_length: int):
        """Which input indices along spatial axis ``dim`` (1 for the first) each output index
        reads; ``IDENTITY`` by default, None where an input is broadcast along it."""
        axis = dim + 1
        if any(len(shape) != self.rank or shape[axis] != out_length for shape in self.shapes):
            return None
        return IDENTITY


class Affine(OpTwin):
    """A convolution or a linear layer: the map is the operation without its bias."""

    def __init__(self, call, shapes, out_shape, makers: tuple | None):
        super().__init__(call, shapes, out_shape)
        self._fields = per_dim(makers) if makers else None

    def linear(self, tangents, state):
        return self.call(tangents, bias=None)

    def fields(self, dim, length, out_length):
        if self._fields is None:
            # A linear layer on a feature map reads the last axis whole.
            return None if dim + 1 == self.rank - 1 else IDENTITY
        return self._fields(dim, length, out_length)


class Windowed(OpTwin):
    """An operation linear in its input whose outputs read windows: average pooling,
    interpolation, padding, slicing; or that reads some axes whole."""

    def __init__(self, call, shapes, out_shape, fields_of: Callable):
        super().__init__(call, shapes, out_shape)
        self._fields = fields_of

    def fields(self, dim, length, out_length):
        return self._fields(dim, length, out_length)


class Reshaping(OpTwin):
    """Views, flattening and permutations: linear, every axis read whole from here on. A view's
    batch axis follows the perturbations'."""

    keeps_axes = False

    def linear(self, tangents, state):
        name = "size" if "size" in self.call.named else "shape"
        if name not in self.call.named:
            return self.call(tangents)
        size = list(self.call.named[name])
        if size[0] != -1:
            size[0] = tangents[0].shape[0]
        return self.call(tangents, **{name: size})


class Scale(OpTwin):
    """Batch normalisation in eval: ``x * scale + offset`` per channel; the map multiplies."""

    def __init__(self, call, shapes, out_shape):
        super().__init__(call, shapes, out_shape)
        named = call.named
        if named["training"] or named["running_var"] is None:
            raise Refusal("it normalises with the batch's statistics; put the module in eval()")
        variance = named["running_var"]
        scale = torch.rsqrt(variance + named["eps"])
        if named["weight"] is not None:
            scale = scale * named["weight"]
        self.scale = scale.reshape(1, -1, *[1] * (self.rank - 2))

    def linear(self, tangents, state):
        return tangents[0] * self.scale


class Activation(OpTwin):
    """An element-wise activation ``g``: the state is ``g'(a)`` at the real input ``a``."""

    def real(self, inputs):
        a = inputs[0]
        y, slope = torch.func.jvp(lambda x: self.call([x]), (a,), (torch.ones_like(a),))
        return y, slope

    def linear(self, tangents, state):
        return tangents[0] * state


class MaxPool(OpTwin):
    """Max pooling, windowed or adaptive: the state is where each window's maximum lies in the
    real input, and the map gathers the perturbation there."""

    def __init__(self, call, shapes, out_shape, pool: Callable, fields_of: Callable):
        super().__init__(call, shapes, out_shape)
        self.pool = pool
        self._fields = fields_of

    def real(self, inputs):
        return self.pool(inputs[0])

    def linear(self, tangents, state):
        t = tangents[0]
        flat = state.flatten(2).expand(t.shape[0], -1, -1)
        return torch.gather(t.flatten(2), 2, flat).reshape(t.shape[0], *state.shape[1:])

    def fields(self, dim, length, out_length):
        return self._fields(dim, length, out_length)


class Normalised(OpTwin):
    """Layer and group normalisation: ``x_hat = (x - mean) / sigma`` over groups of values, then
    a per-channel scale; the map is its Jacobian at the real input,
    ``(t - mean(t) - x_hat * mean(x_hat * t)) / sigma`` per group, times the scale."""

    def __init__(self, call, shapes, out_shape, groups: int | None, normalised: int):
        super().__init__(call, shapes, out_shape)
        self.groups = groups
        self.normalised = normalised
        weight = call.named["weight"]
        if weight is None:
            self.weight = None
        elif groups is None:
            self.weight = weight
        else:
            self.weight = weight.reshape(1, -1, *[1] * (self.rank - 2))

    def _grouped(self, x):
        if self.groups is None:
            return x.reshape(*x.shape[: self.rank - self.normalised], -1)
        return x.reshape(x.shape[0], self.groups, -1)

    def real(self, inputs):
        x = inputs[0]
        grouped = self._grouped(x)
        mean = grouped.mean(-1, keepdim=True)
        variance = grouped.var(-1, unbiased=False, keepdim=True)
        sigma = torch.sqrt(variance + self.call.named["eps"])
        return self.call(inputs), ((grouped - mean) / sigma, sigma)

    def linear(self, tangents, state):
        normalised, sigma = state
        t = tangents[0]
        grouped = t.reshape(t.shape[0], *self._grouped(t).shape[1:])
        centred = grouped - grouped.mean(-1, keepdim=True)
        spread = normalised * (normalised * grouped).mean(-1, keepdim=True)
        y = ((centred - spread) / sigma).reshape(t.shape)
        return y if self.weight is None else y * self.weight

    def fields(self, dim, length, out_length):
        if self.groups is not None or dim + 1 >= self.rank - self.normalised:
            return None
        return IDENTITY


class Softmax(OpTwin):
    """Softmax over one axis: the state is ``s``, and the map ``t -> s * (t - <s, t>)``."""

    def real(self, inputs):
        s = self.call(inputs)
        return s, s

    def linear(self, tangents, state):
        axis = self.call.named["dim"]
        t = tangents[0]
        return state * (t - torch.sum(state * t, dim=axis, keepdim=True))

    def fields(self, dim, length, out_length):
        return None if dim + 1 == self.call.named["dim"] % self.rank else IDENTITY


class Sum(OpTwin):
    """Sums and differences of branches and constants: the map leaves the constants out."""

    def linear(self, tangents, state):
        named = self.call.named
        alpha = named.get("alpha", 1)
        first, second = named["self"], named["other"]
        sign = -1.0 if self.call.op.overloadpacket is ATEN.sub else 1.0
        parts = []
        if isinstance(first, Live):
            parts.append(tangents[first.index])
        if isinstance(second, Live):
            parts.append(sign * alpha * tangents[second.index])
        return sum(parts[1:], parts[0])


class Product(OpTwin):
    """Products and quotients with constants, and products of two branches: each branch's
    perturbation times the other's real value, so the state is the real inputs."""

    def real(self, inputs):
        return self.call(inputs), inputs

    def linear(self, tangents, state):
        first, second = self.call.named["self"], self.call.named["other"]
        divide = self.call.op.overloadpacket is ATEN.div
        if isinstance(first, Live) and isinstance(second, Live):
            return tangents[first.index] * state[second.index] + (
                state[first.index] * tangents[second.index]
            )
        if isinstance(second, Live):
            return first * tangents[0]
        return tangents[0] / second if divide else tangents[0] * second


def _product(call, shapes, out_shape):
    if call.op.overloadpacket is ATEN.div and isinstance(call.named["other"], Live):
        raise Refusal("it divides by a tensor that depends on the image")
    return Product(call, shapes, out_shape)


class Padding(Windowed):
    """Constant padding: the map pads with zeros, whatever value the real pass pads with."""

    def linear(self, tangents, state):
        return self.call(tangents, value=0.0)


class Concatenation(OpTwin):
    """Branches and constants side by side along an axis: the constants' parts are zero."""

    def linear(self, tangents, state):
        batch = tangents[0].shape[0]
        parts = [
            tangents[item.index]
            if isinstance(item, Live)
            else torch.zeros_like(item).expand(batch, *item.shape[1:])
            for item in self.call.named["tensors"]
        ]
        return torch.cat(parts, dim=self.call.named["dim"])

    def fields(self, dim, length, out_length):
        return None if dim + 1 == self.call.named["dim"] % self.rank else IDENTITY


# ---- Fields of PyTorch's windows -------------------------------------------------------------


def _padded_window(kernel: int, stride: int, padding: int, dilation: int) -> Callable:
    """The fields of a window along one axis with PyTorch's explicit padding."""

    def fields_of(dim, length, out_length):
        first = np.arange(out_length) * stride - padding
        last = first + (kernel - 1) * dilation
        return np.clip(first, 0, length - 1), np.clip(last, 0, length - 1)

    return fields_of


def _adaptive(dim, length, out_length):
    """The fields of adaptive pooling: output ``j`` reads ``[floor(jL/O), ceil((j+1)L/O))``."""
    j = np.arange(out_length)
    return (j * length) // out_length, -(-((j + 1) * length) // out_length) - 1


def _resampled(mode: str, align_corners: bool) -> Callable:
    """The fields of interpolation: the shared ones for a whole factor without aligned
    corners; otherwise the inputs around each output's source position, one wider each side."""

    def fields_of(dim, length, out_length):
        if out_length % length == 0 and not align_corners:
            return upsampled(out_length // length, mode)(dim, length, out_length)
        j = np.arange(out_length)
        first = (j * length) // out_length - 1
        last = -(-((j + 1) * length) // out_length)
        return np.clip(first, 0, length - 1), np.clip(last, 0, length - 1)

    return fields_of


def _whole_along(axes: set[int]) -> Callable:
    """Fields reading the NCHW axes ``axes`` whole, the identity along the others."""

    def fields_of(dim, length, out_length):
        return None if dim + 1 in axes else IDENTITY

    return fields_of


def _triple(value, spatial: int) -> list[int]:
    if isinstance(value, int):
        return [value] * spatial
    value = list(value)
    return value * spatial if len(value) == 1 else value


# ---- Twins of the operations -----------------------------------------------------------------


def _convolution(call, shapes, out_shape):
    named = call.named
    spatial = len(out_shape) - 2
    kernel = list(named["weight"].shape[2:])
    stride = _triple(named["stride"], spatial)
    dilation = _triple(named["dilation"], spatial)
    transposed = call.op.overloadpacket.__name__.startswith("conv_transpose") or named.get(
        "transposed", False
    )
    if transposed:
        makers = tuple(transposed_fields(k, s, d) for k, s, d in zip(kernel, stride, dilation))
    else:
        padding = named["padding"]
        if padding == "same":
            padding = [(k - 1) * d // 2 for k, d in zip(kernel, dilation)]
        elif padding == "valid":
            padding = [0] * spatial
        padding = _triple(padding, spatial)
        makers = tuple(
            _padded_window(k, s, p, d) for k, s, p, d in zip(kernel, stride, padding, dilation)
        )
    return Affine(call, shapes, out_shape, makers)


def _linear(call, shapes, out_shape):
    return Affine(call, shapes, out_shape, None)


def _pool_window(named: dict, spatial: int) -> tuple[list[int], list[int], list[int]]:
    """A pooling's kernel, stride (the kernel's where none is given) and padding, each with one
    value per spatial axis."""
    kernel = _triple(named["kernel_size"], spatial)
    stride = _triple(named["stride"] or kernel, spatial)
    return kernel, stride, _triple(named["padding"], spatial)


def _max_pool(call, shapes, out_shape):
    named = call.named
    spatial = len(out_shape) - 2
    kernel, stride, padding = _pool_window(named, spatial)
    dilation = _triple(named["dilation"], spatial)
    pool = getattr(functional, f"max_pool{spatial}d")

    def real(x):
        return pool(x, kernel, stride, padding, dilation, named["ceil_mode"], return_indices=True)

    makers = tuple(_padded_window(*sides) for sides in zip(kernel, stride, padding, dilation))
    return MaxPool(call, shapes, out_shape, real, per_dim(makers))


def _adaptive_max_pool(call, shapes, out_shape):
    spatial = len(out_shape) - 2
    pool = getattr(functional, f"adaptive_max_pool{spatial}d")
    size = call.named["output_size"]
    return MaxPool(call, shapes, out_shape, lambda x: pool(x, size, return_indices=True), _adaptive)


def _average_pool(call, shapes, out_shape):
    kernel, stride, padding = _pool_window(call.named, len(out_shape) - 2)
    makers = tuple(_padded_window(k, s, p, 1) for k, s, p in zip(kernel, stride, padding))
    return Windowed(call, shapes, out_shape, per_dim(makers))


def _adaptive_average_pool(call, shapes, out_shape):
    return Windowed(call, shapes, out_shape, _adaptive)


def _interpolation(mode: str) -> Callable:
    def make(call, shapes, out_shape):
        corners = bool(call.named.get("align_corners", False))
        return Windowed(call, shapes, out_shape, _resampled(mode, corners))

    return make


def _pad(call, shapes, out_shape):
    named = call.named
    pad = list(named["pad"])
    spatial = len(out_shape) - 2
    if named.get("mode", "constant") != "constant":
        padded = {len(out_shape) - 1 - pair for pair in range(len(pad) // 2)}
        return Windowed(call, shapes, out_shape, _whole_along(padded))

    def before(axis):
        pair = len(out_shape) - 1 - (axis + 2)
        return pad[2 * pair] if 2 * pair < len(pad) else 0

    makers = tuple(shifted(before(axis)) for axis in range(spatial))
    return Padding(call, shapes, out_shape, per_dim(makers))


def _reflected(call, shapes, out_shape):
    pad = list(call.named["padding"])
    padded = {len(out_shape) - 1 - pair for pair in range(len(pad) // 2)}
    return Windowed(call, shapes, out_shape, _whole_along(padded))


def _slice(call, shapes, out_shape):
    named = call.named
    axis = named["dim"] % len(out_shape)
    if axis == 0:
        raise Refusal("it slices the batch axis")
    if axis == 1:
        return OpTwin(call, shapes, out_shape)
    start = named["start"] or 0
    if named["step"] != 1 or start < 0:
        return Windowed(call, shapes, out_shape, _whole_along({axis}))
    return Windowed(call, shapes, out_shape, per_dim(_shift_along(axis, start, len(out_shape))))


def _shift_along(axis: int, start: int, rank: int) -> tuple:
    return tuple(shifted(-start) if dim + 2 == axis else _same for dim in range(rank - 2))


def _same(dim, length, out_length):
    return IDENTITY


def _reduction(call, shapes, out_shape):
    named = call.named
    rank = len(shapes[0])
    axes = named.get("dim")
    axes = set(range(rank)) if axes in (None, []) else {axis % rank for axis in axes}
    if 0 in axes:
        raise Refusal("it reduces over the batch axis")
    twin = Windowed(call, shapes, out_shape, _whole_along(axes))
    twin.keeps_axes = bool(named.get("keepdim"))
    return twin


def _reshaping(call, shapes, out_shape):
    named = call.named
    rank = len(shapes[0])
    keeps_batch = {
        "flatten": lambda: named["start_dim"] % rank != 0,
        "permute": lambda: named["dims"][0] % rank == 0,
        "transpose": lambda: 0 not in {named["dim0"] % rank, named["dim1"] % rank},
        "unsqueeze": lambda: named["dim"] % (rank + 1) != 0,
        "squeeze": lambda: (
            named.get("dim") is not None
            and 0 not in {axis % rank for axis in np.atleast_1d(named["dim"])}
        ),
    }
    name = call.op.overloadpacket.__name__
    size = named.get("size", named.get("shape"))
    if (name in keeps_batch and not keeps_batch[name]()) or (
        size is not None and size[0] not in (1, -1)
    ):
        raise Refusal("it moves or reshapes the batch axis")
    return Reshaping(call, shapes, out_shape)


def _layer_norm(call, shapes, out_shape):
    return Normalised(call, shapes, out_shape, None, len(call.named["normalized_shape"]))


def _group_norm(call, shapes, out_shape):
    return Normalised(call, shapes, out_shape, call.named["num_groups"], 0)


def _batch_norm(call, shapes, out_shape):
    return Scale(call, shapes, out_shape)


def _softmax(call, shapes, out_shape):
    return Softmax(call, shapes, out_shape)


def _twin_class(cls) -> Callable:
    return lambda call, shapes, out_shape: cls(call, shapes, out_shape)


def _identity(call, shapes, out_shape):
    return None


def _dropout(call, shapes, out_shape):
    if call.named.get("train"):
        raise Refusal("it drops values at random; put the module in eval()")
    return None


ACTIVATIONS = (
    "relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu celu gelu silu silu_ mish sigmoid "
    "tanh softplus hardtanh hardtanh_ hardswish hardsigmoid logsigmoid prelu abs exp"
).split()

TWINS: dict[str, Callable] = {
    **{name: _convolution for name in "conv1d conv2d conv3d convolution".split()},
    **{f"conv_transpose{n}d": _convolution for n in (1, 2, 3)},
    "linear": _linear,
    **{f"max_pool{n}d": _max_pool for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": _adaptive_max_pool for n in (1, 2, 3)},
    **{f"avg_pool{n}d": _average_pool for n in (1, 2, 3)},
    **{f"adaptive_avg_pool{n}d": _adaptive_average_pool for n in (1, 2, 3)},
    **{f"upsample_nearest{n}d": _interpolation("nearest") for n in (1, 2, 3)},
    "upsample_bilinear2d": _interpolation("bilinear"),
    "upsample_linear1d": _interpolation("bilinear"),
    "upsample_trilinear3d": _interpolation("bilinear"),
    "pad": _pad,
    "constant_pad_nd": _pad,
    **{f"reflection_pad{n}d": _reflected for n in (1, 2, 3)},
    **{f"replication_pad{n}d": _reflected for n in (1, 2, 3)},
    "slice": _slice,
    "mean": _reduction,
    "sum": _reduction,
    **{
        name: _reshaping
        for name in "view reshape _unsafe_view flatten permute transpose squeeze unsqueeze".split()
    },
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "group_norm": _group_norm,
    "softmax": _softmax,
    "_softmax": _softmax,
    **{name: _twin_class(Activation) for name in ACTIVATIONS},
    "add": _twin_class(Sum),
    "add_": _twin_class(Sum),
    "sub": _twin_class(Sum),
    "mul": _product,
    "div": _product,
    "neg": _twin_class(OpTwin),
    "cat": _twin_class(Concatenation),
    **{name: _identity for name in "clone contiguous alias detach".split()},
    "dropout": _dropout,
    "feature_dropout": _dropout,
}
"""How each ATen operation (by name, without its overload) becomes its twin."""


# ---- Capturing a module ----------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    """One operation of the graph: the nodes it reads (0 is the image) and its twin (None for
    the identity)."""

    name: str
    reads: list[int]
    twin: OpTwin | None


@dataclasses.dataclass
class Captured:
    """The graph for one image size: its nodes, the nodes each reads and each one's twin (as
    ``twin.passes`` takes them), each node's output shape as PyTorch lays it out (batch
    included), and the output's layout as the engines see it."""

    nodes: list[Node]
    reads: list[list[int]]
    twins: list[OpTwin | None]
    shapes: list[tuple]
    layout: fields.Layout


def _input_of(module: torch.nn.Module) -> tuple[int, int]:
    """The spatial axes and channels of a module's images, from its first convolution."""
    for submodule in module.modules():
        if isinstance(submodule, torch.nn.modules.conv._ConvNd):
            spatial = len(submodule.kernel_size)
            return spatial, submodule.in_channels
    raise ModelError(
        f"cannot tell the images a {type(module).__name__} takes, for it has no convolution; "
        "export it with torch.export.export(module.eval(), (example,)) and explain the program"
    )


def _module_paths(node) -> list[str]:
    return [path for path, _ in node.meta.get("nn_module_stack", {}).values()]


def _where(node) -> str:
    stack = list(node.meta.get("nn_module_stack", {}).values())
    if not stack or not stack[-1][0]:
        return "the module's own forward"
    path, kind = stack[-1]
    return f"{path!r} ({kind.rsplit('.', 1)[-1]})"


class TorchGraph:
    """A PyTorch module, or an exported program, cut at one submodule: the real pass, the linear
    maps and the geometry the graph engines need (``engines.graph.LinearisedGraph``).

    Args:
        model: a ``torch.nn.Module`` in eval mode or a ``torch.export.ExportedProgram``.
        layer: the path of the submodule whose output is explained (``"encoder.layer3"``); None
            for the module's output. ``defaults.LAYER`` stands for the module's output where no
            submodule has that name.

    Attributes:
        spatial: how many spatial axes the image has (2 for a micrograph, 3 for a volume).
        channels: the channels of the images the module takes.
        device: where the module's weights are, and where the passes run.
    """

    def __init__(self, model, layer: str | None):
        self.model = model
        self.layer = layer
        if isinstance(model, torch.export.ExportedProgram):
            shape = _user_input(model).meta["val"].shape
            self.spatial, self.channels = len(shape) - 2, int(shape[1])
            self.exported_sides = tuple(int(side) for side in shape[2:])
            self.device = torch.device("cpu")
        else:
            if model.training:
                raise ModelError(
                    f"the {type(model).__name__} is in training mode; call .eval() on it first"
                )
            self.spatial, self.channels = _input_of(model)
            names = dict(model.named_modules())
            if layer not in (None, defaults.LAYER, *names) or layer == "":
                listed = ", ".join(name for name in names if name)
                raise ModelError(
                    f"the module has no submodule {layer!r}; its submodules are {listed}"
                )
            if layer not in names:
                self.layer = None
            self.exported_sides = None
            parameter = next(model.parameters(), None)
            self.device = parameter.device if parameter is not None else torch.device("cpu")
        self._captured: dict[tuple, Captured] = {}

    def chain(self) -> None:
        """A PyTorch graph is never run by the chain engines."""
        return None

    def capture(self, spatial: tuple[int, ...]) -> Captured:
        """The graph for images of these spatial sides, captured once and kept.

        Raises:
            ImageSizeError: if an exported program was made for other sides.
            ModelError, UnsupportedLayerError: as ``cut``.
        """
        spatial = tuple(int(side) for side in spatial)
        if spatial not in self._captured:
            if self.exported_sides is None:
                program = self._export(spatial)
            elif spatial != self.exported_sides:
                sides = "x".join(map(str, self.exported_sides))
                raise ImageSizeError(
                    f"the program was exported for {sides} images, not "
                    f"{'x'.join(map(str, spatial))}; export the module with an example of "
                    "that size"
                )
            else:
                program = self.model
            self._captured[spatial] = self._cut(program, spatial)
        return self._captured[spatial]

    def _export(self, spatial: tuple[int, ...]):
        """The module exported for images of these sides, kept while the module lives: exporting
        takes seconds, and every Explainer of the module (one per layer and settings) needs it."""
        programs = _PROGRAMS.setdefault(self.model, {})
        if spatial not in programs:
            example = torch.zeros(1, self.channels, *spatial, device=self.device)
            with torch.no_grad():
                programs[spatial] = torch.export.export(self.model, (example,))
        return programs[spatial]

    def shapes(self, spatial: tuple[int, ...]) -> list[tuple]:
        """Every node's output shape, batch included, for an image of these sides."""
        return self.capture(spatial).shapes

    def geometry(self, spatial: tuple[int, ...]) -> fields.Layout:
        return self.capture(spatial).layout

    def real_pass(self, x) -> tuple[list, list]:
        """Each node's real value and state for the image ``x`` ``(1, *spatial, channels)``;
        the last value is the output, channels-last where it is a feature map."""
        captured = self.capture(tuple(x.shape[1:-1]))
        with torch.no_grad():
            values, states = passes.real_pass(captured.reads, 0, captured.twins, _channels_first(x))
        values.append(self._present(values[-1]))
        return values, states

    def forward(self, t, values: list, states: list):
        """Perturbations ``t`` ``(batch, *spatial, channels)`` through the linear maps, to the
        output's derivatives along them, laid out as ``real_pass`` gives the output."""
        captured = self.capture(tuple(t.shape[1:-1]))
        # The weights of a program ask for gradients; only the adjoint's pass needs them.
        with torch.set_grad_enabled(t.requires_grad):
            y = passes.forward(captured.reads, 0, captured.twins, _channels_first(t), states)
            return self._present(y)

    def adjoint(self, g, values: list, states: list):
        """Output-shaped vectors ``g`` pulled back to the image, ``(batch, *spatial, channels)``:
        the reverse mode of ``forward``, exact since ``forward`` is linear."""
        g = torch.as_tensor(g, device=self.device)
        image = values[0]
        t = torch.zeros(
            (g.shape[0], *image.shape[2:], image.shape[1]), device=self.device, requires_grad=True
        )
        with torch.enable_grad():
            y = self.forward(t, values, states)
            (pulled,) = torch.autograd.grad(y, t, g)
        return pulled

    def tensor(self, array: np.ndarray):
        return torch.as_tensor(np.asarray(array, np.float32), device=self.device)

    def numpy(self, tensor) -> np.ndarray:
        return torch.as_tensor(tensor).detach().cpu().numpy()

    def _present(self, y):
        """A feature map's output channels-last, as the engines lay cells out; other outputs as
        they are."""
        if y.dim() == self.spatial + 2:
            return y.movedim(1, -1)
        return y

    def _cut(self, program, spatial: tuple[int, ...]) -> Captured:
        graph_nodes = list(program.graph.nodes)
        image = _user_input(program)
        target = _target(graph_nodes, self.layer)
        kept = _ancestors(target)
        values = _fixed_values(program, image, kept)
        live: dict = {image: 0}
        nodes = [Node("image", [], None)]
        shapes = [tuple(image.meta["val"].shape)]
        refusals = []
        for node in graph_nodes:
            if node not in kept or node.op != "call_function":
                continue
            reads = [arg for arg in node.all_input_nodes if arg in live]
            if not reads:
                values[node] = node.target(
                    *_bind_fixed(node.args, values), **_bind_fixed(node.kwargs, values)
                )
                continue
            if node.target is operator.getitem:
                if node.args[1] != 0:
                    refusals.append(f"an output other than the first of {node.args[0].name}")
                live[node] = live[node.args[0]]
                continue
            order = {arg: index for index, arg in enumerate(reads)}
            args = _mark(node.args, order, values)
            kwargs = _mark(node.kwargs, order, values)
            out_shape = _shape_of(node)
            in_shapes = [shapes[live[arg]] for arg in reads]
            name = getattr(node.target, "overloadpacket", node.target)
            name = getattr(name, "__name__", str(name))
            try:
                make = TWINS.get(name)
                if make is None:
                    raise Refusal("it is none of the operations the twin mirrors")
                twin = make(Call(node.target, args, kwargs), in_shapes, out_shape)
            except Refusal as refusal:
                refusals.append(f"{name} in {_where(node)}: {refusal}")
                continue
            live[node] = len(nodes)
            nodes.append(Node(node.name, [live[arg] for arg in reads], twin))
            shapes.append(out_shape)
        if refusals:
            count = "an operation" if len(refusals) == 1 else f"{len(refusals)} operations"
            raise UnsupportedLayerError(
                f"the twin cannot mirror {count} up to {self.layer or 'the output'}: "
                + "; ".join(refusals)
            )
        if target not in live:
            raise ModelError(f"the output of {self.layer or 'the module'} ignores the image")
        reads = [node.reads for node in nodes]
        twins = [node.twin for node in nodes]
        layout = fields.layout(
            reads,
            0,
            [self._layout_shape(shape) for shape in shapes],
            twins,
            spatial,
            _TorchOps(self.device),
        )
        return Captured(nodes, reads, twins, shapes, layout)

    def _layout_shape(self, shape: tuple) -> tuple:
        """A node's shape, batch left out, channels-last where it is a feature map, as the
        layout numbers spatial axes from 1."""
        if len(shape) == self.spatial + 2:
            return (*shape[2:], shape[1])
        return tuple(shape[1:])


class _TorchOps:
    """The ``transpose`` and ``reshape`` the layout lays the output out as cells with."""

    def __init__(self, device):
        self.device = device

    def transpose(self, y, order):
        return torch.as_tensor(y, device=self.device).permute(*order)

    def reshape(self, y, shape):
        return torch.as_tensor(y, device=self.device).reshape(shape)


def _channels_first(x):
    return x.movedim(-1, 1)


def _user_input(program):
    inputs = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    if len(inputs) != 1:
        raise ModelError(
            f"the module takes {len(inputs)} inputs; the twin explains modules of one image"
        )
    (node,) = [node for node in program.graph.nodes if node.name == inputs[0]]
    shape = node.meta["val"].shape
    if len(shape) not in (3, 4, 5):
        raise ModelError(
            f"the module takes inputs of shape {tuple(shape)}; the twin explains modules of "
            "images: (batch, channels, length), (batch, channels, height, width) or "
            "(batch, channels, depth, height, width)"
        )
    return node


def _target(graph_nodes, layer: str | None):
    """The node whose value is the output of the submodule ``layer`` (the module's for None)."""
    paths = []
    for node in graph_nodes:
        for path in _module_paths(node):
            if path and path not in paths:
                paths.append(path)
    if layer == defaults.LAYER and layer not in paths:
        layer = None
    if layer is None:
        (output,) = [node for node in graph_nodes if node.op == "output"]
        flat = [arg for arg in _flatten(output.args[0]) if isinstance(arg, torch.fx.Node)]
        if len(flat) != 1:
            raise ModelError(
                f"the module returns {len(flat)} tensors; name the submodule whose output is "
                f"explained, one of {', '.join(paths)}"
            )
        return flat[0]
    if layer not in paths:
        raise ModelError(
            f"the module has no submodule {layer!r} on the image's path; its submodules are "
            f"{', '.join(paths)}"
        )
    inside = {node for node in graph_nodes if layer in _module_paths(node)}
    outputs = [node for node in inside if any(user not in inside for user in node.users)]
    if len(outputs) != 1:
        raise ModelError(
            f"the submodule {layer!r} gives {len(outputs)} tensors; explain one that gives one"
        )
    return outputs[0]


def _flatten(structure) -> list:
    if isinstance(structure, list | tuple):
        return [item for part in structure for item in _flatten(part)]
    return [structure]


def _ancestors(target) -> set:
    seen, stack = {target}, [target]
    while stack:
        for read in stack.pop().all_input_nodes:
            if read not in seen:
                seen.add(read)
                stack.append(read)
    return seen


def _fixed_values(program, image, kept) -> dict:
    """The values of the program's weights, buffers and constants that the kept nodes read."""
    by_name = {node.name: node for node in kept}
    values = {}
    for spec in program.graph_signature.input_specs:
        node = by_name.get(spec.arg.name)
        if node is None or node is image:
            continue
        source = program.state_dict if spec.target in program.state_dict else program.constants
        values[node] = source[spec.target]
    return values


def _bind_fixed(structure, values: dict):
    return torch.fx.node.map_arg(structure, lambda node: values[node])


def _mark(structure, order: dict, values: dict):
    """An argument structure with the nodes that read the image as ``Live`` and the others by
    value."""
    return torch.fx.node.map_arg(
        structure, lambda node: Live(order[node]) if node in order else values[node]
    )


def _shape_of(node) -> tuple:
    value = node.meta["val"]
    if isinstance(value, list | tuple):
        value = value[0]
    return tuple(int(side) for side in value.shape)


def cut(model, layer: str | None = defaults.LAYER) -> TorchGraph:
    """The graph of a PyTorch module from its image to the output of the submodule ``layer``.

    The module is captured for each image size when first asked for one; a module that the
    image size it is asked for cannot run raises then.

    Raises:
        ModelError: if the module is in training mode, takes no image, or has no such
            submodule.
        UnsupportedLayerError: naming each operation up to ``layer`` that has no twin, and the
            submodule it is called in.
    """
    graph = TorchGraph(model, layer)
    if graph.exported_sides is not None:
        graph.capture(graph.exported_sides)
    return graph
