"""An independent complex-step reference: the twin's forward pass in float64 NumPy.

It reads only a Keras model's weights and layer types, and follows the method as the paper states
it, one perturbed pixel per pass, so that the package's layers and engines are checked against
code that shares nothing with them.
"""

import keras
import numpy as np


def complex_forward(model: keras.Model, layer_name: str, z: np.ndarray) -> np.ndarray:
    """The complex128 output of ``layer_name`` for a complex (height, width) input ``z``."""
    z = np.asarray(z, np.complex128)[:, :, None]
    for layer in _layers(model):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Conv2D):
            kernel, *bias = (weight.astype(np.float64) for weight in layer.get_weights())
            z = _convolve_same(z, kernel) + (bias[0] if bias else 0.0)
            if config["activation"] == "relu":
                z = np.where(z.real > 0, z, 0)
        elif isinstance(layer, keras.layers.MaxPooling2D):
            z = _max_pool_by_real_part(z, config["pool_size"][0])
        elif isinstance(layer, keras.layers.UpSampling2D):
            size = config["size"][0]
            z = z.repeat(size, axis=0).repeat(size, axis=1)
        elif isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = (
                np.asarray(weight, np.float64)
                for weight in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
            )
            z = (z - mean) / np.sqrt(variance + config["epsilon"]) * gamma + beta
        elif not isinstance(layer, keras.layers.Dropout):
            raise TypeError(f"no reference for {type(layer).__name__}")
        if layer.name == layer_name:
            return z
    raise KeyError(layer_name)


def _layers(model: keras.Model) -> list:
    """The model's layers in order, nested models unpacked."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            layers.append(layer)
    return layers


def literal_attribution(model, layer_name, image, pixels, h=0.1) -> np.ndarray:
    """``||Im f(x + i*h*e_k)|| / h`` for each pixel ``k``, one complex pass per pixel."""
    values = []
    for row, column in pixels:
        z = np.asarray(image, np.complex128)
        z[row, column] += 1j * h
        values.append(np.linalg.norm(complex_forward(model, layer_name, z).imag) / h)
    return np.array(values)


def _convolve_same(z: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A 'same' convolution as one product of every pixel's neighbourhood with the kernel."""
    size = kernel.shape[0]
    reach = size // 2
    height, width, channels = z.shape
    padded = np.pad(z, ((reach, reach), (reach, reach), (0, 0)))
    neighbourhoods = np.concatenate(
        [padded[dy : dy + height, dx : dx + width, :] for dy in range(size) for dx in range(size)],
        axis=-1,
    )
    kernel = kernel.reshape(size * size * channels, -1)
    # Two real products run on BLAS; NumPy has no fast path for a complex-by-real product.
    return neighbourhoods.real @ kernel + 1j * (neighbourhoods.imag @ kernel)


def _max_pool_by_real_part(z: np.ndarray, size: int) -> np.ndarray:
    height, width, channels = z.shape
    windows = z.reshape(height // size, size, width // size, size, channels)
    windows = windows.transpose(0, 2, 4, 1, 3).reshape(height // size, width // size, channels, -1)
    first_maximum = np.argmax(windows.real, axis=-1)
    return np.take_along_axis(windows, first_maximum[..., None], axis=-1)[..., 0]
