"""The autoencoder has the paper's layers, shapes and parameter count."""

import keras
import pytest

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.model import architecture


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """The autoencoder, built once for this module."""
    return architecture.build_autoencoder()


def _layers_of(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_encoder_convolutions_narrow_from_64_to_8_filters(model):
    """The four encoder convolutions have 64, 32, 16 and 8 filters, each followed by pooling."""
    encoder = model.layers[1:9]
    assert [type(layer) for layer in encoder] == [
        keras.layers.Conv2D,
        keras.layers.MaxPooling2D,
    ] * 4
    assert [layer.filters for layer in encoder[::2]] == [64, 32, 16, 8]


def test_decoder_upsamples_then_widens_from_8_to_64_filters(model):
    """The decoder alternates 2x upsampling and convolutions of 8, 16, 32 and 64 filters."""
    decoder = model.layers[9:17]
    assert [type(layer) for layer in decoder] == [
        keras.layers.UpSampling2D,
        keras.layers.Conv2D,
    ] * 4
    assert [layer.filters for layer in decoder[1::2]] == [8, 16, 32, 64]
    assert all(tuple(layer.size) == (2, 2) for layer in decoder[::2])


def test_last_layer_is_a_single_filter_linear_convolution(model):
    """The reconstruction is one linear 3x3 convolution to a single channel."""
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Conv2D)
    assert last.filters == 1
    assert last.get_config()["activation"] == "linear"
    assert len(model.layers) == 18


def test_hidden_convolutions_are_3x3_same_relu(model):
    """Every convolution but the last is 3x3 with 'same' padding and ReLU."""
    convolutions = _layers_of(model, keras.layers.Conv2D)
    assert len(convolutions) == 9
    for layer in convolutions:
        assert tuple(layer.kernel_size) == (3, 3)
        assert layer.padding == "same"
    assert [layer.get_config()["activation"] for layer in convolutions[:-1]] == ["relu"] * 8


def test_pooling_is_2x2_max_pooling(model):
    """Each of the four poolings takes the maximum over 2x2 windows with stride 2."""
    poolings = _layers_of(model, keras.layers.MaxPooling2D)
    assert len(poolings) == 4
    for layer in poolings:
        assert tuple(layer.pool_size) == (2, 2)
        assert tuple(layer.strides) == (2, 2)


def test_parameter_count_matches_the_paper(model):
    """The model has 50,353 parameters, as summed from its layers' kernel and bias shapes."""
    channels_in = [1, 64, 32, 16, 8, 8, 16, 32, 64]
    channels_out = [64, 32, 16, 8, 8, 16, 32, 64, 1]
    by_hand = sum(
        9 * cin * cout + cout for cin, cout in zip(channels_in, channels_out, strict=True)
    )
    assert by_hand == 50_353
    assert model.count_params() == by_hand


def test_input_is_one_256x256_grey_channel(model):
    """The model takes and returns batches of 256x256 single-channel images."""
    assert model.input_shape == (None, 256, 256, 1)
    assert model.output_shape == (None, 256, 256, 1)


def test_code_layer_is_16x16x8(model):
    """The layer named by CODE_LAYER outputs the 16x16x8 latent code."""
    assert model.get_layer(architecture.CODE_LAYER).output.shape == (None, 16, 16, 8)
    assert model.name == defaults.MODEL_NAME


def test_other_sizes_and_mixed_precision_keep_the_layers(model):
    """A 64x96 model has the same 50,353 parameters; in bfloat16 it reconstructs in float32."""
    other = architecture.build_autoencoder((64, 96, 1), precision="bfloat16")
    assert other.count_params() == model.count_params()
    assert other.get_layer("code").compute_dtype == "bfloat16"
    assert other.output.dtype == "float32" and other.output_shape == (None, 64, 96, 1)


def test_an_unknown_precision_is_refused_with_the_ones_offered():
    """A precision the model cannot compute in raises the library's SettingError, listing both."""
    with pytest.raises(SettingError, match="float32, bfloat16, not 'float16'"):
        architecture.build_autoencoder(precision="float16")
