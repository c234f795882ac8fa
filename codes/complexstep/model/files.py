"""Models saved as files: the shipped one by name, any other by path.

Keras is imported when a Keras model is loaded, not before: a PyTorch module, or a ``.pt2``
archive (``torch_files``), is loaded without starting Keras or TensorFlow.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from complexstep import defaults
from complexstep.errors import ModelError
from complexstep.model import torch_files

if TYPE_CHECKING:
    import keras
    import torch

PRETRAINED = defaults.PRETRAINED
"""The name that stands for the model trained at the paper's settings and shipped with the
package."""

PRETRAINED_PATH = Path(__file__).parent / "pretrained" / defaults.MODEL_FILE


def path_of(model: str | os.PathLike) -> Path:
    """The file a model's name or path stands for: the shipped model's for ``"pretrained"``."""
    return PRETRAINED_PATH if model == PRETRAINED else Path(model)


def load_model(model: "keras.Model | torch.nn.Module | str | os.PathLike"):
    """The model itself, the model saved at a path, or the shipped model for ``"pretrained"``.

    A PyTorch module or exported program is returned as it is, and a ``.pt2`` path gives the
    ``torch.export`` program it holds; pickled checkpoints (``.pt``, ``.pth``) are refused.

    Raises:
        ModelError: if the file is missing, is a pickled checkpoint, or is not a Keras model or a
            PyTorch archive.
    """
    if torch_files.is_pytorch(model):
        return model
    if not isinstance(model, str | os.PathLike):
        import keras

        if isinstance(model, keras.Model):
            return model
        raise ModelError(
            "model must be a keras.Model, a torch.nn.Module, the path of a .keras or .pt2 file "
            f"or {PRETRAINED!r}, not {type(model).__name__}"
        )
    path = path_of(model)
    if path.suffix in torch_files.PICKLED:
        raise torch_files.refuse_pickled(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    if path.suffix == torch_files.ARCHIVE:
        return torch_files.load_program(path)
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelError(f"cannot load the model at {path}: {error}") from None
