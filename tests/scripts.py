"""Running the project's scripts as a user does: from the repository root, output captured."""

import ast
import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def run(script: str, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``codes/<script>`` with this interpreter and returns its exit status and text output."""
    return subprocess.run(
        [sys.executable, f"codes/{script}", *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runner(script: str) -> Callable[..., subprocess.CompletedProcess]:
    """``run`` with the script filled in."""
    return functools.partial(run, script)


def keras_modules_after_help(script: str) -> list[str]:
    """Which of TensorFlow and Keras ``codes/<script> --help`` imports, in a fresh interpreter:
    none, so that flags and mistakes are answered at once instead of after seconds of start-up."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{script!r}, '--help']\n"
        f"try:\n    runpy.run_path('codes/{script}', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({'tensorflow', 'keras'} & set(sys.modules)), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    return ast.literal_eval(result.stderr.strip().splitlines()[-1])
