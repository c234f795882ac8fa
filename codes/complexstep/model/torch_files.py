"""PyTorch models as files: ``torch.export`` archives, a refusal of pickles, and telling a
PyTorch model apart without importing torch.

A ``.pt2`` archive holds a module's graph as text and its weights as raw bytes, so that loading
it runs none of the file's code. ``torch.export.load`` still falls back to ``torch.load`` with
``weights_only=False`` for what its restricted reader refuses; that fallback is closed here, so
that an archive is read by the restricted reader or not at all. Pickled checkpoints (``.pt``,
``.pth``) are refused outright: unpickling one runs whatever code it holds.
"""

import contextlib
import os
import sys
from pathlib import Path

from complexstep.errors import ModelError

PICKLED = (".pt", ".pth")
"""The suffixes of pickled checkpoints, which are never loaded."""

ARCHIVE = ".pt2"
"""The suffix of ``torch.export`` archives."""

EXPORT = (
    "program = torch.export.export(module.eval(), (example,)); "
    "torch.export.save(program, 'encoder.pt2')"
)
"""How to make an archive of a module, ``example`` an image batch ``(1, channels, *sides)``."""


def is_pytorch(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module`` or a ``torch.export.ExportedProgram``.

    Only an interpreter that has imported torch can hold one, so torch is never imported here.
    """
    nn, export = sys.modules.get("torch.nn"), sys.modules.get("torch.export")
    return (nn is not None and isinstance(model, nn.Module)) or (
        export is not None and isinstance(model, export.ExportedProgram)
    )


def refuse_pickled(path: str | os.PathLike) -> ModelError:
    """The error for a pickled checkpoint: it is not loaded, and this says how to export it."""
    return ModelError(
        f"{path} is a pickled checkpoint, which is never unpickled; export the module instead "
        f"with {EXPORT}, and pass the .pt2 file"
    )


def load_program(path: str | os.PathLike):
    """The ``torch.export.ExportedProgram`` saved at ``path``.

    Raises:
        ModelError: if PyTorch is missing or the file is not an archive it reads safely.
    """
    try:
        import torch
    except ImportError:
        raise ModelError(
            f"{path} is a PyTorch archive; install PyTorch to explain it: "
            "pip install 'complexstep[torch]'"
        ) from None
    try:
        with _weights_only(torch):
            return torch.export.load(Path(path))
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - PyTorch's readers raise many kinds
        lines = str(error).strip().splitlines()
        raise ModelError(
            f"cannot load the PyTorch archive at {path}: "
            f"{lines[0] if lines else type(error).__name__}"
        ) from None


@contextlib.contextmanager
def _weights_only(torch):
    """``torch.load`` restricted to its weights-only reader while an archive is read."""
    load = torch.load

    def restricted(*args, weights_only=None, **kwargs):
        if weights_only is False:
            raise ModelError(
                "the archive holds pickled objects, which are never unpickled; export the "
                f"module again with {EXPORT}"
            )
        return load(*args, weights_only=True, **kwargs)

    torch.load = restricted
    try:
        yield
    finally:
        torch.load = load
