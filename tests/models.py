"""Models shared by the stage 2 tests: the paper's with random or briefly trained weights, and a
small one of the same layer kinds."""

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from complexstep.model import architecture


def random_autoencoder(seed: int) -> keras.Model:
    """The paper's autoencoder with seeded random kernels and random biases of both signs."""
    keras.utils.set_random_seed(seed)
    model = architecture.build_autoencoder()
    randomize_biases(model, np.random.default_rng(seed))
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


def grains(rng: np.random.Generator, height: int, width: int, block: int = 8) -> np.ndarray:
    """A grey image in [0, 1] of blocks of random grey over fine noise, like grains and their
    texture, float32 ``(height, width)``."""
    blocks = rng.random((-(-height // block), -(-width // block)))
    coarse = blocks.repeat(block, axis=0).repeat(block, axis=1)[:height, :width]
    return (0.7 * coarse + 0.3 * rng.random((height, width))).astype(np.float32)


def small_autoencoder(seed: int) -> keras.Model:
    """A 32x32 network of the same layer kinds, small enough to explain every pixel literally."""
    return model_of(
        [
            architecture.LayerSpec("conv", "conv1", 4),
            architecture.LayerSpec("pool", "pool1"),
            architecture.LayerSpec("conv", "conv2", 3),
            architecture.LayerSpec("pool", "pool2"),
            architecture.LayerSpec("upsample", "upsample"),
            architecture.LayerSpec("conv", "out", 2, "linear"),
        ],
        seed,
    )


def model_of(specs: list[architecture.LayerSpec], seed: int, size: int = 32) -> keras.Model:
    """A network of the given layers on size x size grey images, seeded random weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 1))
    outputs = inputs
    for spec in specs:
        outputs = spec.real_layer()(outputs)
    model = keras.Model(inputs, outputs)
    randomize_biases(model, np.random.default_rng(seed))
    return model


def randomize_biases(model: keras.Model, rng: np.random.Generator) -> None:
    """Biases of both signs, so that ReLU masks cut through the images."""
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0.0, 0.05, bias.shape).astype(np.float32)])


def write_micrograph_folder(folder: Path, seed: int) -> Path:
    """Six 32x32 grey micrographs of seeded noise, the last two in a subfolder ``sub``."""
    (folder / "sub").mkdir()
    rng = np.random.default_rng(seed)
    for index in range(6):
        where = folder / "sub" if index >= 4 else folder
        values = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(values).save(where / f"m{index}.png")
    return folder


def write_grain_folder(folder: Path, count: int, height: int, width: int, seed: int) -> Path:
    """``count`` 8-bit grey micrographs of seeded ``grains``, ``m0.png`` on, in ``folder``."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        values = np.round(255 * grains(rng, height, width)).astype(np.uint8)
        Image.fromarray(values).save(folder / f"m{index}.png")
    return folder
