"""Reading an explorer page back without the package, shared by the explorer's tests.

The page's data is a JSON object in a script element; each array is zlib-compressed
little-endian bytes in base64, with its type and shape. These helpers undo that with the standard
library and NumPy alone, so that the tests check what a browser would find in the file.
"""

import base64
import json
import re
import zlib
from pathlib import Path

import keras
import numpy as np

import models
from complexstep.model import architecture

DATA_ELEMENT = re.compile(
    r'<script id="explorer-data" type="application/json">(.*?)</script>', re.DOTALL
)


def page_data(page: str | Path) -> dict:
    """The data object of a page, given its text or its path."""
    text = page.read_text(encoding="utf-8") if isinstance(page, Path) else page
    return json.loads(DATA_ELEMENT.search(text).group(1))


def unpack(packed: dict) -> np.ndarray:
    """One array of a page's data."""
    raw = zlib.decompress(base64.b64decode(packed["data"]))
    return np.frombuffer(raw, np.dtype(packed["dtype"]).newbyteorder("<")).reshape(packed["shape"])


def small_autoencoder(seed: int) -> keras.Model:
    """A small autoencoder of the paper's layer kinds, with random biases: its code, the layer
    named "code", is a quarter of the image a side with 3 channels, and it reconstructs one."""
    return models.model_of(
        [
            architecture.LayerSpec("conv", "conv1", 4),
            architecture.LayerSpec("pool", "pool1"),
            architecture.LayerSpec("conv", "conv2", 3),
            architecture.LayerSpec("pool", "code"),
            architecture.LayerSpec("upsample", "upsample1"),
            architecture.LayerSpec("conv", "conv3", 3),
            architecture.LayerSpec("upsample", "upsample2"),
            architecture.LayerSpec("conv", "reconstruction", 1, "linear"),
        ],
        seed,
    )


def saved_small_autoencoder(folder: Path, seed: int) -> Path:
    """``small_autoencoder(seed)`` saved in ``folder`` as a user saves a model, for the scripts."""
    path = folder / "autoencoder.keras"
    small_autoencoder(seed=seed).save(path)
    return path
