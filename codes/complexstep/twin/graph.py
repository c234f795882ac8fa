"""Any Keras model, cut at one layer, as a graph of layer twins linearised at an image.

A functional model is a graph of layer calls; nested models (a Sequential encoder inside a Model)
are unpacked into it, and the graph is cut at the layer asked for before anything is checked, so
that what comes after it (a U-Net's decoder, a VAE's sampling) never matters. Every layer left is
made into its twin (``graph_layers``); a layer that has none is named, with its reason and the
nearest form that has one, in one message that lists them all.

A ``GraphTwin`` then gives, for an image:
- ``real_pass``: the real output and every layer's state;
- ``forward``: a batch of perturbations of the image pushed through the layers' linear maps, the
  imaginary part of the complex step divided by ``h``;
- ``adjoint``: a batch of output-shaped vectors pulled back through their transposes;
- ``geometry``: along each spatial axis, which output cells each pixel can change and which pixels
  each output cell reads, composed from the layers' own fields.

The output is laid out as cells along the input's spatial axes (one cell where an axis is read
whole, as by Flatten, Dense on a flattened tensor or global pooling) and values per cell.
"""

import dataclasses

import keras
import numpy as np
from keras import layers, ops

from complexstep.errors import ModelError, Refusal, UnsupportedLayerError
from complexstep.twin import fields, graph_layers, passes
from complexstep.twin.graph_layers import LayerTwin


@dataclasses.dataclass
class Node:
    """One layer call of the graph: the layer, the nodes it reads (0 is the image) and its
    twin (None for a layer that is the identity at inference)."""

    name: str
    layer: keras.layers.Layer | None
    inputs: list[int]
    twin: LayerTwin | None = None


def cut(model: keras.Model, layer: str) -> "GraphTwin":
    """The graph of a model from its image input to the output of ``layer``, as twins.

    Args:
        model: a built Keras model: functional, Sequential, or either nested in another.
        layer: the name of a layer (or of a nested model) whose output is explained.

    Raises:
        ModelError: if the model is not built, has no such layer, calls it more than once, or
            the layer depends on more than one input.
        UnsupportedLayerError: naming every layer up to ``layer`` that has no twin.
    """
    nodes, names = _flatten(model)
    if layer not in names:
        listed = ", ".join(names)
        raise ModelError(f"the model has no layer {layer!r}; its layers are {listed}")
    if len(names[layer]) > 1:
        raise ModelError(
            f"layer {layer!r} is called {len(names[layer])} times; explain a layer called once"
        )
    target = names[layer][0]
    kept = _ancestors(nodes, target)
    inputs = [index for index in kept if nodes[index].layer is None]
    if len(inputs) != 1:
        raise ModelError(
            f"layer {layer!r} depends on {len(inputs)} inputs; the twin explains a layer of "
            "one image input"
        )
    refusals = []
    for index in kept:
        node = nodes[index]
        if node.layer is None:
            continue
        try:
            node.twin = graph_layers.twin_of(node.layer)
        except Refusal as refusal:
            nearest = f" (nearest supported: {refusal.nearest})" if refusal.nearest else ""
            refusals.append(
                f"{node.name!r} ({type(node.layer).__name__}): {refusal.reason}{nearest}"
            )
    if refusals:
        count = "a layer" if len(refusals) == 1 else f"{len(refusals)} layers"
        raise UnsupportedLayerError(
            f"the twin cannot mirror {count} up to {layer!r}: {'; '.join(refusals)}"
        )
    position = {old: new for new, old in enumerate(kept)}
    graph = [
        dataclasses.replace(nodes[old], inputs=[position[read] for read in nodes[old].inputs])
        for old in kept
    ]
    return GraphTwin(model, layer, graph, position[inputs[0]])


def _flatten(model: keras.Model) -> tuple[list[Node], dict[str, list[int]]]:
    """Every layer call of a model, nested models unpacked, in an order where each node comes
    after the nodes it reads; and the nodes each layer's name stands for."""
    if not model.built or not _has_graph(model):
        raise ModelError(
            f"the model {model.name!r} is not built: give it an Input or call it on an image first"
        )
    nodes: list[Node] = []
    names: dict[str, list[int]] = {}
    inputs = []
    for tensor in _graph_of(model).inputs:
        nodes.append(Node(tensor.name, None, []))
        inputs.append(len(nodes) - 1)
    _walk(model, inputs, nodes, names)
    return nodes, names


def _has_graph(model: keras.Model) -> bool:
    try:
        _graph_of(model).inputs  # noqa: B018
    except (AttributeError, ValueError):
        return False
    return True


def _graph_of(model: keras.Model):
    """The functional graph of a model; a Sequential keeps one once built."""
    return model._functional if isinstance(model, keras.Sequential) else model


