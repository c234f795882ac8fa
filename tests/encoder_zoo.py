"""Encoders people train, small and with random weights: each family the graph twin mirrors.

Each family is built for images of a side given (16 pixels in the tests; the benchmarks take
larger ones); a few take a side of their own from it, as their layers need.

Each entry builds a model and says which layer is explained and the sides and channels of its
images. The explained output is also a model of its own (``reference``), made from the same
tensors by Keras, so that the tests' dense Jacobians never go through the twin.
"""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
from keras import layers


@dataclasses.dataclass(frozen=True)
class Encoder:
    """One family of the zoo: the whole model, the layer explained, the model up to it."""

    model: keras.Model
    layer: str
    reference: keras.Model

    @property
    def sides(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape[1:-1])

    @property
    def channels(self) -> int:
        return self.model.input_shape[-1]


@keras.saving.register_keras_serializable(package="encoder_zoo")
class Sampling(layers.Layer):
    """keras-io's VAE sampling, which the twin never sees once the model is cut at z_mean."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        mean, log_variance = inputs
        noise = keras.random.normal(keras.ops.shape(mean), seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_variance) * noise


def _model(inputs, explained, outputs=None, name="encoder") -> Encoder:
    model = keras.Model(inputs, explained if outputs is None else outputs, name=name)
    reference = keras.Model(inputs, explained)
    return Encoder(model, explained._keras_history.operation.name, reference)


def denoising_autoencoder(side: int = 16) -> Encoder:
    """keras-io's convolutional denoising autoencoder, explained at its encoder's output."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    code = layers.MaxPooling2D(2, padding="same", name="code")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(code)
    x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    return _model(inputs, code, outputs)


def vae_encoder(side: int = 16) -> Encoder:
    """keras-io's VAE encoder, explained at z_mean; its sampling comes after."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(4, name="z_mean")(x)
    z_log_var = layers.Dense(4, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return _model(inputs, z_mean, [z_mean, z_log_var, z])


def residual_encoder(side: int = 16) -> Encoder:
    """Two residual blocks with batch normalisation and a strided convolution between."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(6, 3, padding="same")(inputs)
    for _ in range(2):
        y = layers.Conv2D(6, 3, padding="same")(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(6, 3, padding="same")(y)
        x = layers.ReLU()(layers.Add()([x, y]))
    code = layers.Conv2D(4, 3, strides=2, padding="same", name="code")(x)
    return _model(inputs, code)


def unet_bottleneck(side: int = 16) -> Encoder:
    """A residual U-Net asked for its bottleneck; the concatenations of its decoder come
    after."""
    inputs = keras.Input((side, side, 1))
    skip = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2)(skip)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = layers.Add()([x, layers.Conv2D(8, 3, activation="relu", padding="same")(x)])
    bottleneck = layers.Conv2D(8, 3, activation="relu", padding="same", name="bottleneck")(x)
    x = layers.UpSampling2D(2)(bottleneck)
    x = layers.Concatenate()([x, skip])
    outputs = layers.Conv2D(1, 3, padding="same")(x)
    return _model(inputs, bottleneck, outputs)


def smooth_activations(side: int = 16) -> Encoder:
    """tanh, ELU, GELU (both forms) and swish, with average pooling."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, activation="tanh", padding="same")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(4, 3, activation="elu", padding="same")(x)
    x = layers.Activation("gelu")(x)
    x = layers.Conv2D(4, 3, activation="swish", padding="same")(x)
    x = layers.AveragePooling2D(2)(x)
    code = layers.Conv2D(3, 3, activation="softplus", padding="same", name="code")(x)
    return _model(inputs, code)


def batchnorm_leaky(side: int = 16) -> Encoder:
    """Conv -> BatchNormalization -> LeakyReLU, twice, as GAN discriminators are built."""
    inputs = keras.Input((side, side, 1))
    x = inputs
    for filters in (4, 6):
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    code = layers.Conv2D(2, 1, name="code")(x)
    return _model(inputs, code)


def strided_valid(side: int = 16) -> Encoder:
    """Strided convolutions, one of them 'valid', with an even kernel."""
    inputs = keras.Input((side + 2, side + 2, 1))
    x = layers.Conv2D(4, 4, strides=2, padding="valid", activation="relu")(inputs)
    code = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="code")(x)
    return _model(inputs, code)


def dilated(side: int = 16) -> Encoder:
    """Dilated convolutions, widening the field without pooling."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu")(inputs)
    code = layers.Conv2D(3, 3, dilation_rate=3, padding="same", activation="selu", name="code")(x)
    return _model(inputs, code)


