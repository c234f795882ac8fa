"""Building the complex twin from a model's layers: its real part, its imaginary part, the
registry of layers it mirrors and refuses, and the image sizes it takes."""

import keras
import numpy as np
import pytest
from keras import layers, ops

import reference
from complexstep.errors import ImageSizeError, ModelError, UnsupportedLayerError
from complexstep.twin import building as twin


def as_complex(real: np.ndarray, imaginary: np.ndarray):
    return ops.view_as_complex(ops.stack([real, imaginary], axis=-1))


def chain_model(*chain: keras.layers.Layer, size=(32, 32)) -> keras.Model:
    """A functional model of the given layers in a chain, on grey images of ``size``."""
    inputs = keras.Input((*size, 1))
    outputs = inputs
    for layer in chain:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs)


def randomize(model: keras.Model, seed: int) -> keras.Model:
    """Gives every weight random values, variances positive, so that each layer matters."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.normal(0.0, 0.3, weight.shape)
        weight.assign(np.abs(values) + 0.5 if "variance" in weight.path else values)
    return model


def twin_output(model, layer, x, t):
    """The twin's complex output for real part ``x`` and imaginary part ``t``, (height, width)."""
    made = twin.build_complex_twin(model, layer, x.shape)
    return ops.convert_to_numpy(made(as_complex(x[None, ..., None], t[None, ..., None])))[0]


@pytest.mark.parametrize("layer", ["code", "reconstruction"])
def test_real_part_equals_trained_model_exactly(trained_model, layer):
    """The twin's real part is bit for bit the trained model's output."""
    made = twin.build_complex_twin(trained_model, layer)
    real_model = keras.Model(trained_model.input, trained_model.get_layer(layer).output)
    x = np.random.default_rng(0).random((2, 256, 256, 1)).astype(np.float32)
    output = ops.convert_to_numpy(made(as_complex(x, np.zeros_like(x))))
    np.testing.assert_array_equal(output.real, ops.convert_to_numpy(real_model(x)))
    assert np.all(output.imag == 0)


@pytest.mark.parametrize("layer", ["encoder_pool1", "code", "decoder_conv2"])
def test_complex_output_matches_float64_reference(random_model, layer):
    """A whole-image imaginary perturbation propagates as the reference network computes it."""
    rng = np.random.default_rng(1)
    x = rng.random((256, 256)).astype(np.float32)
    t = (0.1 * rng.standard_normal((256, 256))).astype(np.float32)
    output = twin_output(random_model, layer, x, t)
    expected = reference.complex_forward(random_model, layer, x + 1j * t)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(output.real, expected.real, atol=1e-5 * scale)
    np.testing.assert_allclose(output.imag, expected.imag, atol=1e-5 * np.abs(expected.imag).max())


def test_twin_of_another_size_takes_the_same_weights(random_model):
    """A twin built for a 96x160 image computes, at that size, what the reference does."""
    rng = np.random.default_rng(2)
    x = rng.random((96, 160)).astype(np.float32)
    t = (0.1 * rng.standard_normal((96, 160))).astype(np.float32)
    output = twin_output(random_model, "code", x, t)
    assert output.shape == (6, 10, 8)
    expected = reference.complex_forward(random_model, "code", x + 1j * t)
    np.testing.assert_allclose(output.imag, expected.imag, atol=1e-5 * np.abs(expected.imag).max())


def test_twin_output_is_labelled_complex(random_model):
    """The symbolic twin says it returns complex64, as it does."""
    made = twin.build_complex_twin(random_model, "code")
    assert made.output.dtype == "complex64"
    assert tuple(made.output.shape) == (None, 16, 16, 8)


def test_twin_takes_trained_weights_by_name(trained_model):
    """Every twin layer holds the weights of the trained layer of the same name."""
    made = twin.build_complex_twin(trained_model, "reconstruction")
    for layer in made.layers[1:]:
        trained = trained_model.get_layer(layer.name).get_weights()
        for mine, theirs in zip(layer.get_weights(), trained, strict=True):
            np.testing.assert_array_equal(mine, theirs)
    assert sum(layer.count_params() for layer in made.layers) == 50_353


def test_batch_normalization_dropout_and_other_kernels_are_mirrored():
    """A model with a 5x5 kernel, a bias-free convolution, batch normalisation at inference,
    dropout and 4x4 pooling is explained as the reference network computes it."""
    keras.utils.set_random_seed(4)
    model = randomize(
        chain_model(
            layers.Conv2D(3, 5, padding="same", activation="relu", name="wide"),
            layers.BatchNormalization(name="normal"),
            layers.Dropout(0.5, name="drop"),
            layers.MaxPooling2D(4, name="pool"),
            layers.Conv2D(2, 3, padding="same", use_bias=False, name="plain"),
            layers.UpSampling2D(2, name="up"),
        ),
        seed=4,
    )
    rng = np.random.default_rng(5)
    x = rng.random((32, 32)).astype(np.float32)
    t = (0.1 * rng.standard_normal((32, 32))).astype(np.float32)
    for layer in ("normal", "drop", "up"):
        expected = reference.complex_forward(model, layer, x + 1j * t)
        output = twin_output(model, layer, x, t)
        np.testing.assert_allclose(output.real, expected.real, atol=1e-5 * np.abs(expected).max())
        np.testing.assert_allclose(
            output.imag, expected.imag, atol=1e-5 * np.abs(expected.imag).max()
        )
    assert "drop" not in [layer.name for layer in twin.build_complex_twin(model, "up").layers]


