"""The paper's convolutional autoencoder, written once.

``ARCHITECTURE`` lists the layers as ``LayerSpec``s. ``build_autoencoder`` turns the specs into the
real Keras model that stage 1 trains, and ``build_complex_twin`` turns the specs of a trained model
into its complex-valued twin for stage 2. Both carry the same layer names, so the trained weights
move into the twin layer by layer, by name.
"""

import dataclasses

import keras
from keras import layers

from complexstep import complex_layers
from complexstep.cli import UserError

INPUT_SHAPE = (256, 256, 1)
KERNEL_SIZE = 3
POOL_SIZE = 2
CODE_LAYER = "code"
MODEL_NAME = "autoencoder_microstructure"


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer of the network.

    Attributes:
        kind: "conv" (3x3 'same' convolution), "pool" (2x2 max pooling) or "upsample" (2x nearest).
        name: the layer's name, shared by the real model and the complex twin.
        filters: output channels of a convolution.
        activation: "relu" or "linear", for a convolution.
    """

    kind: str
    name: str
    filters: int = 0
    activation: str = "relu"

    def real_layer(self) -> keras.layers.Layer:
        """The Keras layer of the trained model."""
        if self.kind == "conv":
            return layers.Conv2D(
                self.filters,
                KERNEL_SIZE,
                activation=self.activation,
                padding="same",
                name=self.name,
            )
        if self.kind == "pool":
            return layers.MaxPooling2D(POOL_SIZE, name=self.name)
        return layers.UpSampling2D(POOL_SIZE, name=self.name)

    def complex_layer(self) -> keras.layers.Layer:
        """The layer's complex-valued twin."""
        if self.kind == "conv":
            return complex_layers.ComplexConv2D(
                self.filters, KERNEL_SIZE, activation=self.activation, name=self.name
            )
        if self.kind == "pool":
            return complex_layers.ComplexMaxPooling2D(POOL_SIZE, name=self.name)
        return complex_layers.ComplexUpSampling2D(POOL_SIZE, name=self.name)

    @classmethod
    def of(cls, layer: keras.layers.Layer) -> "LayerSpec":
        """The spec of a layer of a trained model.

        Raises:
            UserError: if the layer is not one this project's twin can mirror.
        """
        config = layer.get_config()
        if isinstance(layer, layers.Conv2D) and _is_plain_convolution(config):
            activation = config["activation"]
            if activation in ("relu", "linear"):
                return cls("conv", layer.name, config["filters"], activation)
        elif isinstance(layer, layers.MaxPooling2D) and _is_plain_pooling(config):
            return cls("pool", layer.name)
        elif isinstance(layer, layers.UpSampling2D) and _is_plain_upsampling(config):
            return cls("upsample", layer.name)
        raise UserError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no complex twin; the model must be "
            "built from 3x3 'same' ReLU/linear convolutions, 2x2 max pooling and 2x upsampling"
        )


def _is_plain_convolution(config: dict) -> bool:
    return (
        tuple(config["kernel_size"]) == (KERNEL_SIZE, KERNEL_SIZE)
        and tuple(config["strides"]) == (1, 1)
        and tuple(config["dilation_rate"]) == (1, 1)
        and config["padding"] == "same"
        and config["groups"] == 1
        and config["use_bias"]
        and config["data_format"] == "channels_last"
    )


def _is_plain_pooling(config: dict) -> bool:
    return (
        tuple(config["pool_size"]) == (POOL_SIZE, POOL_SIZE)
        and tuple(config["strides"]) == (POOL_SIZE, POOL_SIZE)
        and config["padding"] == "valid"
        and config["data_format"] == "channels_last"
    )


def _is_plain_upsampling(config: dict) -> bool:
    return (
        tuple(config["size"]) == (POOL_SIZE, POOL_SIZE)
        and config["interpolation"] == "nearest"
        and config["data_format"] == "channels_last"
    )


def _encoder_block(number: int, filters: int, pool_name: str) -> tuple[LayerSpec, ...]:
    return (LayerSpec("conv", f"encoder_conv{number}", filters), LayerSpec("pool", pool_name))


def _decoder_block(number: int, filters: int) -> tuple[LayerSpec, ...]:
    return (
        LayerSpec("upsample", f"decoder_upsample{number}"),
        LayerSpec("conv", f"decoder_conv{number}", filters),
    )


ENCODER = (
    *_encoder_block(1, 64, "encoder_pool1"),
    *_encoder_block(2, 32, "encoder_pool2"),
    *_encoder_block(3, 16, "encoder_pool3"),
    *_encoder_block(4, 8, CODE_LAYER),
)
DECODER = (
    *_decoder_block(1, 8),
    *_decoder_block(2, 16),
    *_decoder_block(3, 32),
    *_decoder_block(4, 64),
    LayerSpec("conv", "reconstruction", 1, "linear"),
)
ARCHITECTURE = ENCODER + DECODER


def build_autoencoder() -> keras.Model:
    """Builds the paper's autoencoder: 256x256x1 in, a 16x16x8 code, 256x256x1 linear out."""
    inputs = keras.Input(INPUT_SHAPE, name="micrograph")
    outputs = inputs
    for spec in ARCHITECTURE:
        outputs = spec.real_layer()(outputs)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def build_complex_twin(model: keras.Model, output_layer: str = CODE_LAYER) -> keras.Model:
    """Builds the complex-valued twin of a trained model, up to and including ``output_layer``.

    The twin takes and returns complex64 tensors; its real part follows the trained model exactly.

    Raises:
        UserError: if ``output_layer`` is not a layer of the model, or a layer has no twin.
    """
    names = [layer.name for layer in model.layers[1:]]
    if output_layer not in names:
        raise UserError(
            f"the model has no layer {output_layer!r}; its layers are {', '.join(names)}"
        )
    specs = [LayerSpec.of(layer) for layer in model.layers[1 : names.index(output_layer) + 2]]
    inputs = keras.Input(model.input_shape[1:], dtype="complex64", name="micrograph")
    outputs = inputs
    for spec in specs:
        outputs = spec.complex_layer()(outputs)
    twin = keras.Model(inputs, outputs, name=f"{model.name}_complex_twin")
    for layer in twin.layers[1:]:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin
