"""Models saved as files: the shipped one by name, any other by path."""

import os
from pathlib import Path

import keras

from complexstep import defaults
from complexstep.errors import ModelError

PRETRAINED = defaults.PRETRAINED
"""The name that stands for the model trained at the paper's settings and shipped with the
package."""

PRETRAINED_PATH = Path(__file__).parent / "pretrained" / defaults.MODEL_FILE


def path_of(model: str | os.PathLike) -> Path:
    """The file a model's name or path stands for: the shipped model's for ``"pretrained"``."""
    return PRETRAINED_PATH if model == PRETRAINED else Path(model)


def load_model(model: "keras.Model | str | os.PathLike") -> keras.Model:
    """The model itself, the model saved at a path, or the shipped model for ``"pretrained"``.

    Raises:
        ModelError: if the file is missing or is not a Keras model.
    """
    if isinstance(model, keras.Model):
        return model
    path = path_of(model)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelError(f"cannot load the model at {path}: {error}") from None
