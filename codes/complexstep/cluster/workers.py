"""What runs on the Dask workers: explaining a chunk of micrographs with an ``Explainer`` built
from the model's bytes once and kept for the worker's life, and keeping what other drivers'
tasks build from a model (the evaluation's methods) the same way.

The model reaches a worker as the bytes of its ``.keras`` file with their SHA-256, so that the
workers need no file system in common with the client. A worker keeps the explainers it builds
for each model and settings, and each keeps what it builds for each image size; a task takes one
no other task is using (an explainer's caches of twins and compiled passes are not shared safely
between threads), so that a worker builds as many as it runs tasks at once, however often Dask
replaces its threads.
"""

import contextlib
import hashlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from complexstep import defaults
from complexstep.errors import ModelError
from complexstep.explain.explainer import Explainer
from complexstep.explain.settings import ExplainerSettings

_IDLE: dict[tuple, list] = {}
"""What this worker built from models that no task is using, by model SHA-256 and settings."""

T = TypeVar("T")

_LOCK = threading.Lock()


def hold(data: bytes) -> bytes:
    """The model's bytes, as a task's result: the scheduler can make them again if every worker
    holding them is lost, which data scattered to the workers would not allow."""
    return data


@contextlib.contextmanager
def built(data: bytes, sha256: str, key: tuple, build: Callable[[Path], T]) -> Iterator[T]:
    """What ``build`` makes from the model file of these bytes, for ``key`` (the settings), that
    no other task uses meanwhile: one this worker built for an earlier task, or a new one.

    Raises:
        ModelError: if the bytes are not those of the SHA-256.
    """
    key = (sha256, key)
    with _LOCK:
        idle = _IDLE.setdefault(key, [])
        found = idle.pop() if idle else None
    if found is None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelError(f"the model's bytes on this worker are not those of {sha256}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / defaults.MODEL_FILE
            path.write_bytes(data)
            found = build(path)
    try:
        yield found
    finally:
        with _LOCK:
            _IDLE[key].append(found)


def explainer(data: bytes, sha256: str, settings: ExplainerSettings):
    """The ``Explainer`` of these settings for the model of these bytes, kept by this worker
    between tasks (a context manager, as ``built``)."""
    return built(data, sha256, ("explainer", settings), lambda path: Explainer(path, settings))


def attribute(
    data: bytes, sha256: str, settings: ExplainerSettings, images: np.ndarray
) -> np.ndarray:
    """The maps of images of one size, float32 ``(n, height, width)``, as
    ``Explainer.attribute_many`` gives them.

    Raises:
        ModelError: if the bytes are not those of the SHA-256, or not a Keras model.
    """
    with explainer(data, sha256, settings) as chosen:
        return chosen.attribute_many(images)
