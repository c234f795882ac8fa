"""Starting Keras without TensorFlow's start-up notices.

TensorFlow's native code writes notices to file descriptor 2 while it starts on a machine without
a GPU (absl's "All log messages before absl::InitializeLog()", CUDA stubs, oneDNN), before any
Python logging setting applies; in a notebook they appear under the cell, twice. They say nothing
a user can act on, so Keras is started with descriptor 2 captured, and every other line written
meanwhile is given back: by the commands through ``start_keras``, and in scripts and notebooks by
``hold_back_notices``, which the package installs when it is imported before Keras.
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator

_START_UP_NOTICE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cuInit|cuda_dnn|cuda_fft|cuda_blas|"
    r"cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags|"
    r"computation placer already registered|oneDNN custom operations are on"
)


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Captures descriptor 2; on leaving, the list holds the captured lines but the notices."""
    kept: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield kept
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines()
            kept += [line for line in lines if not _START_UP_NOTICE.search(line)]


def _start_backend(keras) -> None:
    """Places a tiny tensor: the backend looks for GPUs, and says so, the first time it does."""
    keras.ops.convert_to_numpy(keras.ops.zeros(1))


def start_keras() -> list[str]:
    """Imports Keras and starts its backend with descriptor 2 captured.

    Returns:
        The captured lines that are not known start-up notices, for the caller to show.
    """
    with _captured() as kept:
        import keras

        _start_backend(keras)
    return kept


class _QuietLoader(importlib.abc.Loader):
    """Keras's own loader, run with descriptor 2 captured and the backend started."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def __getattr__(self, name: str):
        # Everything else a loader answers (resources, source), as Keras's own loader does. A
        # copy being unpickled (Dask sends modules' specs) has no loader yet: asking it for one
        # here would ask again, without end.
        if name == "_loader":
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _captured() as kept:
            self._loader.exec_module(module)
            _start_backend(module)
        if kept:
            # Not the library's words: what Keras and TensorFlow wrote, but the notices.
            os.write(2, ("\n".join(kept) + "\n").encode(errors="replace"))


class _KerasFinder(importlib.abc.MetaPathFinder):
    """Finds Keras as the other finders do, the first time it is imported, and loads it quietly."""

    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        # Once: Keras's own submodules, and any later import, take the usual way.
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def hold_back_notices() -> None:
    """Makes the first import of Keras, wherever in the process it happens, hold back
    TensorFlow's start-up notices; nothing where Keras was imported already."""
    if "keras" not in sys.modules and not any(
        isinstance(finder, _KerasFinder) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _KerasFinder())
