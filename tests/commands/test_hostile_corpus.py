"""Every script that reads micrographs, over one folder of hostile files beside good micrographs.

The files are made here, a few bytes each: a PNG whose header declares 60000x60000 pixels, a float
TIFF with a NaN pixel, a truncated PNG, names that are not UTF-8 or hold matplotlib's markup, two
micrographs of one stem, a FIFO, a link to nothing and a link to a folder. Each bad file gets its
line, each good micrograph its outputs, no script prints a traceback, the inputs keep their bytes,
and every run exits 1.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import scripts
from complexstep import defaults

LATIN = os.fsdecode(b"b_\xff\xfe_latin")
MARKUP = "d_bad$\\foo$"
GOOD = ("good", LATIN, MARKUP)


def _bomb_png(path: Path) -> None:
    """A PNG whose header declares 60000x60000 grey pixels, with one compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def _checksums(folder: Path) -> dict[str, str]:
    return {
        os.fsdecode(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Good micrographs and every hostile file, in one folder."""
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "micrographs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem in GOOD:
        pixels = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{stem}.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "good.tif")
    _bomb_png(folder / "bomb.png")
    nan = np.full((32, 32), 0.5, np.float32)
    nan[3, 4] = np.nan
    tifffile.imwrite(folder / "nan.tif", nan)
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    os.mkfifo(folder / "pipe.png")
    (folder / "dangling.png").symlink_to(root / "nothing.png")
    (root / "elsewhere").mkdir()
    (folder / "linked").symlink_to(root / "elsewhere", target_is_directory=True)
    return folder


BAD_LINES = {
    "bomb.png": "bomb.png",
    "nan.tif": "NaN or infinite",
    "truncated.png": "truncated.png",
    "clash": "good.tif: its",
}
NOTES = ("pipe.png: not a regular file", "dangling.png: a link to nothing", "linked: a link")


def _check(result, corpus, before):
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    for what, text in BAD_LINES.items():
        assert any(text in line for line in result.stderr.splitlines()), (what, result.stderr)
    for note in NOTES:
        assert any(note in line for line in result.stderr.splitlines()), (note, result.stderr)
    assert _checksums(corpus) == before


def test_stage_2_explains_the_good_micrographs_and_names_each_bad_file(
    corpus, saved_model, tmp_path
):
    before = _checksums(corpus)
    result = scripts.run(
        "obtain_attribution_contours.py",
        "--inputs",
        str(corpus),
        "--outputs",
        str(tmp_path / "maps"),
        "--model",
        str(saved_model),
        "--resize",
        "none",
    )
    _check(result, corpus, before)
    for stem in GOOD:
        assert np.load(tmp_path / "maps" / f"{stem}.npy").shape == (32, 32)
    assert "wrote the attribution maps of 3 image(s)" in result.stdout


def test_the_explorer_writes_the_good_pages_and_names_each_bad_file(corpus, saved_model, tmp_path):
    before = _checksums(corpus)
    result = scripts.run(
        "explore_attributions.py",
        "--inputs",
        str(corpus),
        "--outputs",
        str(tmp_path / "pages"),
        "--model",
        str(saved_model),
        "--resize",
        "none",
        "--layer",
        "encoder_pool1",
    )
    _check(result, corpus, before)
    for stem in GOOD:
        assert (tmp_path / "pages" / f"explore_{stem}.html").is_file()


def test_the_evaluation_measures_the_good_micrographs_and_names_each_bad_file(
    corpus, saved_model, tmp_path
):
    before = _checksums(corpus)
    result = scripts.run(
        "evaluate_attributions.py",
        "--inputs",
        str(corpus),
        "--outputs",
        str(tmp_path / "evaluation"),
        "--model",
        str(saved_model),
        "--resize",
        "none",
        "--layer",
        "encoder_pool1",
        "--methods",
        "random",
        "--steps",
        "2",
    )
    _check(result, corpus, before)
    for stem in GOOD:
        assert (tmp_path / "evaluation" / f"panel_{stem}.png").is_file()


def test_stage_1_trains_on_the_good_micrographs_and_names_each_bad_file(corpus, tmp_path):
    """Stage 1 searches as the other stages do: each bad file of the corpus and each link or
    special file gets its line, the good micrographs train a model, and the run exits 1. It
    writes no file per micrograph, so two of one stem do not clash."""
    before = _checksums(corpus)
    result = scripts.run(
        "build_convolutional_autoencoder.py",
        "--train-dir",
        str(corpus),
        "--test-dir",
        str(corpus),
        "--models-dir",
        str(tmp_path / "models"),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--workers",
        "1",
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    for what, text in BAD_LINES.items():
        if what != "clash":
            assert any(line.startswith("skipped: ") and text in line for line in lines), what
    for note in NOTES:
        assert any(note in line for line in lines), (note, result.stderr)
    assert "on 4 training images" in result.stdout
    assert (tmp_path / "models" / defaults.MODEL_FILE).is_file()
    assert _checksums(corpus) == before


def _as_nobody() -> list[str]:
    """The command prefix that runs a script as an unprivileged user, since root writes into a
    read-only folder all the same; empty where the tests do not run as root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv, so no user for whom a folder is read-only")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


NOBODY = 65534


def test_stage_2_refuses_a_read_only_outputs_folder_before_any_work(saved_model):
    """Run by a user who cannot write into --outputs (not root, whom permissions do not stop),
    stage 2 fails with one line naming the folder, writes nothing and prints no traceback."""
    prefix = _as_nobody()
    # Under /tmp, not pytest's folder, which only its owner may enter.
    folder = Path(tempfile.mkdtemp(prefix="read-only-outputs-"))
    outputs = folder / "maps"
    try:
        folder.chmod(0o755)
        inputs = folder / "micrographs"
        inputs.mkdir()
        Image.fromarray(np.full((32, 32), 128, np.uint8)).save(inputs / "a.png")
        model = folder / "model.keras"
        shutil.copyfile(saved_model, model)
        home = folder / "home"
        home.mkdir()
        outputs.mkdir()
        outputs.chmod(0o555)
        if prefix:
            for path in (home, outputs):
                os.chown(path, NOBODY, NOBODY)
            if not _reachable_by_nobody(prefix, [sys.executable, str(model)]):
                pytest.skip(f"user {NOBODY} cannot run {sys.executable} or read {folder}")
        result = subprocess.run(
            [*prefix, sys.executable, "codes/obtain_attribution_contours.py"]
            + ["--inputs", str(inputs), "--outputs", str(outputs), "--model", str(model)],
            cwd=scripts.REPOSITORY,
            env={**os.environ, "HOME": str(home), "MPLCONFIGDIR": str(home)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: cannot write into the outputs folder {outputs}: permission denied"
        )
        assert list(outputs.iterdir()) == []
    finally:
        if outputs.is_dir():
            outputs.chmod(0o755)
        shutil.rmtree(folder)


def _reachable_by_nobody(prefix: list[str], paths: list[str]) -> bool:
    """Whether the unprivileged user can run this interpreter and read these files."""
    check = "import sys, complexstep; [open(path, 'rb').close() for path in sys.argv[1:]]"
    result = subprocess.run(
        [*prefix, sys.executable, "-c", check, *paths[1:]],
        cwd=scripts.REPOSITORY / "codes",
        capture_output=True,
        timeout=60,
    )
    return result.returncode == 0