def _walk(model: keras.Model, bound: list[int], nodes: list[Node], names: dict) -> dict:
    """Adds a model's layer calls to ``nodes``, its inputs read from the nodes ``bound``; returns
    which node each of its tensors is."""
    graph = _graph_of(model)
    tensors = {id(tensor): index for tensor, index in zip(graph.inputs, bound, strict=True)}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for call in graph._nodes_by_depth[depth]:
            operation = call.operation
            if isinstance(operation, layers.InputLayer):
                continue
            reads = [tensors[id(tensor)] for tensor in call.arguments.keras_tensors]
            if isinstance(operation, keras.Model):
                inner = _walk(operation, reads, nodes, names)
                outputs = _graph_of(operation).outputs
                for tensor, inner_tensor in zip(call.outputs, outputs, strict=True):
                    tensors[id(tensor)] = inner[id(inner_tensor)]
                names.setdefault(operation.name, []).append(tensors[id(call.outputs[0])])
                continue
            nodes.append(Node(operation.name, operation, reads))
            for tensor in call.outputs:
                tensors[id(tensor)] = len(nodes) - 1
            names.setdefault(operation.name, []).append(len(nodes) - 1)
    return tensors


def _ancestors(nodes: list[Node], target: int) -> list[int]:
    """The nodes ``target`` depends on, itself included, in the graph's order."""
    seen, stack = {target}, [target]
    while stack:
        for read in nodes[stack.pop()].inputs:
            if read not in seen:
                seen.add(read)
                stack.append(read)
    return sorted(seen)


class GraphTwin:
    """A model cut at one layer, as layer twins: the real pass, the linear maps and the geometry.

    Attributes:
        spatial: how many spatial axes the image has (2 for a micrograph, 3 for a volume).
        channels: the channels of the image the model takes.
        nodes: the layer calls from the image to the layer, each after those it reads.
    """

    def __init__(self, model: keras.Model, layer: str, nodes: list[Node], image: int):
        self.model = model
        self.layer = layer
        self.nodes = nodes
        self._reads = [node.inputs for node in nodes]
        self._twins = [node.twin for node in nodes]
        self._image = image
        shape = _graph_of(model).inputs[0].shape
        self.input_shape = tuple(shape[1:])
        if len(shape) not in (3, 4, 5):
            raise ModelError(
                f"the model takes inputs of shape {tuple(shape)}; the twin explains models of "
                "images: (batch, length, channels), (batch, height, width, channels) or "
                "(batch, depth, height, width, channels)"
            )
        self.spatial = len(shape) - 2
        self.channels = int(shape[-1])
        self._shapes: dict[tuple, list[tuple]] = {}

    def chain(self) -> list[keras.layers.Layer] | None:
        """The layers in order where each reads the one before it alone, or None."""
        chain = []
        for position, reads in enumerate(self._reads):
            if position == self._image:
                continue
            if reads != [position - 1]:
                return None
            chain.append(self.nodes[position].layer)
        return chain

    def real_pass(self, x) -> tuple[list, list]:
        """Each node's real value and state for the image ``x`` ``(1, *spatial, channels)``."""
        return passes.real_pass(self._reads, self._image, self._twins, x)

    def forward(self, t, values: list, states: list):
        """Perturbations ``t`` ``(batch, *spatial, channels)`` through the linear maps: the
        output's derivatives along them, ``(batch,) + output`` as the model lays it out."""
        return passes.forward(self._reads, self._image, self._twins, t, states)

    def adjoint(self, g, values: list, states: list):
        """Output-shaped vectors ``g`` pulled back through the transposed maps to the image."""
        cotangents: list = [None] * len(self.nodes)
        cotangents[-1] = g
        for position in range(len(self.nodes) - 1, -1, -1):
            node, g = self.nodes[position], cotangents[position]
            if position == self._image or g is None:
                continue
            reads = self._reads[position]
            if node.twin is None:
                parts = [g]
            else:
                parts = node.twin.adjoint(g, states[position], [values[read] for read in reads])
            for read, part in zip(reads, parts, strict=True):
                cotangents[read] = part if cotangents[read] is None else cotangents[read] + part
        image = cotangents[self._image]
        if image is None:
            return ops.zeros((ops.shape(g)[0], *ops.shape(values[self._image])[1:]))
        return image

    def tensor(self, array: np.ndarray):
        return ops.convert_to_tensor(array)

    def numpy(self, tensor) -> np.ndarray:
        return ops.convert_to_numpy(tensor)

    def shapes(self, spatial: tuple[int, ...]) -> list[tuple]:
        """Every node's output shape, batch left out, for an image of these spatial sides."""
        if spatial not in self._shapes:
            x = ops.zeros((1, *spatial, self.channels))
            values, _ = self.real_pass(x)
            self._shapes[spatial] = [tuple(ops.shape(value)[1:]) for value in values]
        return self._shapes[spatial]

    def geometry(self, spatial: tuple[int, ...]) -> fields.Layout:
        """Where each pixel's influence lands and where each output cell reads, along each axis."""
        return fields.layout(
            self._reads,
            self._image,
            self.shapes(spatial),
            self._twins,
            spatial,
            ops,
        )
