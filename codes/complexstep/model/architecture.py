"""The paper's convolutional autoencoder, written once.

``ARCHITECTURE`` lists the layers as ``LayerSpec``s, and ``build_autoencoder`` turns them into the
Keras model that stage 1 trains. Stage 2 never reads these specs: ``twin.build_complex_twin`` reads
the trained model's own layers, so that it explains exactly the network that was trained, and
autoencoders built elsewhere from the same kinds of layers too.
"""

import dataclasses

import keras
import numpy as np
from keras import layers

from complexstep import defaults
from complexstep.errors import SettingError

INPUT_SHAPE = (defaults.IMAGE_SIZE, defaults.IMAGE_SIZE, 1)
KERNEL_SIZE = 3
POOL_SIZE = 2
# The paper names its code layer as the explainers look for it by default.
CODE_LAYER = defaults.LAYER


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer of the network.

    Attributes:
        kind: "conv" (3x3 'same' convolution), "pool" (2x2 max pooling) or "upsample" (2x nearest).
        name: the layer's name.
        filters: output channels of a convolution.
        activation: "relu" or "linear", for a convolution.
    """

    kind: str
    name: str
    filters: int = 0
    activation: str = "relu"

    def real_layer(self, dtype: str | None = None) -> keras.layers.Layer:
        """The Keras layer, computing in the dtype policy ``dtype`` (Keras's default if None)."""
        if self.kind == "conv":
            return layers.Conv2D(
                self.filters,
                KERNEL_SIZE,
                activation=self.activation,
                padding="same",
                name=self.name,
                dtype=dtype,
            )
        if self.kind == "pool":
            return layers.MaxPooling2D(POOL_SIZE, name=self.name, dtype=dtype)
        return layers.UpSampling2D(POOL_SIZE, name=self.name, dtype=dtype)


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

SIDE_STEP = POOL_SIZE ** sum(spec.kind == "pool" for spec in ENCODER)
"""The network takes sides that are multiples of this: 16, for its four poolings."""


def build_autoencoder(
    input_shape: tuple[int, int, int] = INPUT_SHAPE, precision: str = defaults.PRECISION
) -> keras.Model:
    """Builds the paper's autoencoder: a grey image in, a code 16 times smaller, the image out.

    Args:
        input_shape: ``(height, width, 1)``, both multiples of 16; the paper's is 256x256.
        precision: "float32", or "bfloat16" to compute in bfloat16 with float32 weights (mixed
            precision, for GPUs); the reconstruction is float32 either way, so the loss is too.

    Returns:
        The model, named ``defaults.MODEL_NAME``, 50,353 parameters.

    Raises:
        SettingError: for a precision other than those of ``defaults.PRECISIONS``.
    """
    if precision not in defaults.PRECISIONS:
        raise SettingError(
            f"precision must be one of {', '.join(defaults.PRECISIONS)}, not {precision!r}"
        )
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    inputs = keras.Input(input_shape, name="micrograph")
    outputs = inputs
    for spec in ARCHITECTURE:
        last = spec is ARCHITECTURE[-1]
        outputs = spec.real_layer("float32" if last else policy)(outputs)
    return keras.Model(inputs, outputs, name=defaults.MODEL_NAME)


def code_of(model: keras.Model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """The code layer's output for grey images ``(N, H, W)`` in [0, 1]: ``(N, h, w, channels)``."""
    encoder = keras.Model(model.inputs, model.get_layer(CODE_LAYER).output)
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(encoder(images[start : start + batch_size, ..., None]))
            for start in range(0, len(images), batch_size)
        ]
    )


def zero_channels(code: np.ndarray) -> list[int]:
    """The channels of a code ``(..., channels)`` that are zero at every position: where the
    code is of a training set, its dead channels, which carry nothing a map could attribute."""
    flat = np.asarray(code).reshape(-1, np.shape(code)[-1])
    return [int(channel) for channel in np.flatnonzero(~np.any(flat != 0, axis=0))]
