"""Running the project's scripts as a user does: from the repository root, output captured."""

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