def depthwise_separable(side: int = 16) -> Encoder:
    """Depthwise and separable convolutions, as MobileNets are built, and a grouped one."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu6")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", activation="hard_swish")(x)
    code = layers.SeparableConv2D(4, 3, strides=2, padding="same", activation="relu", name="code")(
        x
    )
    return _model(inputs, code)


def grouped(side: int = 16) -> Encoder:
    """A grouped convolution. TensorFlow cannot differentiate one on the CPU, so the reference
    is the same convolution with its groups' kernels laid out block by block in one kernel."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    code = layers.Conv2D(4, 3, padding="same", groups=2, activation="sigmoid", name="code")(x)
    return _model(inputs, code)


def _ungrouped(encoder: Encoder) -> keras.Model:
    """The reference model with every grouped convolution made one block-diagonal convolution."""
    inputs = keras.Input(encoder.model.input_shape[1:])
    x = inputs
    for layer in encoder.reference.layers[1:]:
        config = layer.get_config()
        groups = config.get("groups", 1)
        if groups == 1:
            x = type(layer).from_config(config)(x)
            x._keras_history.operation.set_weights(layer.get_weights())
            continue
        kernel, bias = layer.get_weights()
        size, width = kernel.shape[2], kernel.shape[3] // groups
        full = np.zeros((*kernel.shape[:2], size * groups, kernel.shape[3]), np.float32)
        for group in range(groups):
            block = slice(group * width, (group + 1) * width)
            full[:, :, group * size : (group + 1) * size, block] = kernel[..., block]
        copy = type(layer).from_config({**config, "groups": 1})
        x = copy(x)
        copy.set_weights([full, bias])
    return keras.Model(inputs, x)


def global_average_latent(side: int = 16) -> Encoder:
    """A latent vector from global average pooling, read from the whole image."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(6, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2)(x)
    code = layers.GlobalAveragePooling2D(name="code")(x)
    return _model(inputs, code)


def layer_normalised(side: int = 16) -> Encoder:
    """Layer normalisation over the channels, and over a whole feature map."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.LayerNormalization()(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same", activation="gelu")(x)
    code = layers.LayerNormalization(axis=[1, 2, 3], name="code")(x)
    return _model(inputs, code)


def rgb_input(side: int = 16) -> Encoder:
    """Three input channels: a colour micrograph, or three detectors."""
    inputs = keras.Input((side, side, 3))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    code = layers.MaxPooling2D(2, name="code")(x)
    return _model(inputs, code)