def test_nested_models_are_unpacked():
    """An autoencoder made of an encoder model and a decoder model is one chain of layers."""
    keras.utils.set_random_seed(6)
    encoder = keras.Sequential(
        [keras.Input((32, 32, 1)), layers.Conv2D(2, 3, padding="same", name="e")], name="encoder"
    )
    decoder = keras.Sequential(
        [keras.Input((32, 32, 2)), layers.Conv2D(1, 3, padding="same", name="d")], name="decoder"
    )
    model = keras.Sequential([keras.Input((32, 32, 1)), encoder, decoder])
    assert [layer.name for layer in twin.layer_chain(model, "d")] == ["e", "d"]
    x = np.random.default_rng(7).random((32, 32)).astype(np.float32)
    expected = reference.complex_forward(model, "d", x + 0.1j * x)
    np.testing.assert_allclose(twin_output(model, "d", x, 0.1 * x).imag, expected.imag, atol=1e-5)


REFUSED = [
    (layers.Conv2D(2, 3, padding="same", activation="tanh"), "activation is 'tanh'"),
    (layers.Conv2D(2, 4, padding="same"), "kernel side 4 is even"),
    (layers.Conv2D(2, (3, 5), padding="same"), r"kernel \(3, 5\) is not square"),
    (layers.Conv2D(2, 3, strides=2, padding="same"), r"strides are \(2, 2\)"),
    (layers.Conv2D(2, 3, dilation_rate=2, padding="same"), r"dilation rate is \(2, 2\)"),
    (layers.Conv2D(2, 3, padding="valid"), "padding is 'valid'"),
    (layers.Conv2D(2, 3, padding="same", groups=2), "it has 2 groups, not 1"),
    (layers.MaxPooling2D(2, strides=1), r"strides \(1, 1\) differ from its windows"),
    (layers.MaxPooling2D(2, padding="same"), "padding is 'same'"),
    (layers.MaxPooling2D((2, 4)), r"pool size \(2, 4\) is not square"),
    (layers.UpSampling2D(2, interpolation="bilinear"), "interpolation is 'bilinear'"),
    (layers.UpSampling2D((2, 3)), r"size \(2, 3\) is not square"),
    (layers.AveragePooling2D(2), "no entry for its class"),
    (layers.Dense(3), "no entry for its class"),
]


@pytest.mark.parametrize("layer, reason", REFUSED, ids=[reason for _, reason in REFUSED])
def test_every_layer_the_twin_cannot_mirror_is_refused_with_its_reason(layer, reason):
    """The refusal names the layer, says why, and lists what is supported, in one line, where the
    layer follows one the twin mirrors (whose two channels a grouped convolution needs)."""
    model = chain_model(layers.Conv2D(2, 3, padding="same"), layer)
    with pytest.raises(UnsupportedLayerError, match=reason) as raised:
        twin.build_complex_twin(model, layer.name)
    message = str(raised.value)
    assert message.startswith(f"layer {layer.name!r} ({type(layer).__name__}) has no complex twin")
    assert "the twin supports Conv2D" in message and "\n" not in message


def test_channels_first_and_other_axes_are_refused():
    """Layers laid out channels first, or normalising another axis, are refused by reason."""
    conv = layers.Conv2D(2, 3, padding="same", data_format="channels_first")
    with pytest.raises(UnsupportedLayerError, match="channels_first"):
        twin.twins_of([conv])
    model = chain_model(layers.BatchNormalization(axis=1, name="rows"))
    with pytest.raises(UnsupportedLayerError, match="normalises axis 1"):
        twin.build_complex_twin(model, "rows")


def test_models_that_are_not_a_grey_chain_are_refused():
    """A colour model, a branching model and an unknown layer name are each refused by name."""
    colour_input = keras.Input((32, 32, 3))
    colour = keras.Model(colour_input, layers.Conv2D(2, 3, padding="same", name="c")(colour_input))
    with pytest.raises(ModelError, match=r"takes inputs of shape \(None, 32, 32, 3\)"):
        twin.build_complex_twin(colour, "c")
    inputs = keras.Input((32, 32, 1))
    left = layers.Conv2D(2, 3, padding="same", name="left")(inputs)
    right = layers.Conv2D(2, 3, padding="same", name="right")(inputs)
    branching = keras.Model(inputs, [left, right])
    # Cut at either branch, the model is a chain up to it; a join of the two is not.
    assert [layer.name for layer in twin.layer_chain(branching, "right")] == ["right"]
    joined = keras.Model(inputs, layers.Add(name="join")([left, right]))
    with pytest.raises(ModelError, match="not a chain of layers up to 'join'"):
        twin.build_complex_twin(joined, "join")
    chain = chain_model(layers.Conv2D(2, 3, padding="same", name="only"))
    with pytest.raises(ModelError, match="no layer 'latent'; its layers are only$"):
        twin.build_complex_twin(chain, "latent")


def test_sizes_the_network_cannot_take_name_the_nearest_it_can(random_model):
    """The paper's network takes multiples of 16, and the message says which are nearest."""
    with pytest.raises(ImageSizeError, match="multiples of 16, not a 250x256 image") as raised:
        twin.build_complex_twin(random_model, "code", (250, 256))
    assert str(raised.value).endswith("nearest it takes: height 240 or 256 (crop or pad the image)")
    with pytest.raises(ImageSizeError, match="nearest it takes: width 1008 or 1024 "):
        twin.check_size(768, 1010, 16)
    with pytest.raises(ImageSizeError, match="height 16"):
        twin.check_size(8, 16, 16)
    twin.check_size(48, 1024, 16)
    assert twin.size_step(twin.layer_chain(random_model, "encoder_pool2")) == 4
