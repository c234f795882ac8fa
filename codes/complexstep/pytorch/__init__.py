"""PyTorch encoders, explained by the same graph engines as Keras models.

A ``torch.nn.Module`` (or a ``torch.export`` program, as a ``.pt2`` archive holds it) is captured
with ``torch.export`` into a graph of ATen operations; each operation's twin keeps a state from
the real pass and sends perturbations through the linear map that state fixes (``graph``).
Archives are loaded without unpickling anything (``files``). This module itself is cheap: it
tells a PyTorch model apart without importing torch, so that Keras users never start it.
"""

import sys


def is_pytorch(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module`` or a ``torch.export.ExportedProgram``.

    Only an interpreter that has imported torch can hold one, so torch is never imported here.
    """
    nn, export = sys.modules.get("torch.nn"), sys.modules.get("torch.export")
    return (nn is not None and isinstance(model, nn.Module)) or (
        export is not None and isinstance(model, export.ExportedProgram)
    )
