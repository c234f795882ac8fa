"""Small models shared by the stage 2 tests: one with random weights and one briefly trained."""

import keras
import numpy as np

from complexstep import architecture


def random_autoencoder(seed: int) -> keras.Model:
    """The paper's autoencoder with seeded random kernels and random biases of both signs."""
    keras.utils.set_random_seed(seed)
    model = architecture.build_autoencoder()
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0.0, 0.05, bias.shape).astype(np.float32)])
    return model


def trained_autoencoder(seed: int) -> keras.Model:
    """The paper's autoencoder after one short epoch on smooth random images."""
    keras.utils.set_random_seed(seed)
    model = architecture.build_autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(5e-4), loss="mse")
    images = smooth_images(np.random.default_rng(seed), 8)
    model.fit(images, images, batch_size=4, epochs=1, verbose=0)
    return model


def smooth_images(rng: np.random.Generator, count: int) -> np.ndarray:
    """Images in [0, 1] with structure at several scales, shape (count, 256, 256, 1)."""
    noise = rng.random((count, 32, 32))
    coarse = noise.repeat(8, axis=1).repeat(8, axis=2)
    fine = rng.random((count, 256, 256))
    return (0.7 * coarse + 0.3 * fine).astype(np.float32)[..., None]
