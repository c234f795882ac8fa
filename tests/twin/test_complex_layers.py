"""The complex layers: their imaginary paths, adjoints, patch Jacobians and serialisation."""

import keras
import numpy as np
import pytest
from keras import ops

from complexstep.twin import building as twin
from complexstep.twin import complex_layers


def as_complex(real: np.ndarray, imaginary: np.ndarray):
    return ops.view_as_complex(ops.stack([real, imaginary], axis=-1))


def test_pooling_takes_imaginary_part_at_first_real_maximum():
    """Ties go to the first maximum in reading order, and the imaginary part comes from there."""
    layer = complex_layers.ComplexMaxPooling2D(2)
    real = np.array([[0.0, 2.0], [2.0, 1.0]], np.float32).reshape(1, 2, 2, 1)
    imaginary = np.array([[5.0, 6.0], [7.0, 8.0]], np.float32).reshape(1, 2, 2, 1)
    output = ops.convert_to_numpy(layer(as_complex(real, imaginary)))
    assert output.ravel()[0] == 2.0 + 6.0j


@pytest.mark.parametrize(
    "layer, channels",
    [
        (complex_layers.ComplexConv2D(3, activation="relu"), 2),
        (complex_layers.ComplexConv2D(2, kernel_size=5, activation="linear"), 3),
        (complex_layers.ComplexMaxPooling2D(2), 2),
        (complex_layers.ComplexUpSampling2D(2), 2),
        (complex_layers.ComplexBatchNormalization(), 3),
    ],
)
def test_adjoint_is_the_transpose_of_the_imaginary_map(layer, channels):
    """<A t, g> equals <t, A^T g> for the linear map fixed by a real input."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 8, 8, channels)).astype(np.float32)
    layer.build(x.shape)
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape))
    _, state = layer.real_pass(ops.convert_to_tensor(x))
    t = rng.standard_normal((3, 8, 8, channels)).astype(np.float32)
    forward = ops.convert_to_numpy(layer.imaginary_pass(ops.convert_to_tensor(t), state))
    g = rng.standard_normal(forward.shape).astype(np.float32)
    backward = ops.convert_to_numpy(layer.imaginary_adjoint(ops.convert_to_tensor(g), state))
    np.testing.assert_allclose(np.sum(forward * g), np.sum(t * backward), rtol=1e-4)


def test_patch_jacobians_hold_each_cells_derivatives_over_its_receptive_field():
    """Patch Jacobians pushed through a 5x5 convolution, 3x3 pooling and a 3x3 convolution hold
    the Jacobian that the imaginary passes of unit perturbations give, cell by cell."""
    rng = np.random.default_rng(4)
    layers = [
        complex_layers.ComplexConv2D(3, kernel_size=5, activation="relu"),
        complex_layers.ComplexMaxPooling2D(3),
        complex_layers.ComplexConv2D(2, kernel_size=3, activation="linear"),
    ]
    size = 18
    x = ops.convert_to_tensor(rng.standard_normal((1, size, size, 1)).astype(np.float32))
    states = []
    for layer in layers:
        layer.build(x.shape)
        if isinstance(layer, complex_layers.ComplexConv2D):
            layer.bias.assign(rng.normal(0.0, 0.5, layer.bias.shape))
        x, state = layer.real_pass(x)
        states.append(state)
    t = ops.convert_to_tensor(np.eye(size * size, dtype=np.float32).reshape(-1, size, size, 1))
    j = ops.ones((1, 1, size, size, 1))
    for layer, state, stride in zip(layers, states, [1, 1, 3], strict=True):
        t = layer.imaginary_pass(t, state)
        j = layer.patch_pass(j, state, stride)
    jacobian = ops.convert_to_numpy(t).reshape(size, size, 6, 6, 2)
    patches = ops.convert_to_numpy(j)
    # Cell i's receptive field starts 2 pixels before the pooling window 3i (the 5x5 kernel) and
    # one window, 3 pixels, earlier still (the last 3x3 kernel): 13 pixels wide from 3i - 5.
    assert patches.shape == (13, 13, 6, 6, 2)
    expected = np.zeros_like(patches)
    for y, x in np.ndindex(6, 6):
        for u, v in np.ndindex(13, 13):
            row, column = 3 * y - 5 + u, 3 * x - 5 + v
            if 0 <= row < size and 0 <= column < size:
                expected[u, v, y, x] = jacobian[row, column, y, x]
    assert np.count_nonzero(expected) > 0
    np.testing.assert_allclose(patches, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        complex_layers.ComplexConv2D(4, kernel_size=5, activation="linear", name="c"),
        complex_layers.ComplexMaxPooling2D(2, name="p"),
        complex_layers.ComplexUpSampling2D(3, name="u"),
        complex_layers.ComplexConv2D(2, use_bias=False, name="nb"),
        complex_layers.ComplexBatchNormalization(name="b"),
    ],
)
def test_layer_config_round_trip(layer):
    """A layer rebuilt from its serialised form has the same configuration."""
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_saved_twin_reloads_and_computes_the_same(random_model, tmp_path):
    """A twin saved as .keras loads with its registered layers and gives the same output."""
    made = twin.build_complex_twin(random_model, "code")
    path = tmp_path / "twin.keras"
    made.save(path)
    reloaded = keras.models.load_model(path)
    x = np.random.default_rng(3).random((1, 256, 256, 1)).astype(np.float32)
    z = as_complex(x, 0.1 * x)
    np.testing.assert_array_equal(ops.convert_to_numpy(reloaded(z)), ops.convert_to_numpy(made(z)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: complex_layers.ComplexConv2D(4, activation="tanh"), "activation=tanh"),
        (lambda: complex_layers.ComplexConv2D(4, kernel_size=2), "kernel_size=2"),
        (lambda: complex_layers.ComplexConv2D(0), "filters=0"),
        (lambda: complex_layers.ComplexMaxPooling2D(0), "pool_size=0"),
    ],
)
def test_bad_layer_arguments_are_named(make, message):
    """A bad argument raises ValueError naming the value received."""
    with pytest.raises(ValueError, match=message):
        make()
