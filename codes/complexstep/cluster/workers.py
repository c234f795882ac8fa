"""What runs on the Dask workers: explaining a chunk of micrographs with an ``Explainer`` built
from the model's bytes once and kept for the worker's life.

The model reaches a worker as the bytes of its ``.keras`` file with their SHA-256, so that the
workers need no file system in common with the client. Each worker thread keeps its own explainer
for each model and settings (an explainer's caches of twins and compiled passes are not shared
safely between threads), and that explainer keeps what it builds for each image size.
"""

import hashlib
import tempfile
import threading
from pathlib import Path

import numpy as np

from complexstep import api, defaults
from complexstep.errors import ModelError

_EXPLAINERS: dict[tuple, api.Explainer] = {}
"""The explainers this worker built, by model SHA-256, settings and thread."""


def hold(data: bytes) -> bytes:
    """The model's bytes, as a task's result: the scheduler can make them again if every worker
    holding them is lost, which data scattered to the workers would not allow."""
    return data


def explainer(data: bytes, sha256: str, settings: dict) -> api.Explainer:
    """This thread's explainer for the model of these bytes and these settings, built the first
    time it is asked for.

    Raises:
        ModelError: if the bytes are not those of the SHA-256, or not a Keras model.
    """
    key = (sha256, tuple(sorted(settings.items())), threading.get_ident())
    if key not in _EXPLAINERS:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelError(f"the model's bytes on this worker are not those of {sha256}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / defaults.MODEL_FILE
            path.write_bytes(data)
            _EXPLAINERS[key] = api.Explainer(path, **settings)
    return _EXPLAINERS[key]


def attribute(data: bytes, sha256: str, settings: dict, images: np.ndarray) -> np.ndarray:
    """The maps of images of one size, float32 ``(n, height, width)``, as
    ``Explainer.attribute_many`` gives them."""
    return explainer(data, sha256, settings).attribute_many(images)
