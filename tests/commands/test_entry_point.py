"""The package as pip installs it: the complexstep command and python -m complexstep, run from
outside the repository, with no clone on the path."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the package installed from the repository by pip.

    Its dependencies are this environment's, seen through a path file, so that the test installs
    the package alone instead of TensorFlow again; a path file adds no editable install's paths.
    """
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(REPOSITORY)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv


def _run(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=cwd,
        env={**environment, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_command_and_the_module_answer_help(installed, tmp_path):
    """complexstep --help lists the subcommands; python -m complexstep explain --help gives
    stage 2's flags, saying where relative folders lie."""
    listing = _run(installed, "complexstep", "--help", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    for name in ("synthesize", "train", "explain", "heatmaps", "regions", "explore", "evaluate"):
        assert f"\n  {name} " in listing.stdout
    flags = _run(installed, "python", "-m", "complexstep", "explain", "--help", cwd=tmp_path)
    assert flags.returncode == 0, flags.stderr
    assert flags.stdout.startswith("usage: complexstep explain")
    assert "--inputs" in flags.stdout and "relative to the working directory" in flags.stdout
    mistake = _run(installed, "complexstep", "explian", cwd=tmp_path)
    assert mistake.returncode == 1
    assert mistake.stderr.strip().splitlines() == [
        "error: unknown command 'explian'; the commands are synthesize, train, explain, "
        "heatmaps, regions, explore, evaluate"
    ]


def test_an_installed_users_messages_name_the_command_and_no_clone(installed, tmp_path):
    """After pip install, the help and the errors that send a user to another stage name the
    complexstep subcommand, never a script of codes/ or the paper's sinps folder."""
    (tmp_path / "micrographs").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "micrographs" / "a.png")
    texts = [_run(installed, "complexstep", "--help", cwd=tmp_path).stdout]
    for name in ("synthesize", "train", "explain", "heatmaps", "regions", "explore", "evaluate"):
        texts.append(_run(installed, "complexstep", name, "--help", cwd=tmp_path).stdout)
    no_model = _run(
        installed,
        "complexstep",
        "explain",
        "--inputs",
        "micrographs",
        "--model",
        "m.keras",
        cwd=tmp_path,
    )
    assert no_model.stderr.strip() == (
        "error: no model at m.keras: run complexstep train first (stage 1), or pass --model "
        "pretrained"
    )
    no_maps = _run(installed, "complexstep", "heatmaps", cwd=tmp_path)
    assert "run complexstep explain first" in no_maps.stderr
    no_micrographs = _run(
        installed, "complexstep", "train", "--train-dir", "nothing", "--epochs", "1", cwd=tmp_path
    )
    assert "run complexstep synthesize to fill empty folders" in no_micrographs.stderr
    for text in [*texts, no_model.stderr, no_maps.stderr, no_micrographs.stderr]:
        assert "codes/" not in text and "sinps" not in text and ".py" not in text


def test_stage_2_runs_through_the_command_outside_the_repository(installed, tmp_path):
    """The shipped model explains a micrograph from a folder relative to the working
    directory, and the package imported is the installed one."""
    where = _run(
        installed, "python", "-c", "import complexstep; print(complexstep.__file__)", cwd=tmp_path
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)
    (tmp_path / "contour_inputs").mkdir()
    pixels = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "contour_inputs" / "a.png")
    result = _run(
        installed,
        "complexstep",
        "explain",
        "--model",
        "pretrained",
        "--resize",
        "none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "contour_outputs" / "all" / "a.npy").shape == (64, 64)