def volume_encoder(side: int = 16) -> Encoder:
    """A Conv3D encoder of a volume, with 3-D pooling."""
    inputs = keras.Input((side // 2, side // 2, side // 2, 1))
    x = layers.Conv3D(3, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling3D(2)(x)
    code = layers.Conv3D(2, 3, activation="tanh", padding="same", name="code")(x)
    return _model(inputs, code)


def classifier_logits(side: int = 16) -> Encoder:
    """A classifier's logits: convolutions, a flattened map and a dense layer."""
    inputs = keras.Input((side - 4, side - 4, 1))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logits = layers.Dense(5, name="logits")(x)
    outputs = layers.Softmax()(logits)
    return _model(inputs, logits, outputs)


def nested_sequential(side: int = 16) -> Encoder:
    """A Sequential encoder inside a Model, explained at a layer inside the encoder."""
    encoder = keras.Sequential(
        [
            keras.Input((side, side, 1)),
            layers.Conv2D(4, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(3, 3, activation="relu", padding="same", name="inner_code"),
        ],
        name="encoder",
    )
    inputs = keras.Input((side, side, 1))
    code = encoder(inputs)
    outputs = layers.Conv2DTranspose(1, 3, strides=2, padding="same")(code)
    model = keras.Model(inputs, outputs)
    return Encoder(model, "inner_code", keras.Model(inputs, code))


def gated_attention(side: int = 16) -> Encoder:
    """A sigmoid gate multiplied into the features, and a softmax over the channels."""
    inputs = keras.Input((side, side, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    gate = layers.Conv2D(4, 1, activation="sigmoid")(x)
    x = layers.Multiply()([x, gate])
    x = layers.Subtract()([x, layers.Conv2D(4, 1)(x)])
    code = layers.Softmax(axis=-1, name="code")(x)
    return _model(inputs, code)


def reshaping(side: int = 16) -> Encoder:
    """Padding, cropping, bilinear up-sampling, group normalisation and overlapping pooling."""
    inputs = keras.Input((side, side, 1))
    x = layers.ZeroPadding2D(2)(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.Cropping2D(((1, 1), (0, 2)))(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.GroupNormalization(groups=2)(x)
    code = layers.GlobalMaxPooling2D(name="code")(x)
    return _model(inputs, code)


ZOO: dict[str, Callable[[int], Encoder]] = {
    build.__name__: build
    for build in (
        denoising_autoencoder,
        vae_encoder,
        residual_encoder,
        unet_bottleneck,
        smooth_activations,
        batchnorm_leaky,
        strided_valid,
        dilated,
        depthwise_separable,
        grouped,
        global_average_latent,
        layer_normalised,
        rgb_input,
        volume_encoder,
        classifier_logits,
        nested_sequential,
        gated_attention,
        reshaping,
    )
}
"""Every family by name."""


def build(name: str, seed: int = 0, side: int = 16) -> Encoder:
    """A family's encoder with seeded random weights, biases of both signs and batch statistics
    away from their defaults, so that every mask and normalisation cuts through the image."""
    keras.utils.set_random_seed(seed)
    encoder = ZOO[name](side)
    rng = np.random.default_rng(seed)
    for layer in encoder.model._flatten_layers(include_self=False, recursive=True):
        for variable in layer.weights:
            value = np.asarray(variable)
            if variable.path.endswith(("bias", "beta", "moving_mean")):
                variable.assign(rng.normal(0.0, 0.1, value.shape).astype(value.dtype))
            elif variable.path.endswith(("gamma", "moving_variance")):
                variable.assign(rng.uniform(0.5, 1.5, value.shape).astype(value.dtype))
    if name == "grouped":
        encoder = dataclasses.replace(encoder, reference=_ungrouped(encoder))
    return encoder


def image(encoder: Encoder, seed: int = 1) -> np.ndarray:
    """An input of the encoder's sides and channels, values in [0, 1], as the API takes it."""
    rng = np.random.default_rng(seed)
    shape = (*encoder.sides, encoder.channels)
    values = rng.random(shape).astype(np.float32)
    return values[..., 0] if encoder.channels == 1 else values


def dense_column_norms(encoder: Encoder, x: np.ndarray) -> np.ndarray:
    """The norms of the Jacobian's columns, pixel by pixel over the channels, from the backend's
    own dense Jacobian of the reference model (``tf.GradientTape`` or ``jax.jacrev``)."""
    batch = np.asarray(x, np.float32).reshape(1, *encoder.sides, encoder.channels)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(batch)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            output = encoder.reference(tensor, training=False)
        dense = tape.jacobian(output, tensor).numpy()
    elif backend == "jax":
        import jax

        dense = np.asarray(jax.jacrev(lambda v: encoder.reference(v, training=False))(batch))
    else:
        raise NotImplementedError(backend)
    dense = dense.reshape(-1, *encoder.sides, encoder.channels)
    return np.sqrt(np.sum(np.square(dense), axis=(0, -1)))
