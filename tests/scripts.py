"""Running the project's scripts as a user does: from the repository root, output captured."""

import ast
import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def run(script: str, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``codes/<script>`` with this interpreter and returns its exit status and text output.
    The terminal is 80 columns wide wherever the tests run, so that help is wrapped as a user
    of a standard terminal reads it."""
    return subprocess.run(
        [sys.executable, f"codes/{script}", *arguments],
        cwd=REPOSITORY,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_mistake_is_one_line(
    run: Callable[..., subprocess.CompletedProcess],
    valid: list[str],
    mistake: list[str],
    message: str,
    folder: Path,
) -> None:
    """Runs a script with valid arguments and one mistake, where ``{empty}`` in the mistake
    stands for an empty folder: the run fails with one line saying ``message``, and writes
    nothing to its ``--outputs``."""
    (folder / "empty").mkdir()
    mistake = [argument.format(empty=folder / "empty") for argument in mistake]
    result = run(*valid, "--outputs", str(folder / "out"), *mistake)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (folder / "out").exists()


def runner(script: str) -> Callable[..., subprocess.CompletedProcess]:
    """``run`` with the script filled in."""
    return functools.partial(run, script)


def keras_modules_after_help(script: str) -> list[str]:
    """Which of TensorFlow and Keras ``codes/<script> --help`` imports, in a fresh interpreter:
    none, so that flags and mistakes are answered at once instead of after seconds of start-up."""
    return run_watching_imports(script, ["--help"], {"tensorflow", "keras"})[2]


def run_watching_imports(
    script: str, arguments: list[str], watched: set[str] = frozenset({"dask", "distributed"})
) -> tuple[int, str, list[str]]:
    """Runs ``codes/<script>`` in a fresh interpreter; its exit status, standard error, and
    which of the ``watched`` modules (by default Dask's) it imported."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{script!r}, *{arguments!r}]\n"
        "status = 0\n"
        f"try:\n    runpy.run_path('codes/{script}', run_name='__main__')\n"
        "except SystemExit as exit:\n    status = exit.code or 0\n"
        f"print(status, sorted(set({sorted(watched)!r}) & set(sys.modules)), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=300
    )
    status, loaded = result.stderr.strip().splitlines()[-1].split(" ", 1)
    return int(status), result.stderr, ast.literal_eval(loaded)
