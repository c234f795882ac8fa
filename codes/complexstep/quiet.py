"""Starting Keras without TensorFlow's start-up notices.

TensorFlow's native code writes notices to file descriptor 2 while it starts on a machine without
a GPU (absl's "All log messages before absl::InitializeLog()", CUDA stubs, oneDNN), before any
Python logging setting applies; in a notebook they appear under the cell, twice. They say nothing
a user can act on, so the first import of Keras through the package is made with descriptor 2
captured, and every other line it wrote is given back.
"""

import os
import re
import sys
import tempfile

_START_UP_NOTICE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cuInit|cuda_dnn|cuda_fft|cuda_blas|"
    r"cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags|"
    r"computation placer already registered|oneDNN custom operations are on"
)


def start_keras() -> list[str]:
    """Imports Keras and starts its backend with descriptor 2 captured.

    The backend looks for GPUs the first time it places a tensor, so a tiny tensor is made here
    too. Once Keras has started, the call returns at once.

    Returns:
        The captured lines that are not known start-up notices, for the caller to show.
    """
    if "keras" in sys.modules:
        return []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros(1))
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines()
    return [line for line in lines if not _START_UP_NOTICE.search(line)]
