"""The stage 1 script: its flags, a run end to end, and its one-line errors."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import scripts
from complexstep.commands import cli
from complexstep.commands import train as script

SCRIPT = "codes/build_convolutional_autoencoder.py"
ARTEFACTS = {
    "autoencoder_microstructure.keras",
    "autoencoder_microstructure.weights.h5",
    "training_history.csv",
    "loss_curves.png",
    "reconstructions.png",
    "training_state.keras",
    "training_settings.json",
}
CORRUPT_FILE = "corrupt.png"


_run_script = scripts.runner("build_convolutional_autoencoder.py")


def _write_images(folder: Path, count: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = (rng.random((8, 8)).repeat(4, axis=0).repeat(4, axis=1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"micrograph_{index}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two training micrographs and a corrupt file, and one test micrograph."""
    root = tmp_path_factory.mktemp("script")
    _write_images(root / "train", 2, seed=1)
    (root / "train" / CORRUPT_FILE).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _write_images(root / "test", 1, seed=2)
    return root / "train", root / "test"


@pytest.fixture(scope="module")
def finished(folders, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One tiny run of the script, and the models folder it was given."""
    models = tmp_path_factory.mktemp("script_models") / "models"
    completed = _run_script(
        "--train-dir",
        str(folders[0]),
        "--test-dir",
        str(folders[1]),
        "--models-dir",
        str(models),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--crop",
        "32",
    )
    return completed, models


def test_run_writes_every_artefact(finished):
    """A run leaves the model, weights, history, both plots and the training state, saved with
    the crop it was asked for, and exits 1, as every stage does, for the file it left out."""
    completed, models = finished
    assert completed.returncode == 1, completed.stderr
    assert {path.name for path in models.iterdir()} == ARTEFACTS
    assert json.loads((models / "training_settings.json").read_text())["crop"] == 32


def test_final_line_reports_the_recorded_validation_loss_and_folder(finished):
    """The last line states the validation loss saved in the history and the models folder."""
    completed, models = finished
    final = completed.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"validation loss \(MSE\) (\S+) after 1 epoch\(s\) on 2 training images; "
        r"model, weights, history and plots written to (.+)",
        final,
    )
    assert match, final
    with open(models / "training_history.csv", newline="") as file:
        recorded = float(list(csv.DictReader(file))[-1]["val_loss"])
    assert match.group(1) == f"{recorded:.4g}"
    assert Path(match.group(2)) == models


def test_each_epoch_is_reported_on_one_line_with_its_losses(finished):
    """Standard error carries one line for the epoch with the loss and validation loss saved in
    the history."""
    completed, models = finished
    lines = [line for line in completed.stderr.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 1, completed.stderr
    match = re.fullmatch(r"epoch 1/1: loss (\S+), val_loss (\S+), \d+ s; state saved", lines[0])
    assert match, lines[0]
    with open(models / "training_history.csv", newline="") as file:
        (row,) = csv.DictReader(file)
    assert match.groups() == (f"{float(row['loss']):.4g}", f"{float(row['val_loss']):.4g}")


def test_unreadable_file_is_reported_on_one_line(finished, folders):
    """The corrupt training file is named on exactly one "skipped" line; the run trains on the
    others and exits 1, so that a batch job sees a file was left out."""
    completed, _ = finished
    skipped = [line for line in completed.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1, completed.stderr
    assert skipped[0].startswith(f"skipped: cannot read {folders[0] / CORRUPT_FILE}: ")
    assert completed.returncode == 1


def test_resume_with_nothing_saved_is_a_one_line_error(folders, tmp_path):
    """--resume in an empty models folder exits 1 with one error line saying there is nothing to
    resume, and no traceback."""
    models = tmp_path / "models"
    models.mkdir()
    completed = _run_script(
        "--train-dir",
        str(folders[0]),
        "--test-dir",
        str(folders[1]),
        "--models-dir",
        str(models),
        "--resume",
    )
    assert completed.returncode == 1
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: nothing to resume in {models}: no training_settings.json and "
        "training_state.keras from an earlier run"
    ]
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--epochs", "0"], "error: argument --epochs: must be at least 1, got 0"),
        (["--crop", "40"], "error: argument --crop: must be a multiple of 16, got 40"),
    ],
)
def test_invalid_flag_is_a_one_line_error(tmp_path, arguments, message):
    """An invalid flag exits 1 with a single error line naming the flag, no traceback, and
    nothing written."""
    completed = _run_script(*arguments, "--models-dir", str(tmp_path / "models"))
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [message]
    assert not (tmp_path / "models").exists()


def test_flags_are_checked_before_keras_starts():
    """Parsing the flags brings in neither TensorFlow nor Keras, so that --help and mistakes are
    answered at once instead of after seconds of start-up."""
    assert scripts.keras_modules_after_help("build_convolutional_autoencoder.py") == []


def test_models_path_that_is_a_file_is_a_one_line_error(folders, tmp_path, monkeypatch, capsys):
    """A models path naming a file ends the script with status 1 and one error line."""
    occupied = tmp_path / "models"
    occupied.write_text("")
    command_line = ["--train-dir", str(folders[0]), "--test-dir", str(folders[1])]
    monkeypatch.setattr(sys, "argv", [SCRIPT, *command_line, "--models-dir", str(occupied)])
    with pytest.raises(SystemExit) as raised:
        cli.run(script.main)
    assert raised.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: models directory {occupied} is a file, not a folder"
    ]
    assert captured.out == ""


def test_defaults_are_the_papers_settings():
    """Without flags the script trains 50 epochs of batch 32 at 5e-4 with seed 0."""
    arguments = script.parse_arguments([])
    assert (arguments.epochs, arguments.batch_size) == (50, 32)
    assert arguments.learning_rate == 5e-4
    assert arguments.seed == 0
    assert (arguments.train_dir, arguments.test_dir, arguments.models_dir) == (
        "microstructural_images/train",
        "microstructural_images/test",
        "models",
    )
    assert arguments.crop is None
    assert not (arguments.resume or arguments.deterministic)
    assert (arguments.precision, arguments.devices, arguments.workers) == ("float32", None, 1)


def test_new_flags_are_parsed_into_their_values():
    """--crop, --resume, --deterministic, --precision, --devices and --workers reach main as the
    values training takes."""
    arguments = script.parse_arguments(
        ["--crop", "64", "--resume", "--deterministic", "--precision", "bfloat16"]
        + ["--devices", "gpu:0,gpu:1", "--workers", "4"]
    )
    assert (arguments.crop, arguments.resume, arguments.deterministic) == (64, True, True)
    assert (arguments.precision, arguments.devices, arguments.workers) == (
        "bfloat16",
        "gpu:0,gpu:1",
        4,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--epochs", "ten"], "argument --epochs: expected a whole number, got 'ten'"),
        (
            ["--learning-rate", "0"],
            "argument --learning-rate: must be a positive finite number, got 0",
        ),
        (
            ["--learning-rate=-1e-3"],
            "argument --learning-rate: must be a positive finite number, got -1e-3",
        ),
        (
            ["--learning-rate", "nan"],
            "argument --learning-rate: must be a positive finite number, got nan",
        ),
        (["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
        (["--crop", "40"], "argument --crop: must be a multiple of 16, got 40"),
        (["--crop", "8"], "argument --crop: must be at least 16, got 8"),
        (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    ],
)
def test_invalid_flag_value_is_a_usage_error_naming_the_flag(arguments, message):
    """Each invalid flag value is refused with one line naming the flag and the reason."""
    with pytest.raises(cli.UsageError) as raised:
        script.parse_arguments(arguments)
    assert str(raised.value) == message


def test_unknown_precision_is_a_usage_error_naming_the_flag():
    """--precision takes float32 or bfloat16 only, and says so in one line."""
    # Python versions quote the choices differently; the start of the line is what they share.
    with pytest.raises(cli.UsageError, match=r"^argument --precision: invalid choice: 'float16'"):
        script.parse_arguments(["--precision", "float16"])


def test_help_explains_every_flag_with_its_default(capsys):
    """--help lists each flag with its default value."""
    with pytest.raises(SystemExit) as raised:
        script.parse_arguments(["--help"])
    assert raised.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--train-dir", "microstructural_images/train"),
        ("--test-dir", "microstructural_images/test"),
        ("--epochs", "50"),
        ("--batch-size", "32"),
        ("--learning-rate", "0.0005"),
        ("--models-dir", "models"),
        ("--seed", "0"),
        ("--workers", "1"),
    ]:
        # An entry ends where the next flag with a value begins; help texts mention flags too.
        entry = rf"{flag} [A-Z_]+ (?:(?! --[a-z-]+ [A-Z_]).)*\(default: {re.escape(default)}\)"
        assert re.search(entry, help_text), flag


def test_reading_flags_reach_training_and_are_recorded(tmp_path):
    """--intensity, --crop-bottom and --max-image-pixels are stage 2's reading flags; a 16-bit
    TIFF trains with them, and the run records them for a resume."""
    import tifffile

    for folder in ("train", "test"):
        (tmp_path / folder).mkdir()
        for index in range(2):
            counts = np.random.default_rng(index).integers(0, 4096, (48, 32)).astype(np.uint16)
            tifffile.imwrite(tmp_path / folder / f"sem_{index}.tif", counts)
    arguments = ["--train-dir", str(tmp_path / "train"), "--test-dir", str(tmp_path / "test")]
    completed = _run_script(
        *arguments,
        "--models-dir",
        str(tmp_path / "models"),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--crop",
        "32",
        "--intensity",
        "dtype",
        "--crop-bottom",
        "16",
        "--max-image-pixels",
        "2000",
    )
    assert completed.returncode == 0, completed.stderr
    settings = json.loads((tmp_path / "models" / "training_settings.json").read_text())
    assert settings["reading"] == {"intensity": "dtype", "crop_bottom": 16, "max_pixels": 2000}
    # The pixel size labels maps; training has no use for it.
    assert "--pixel-size" not in _run_script("--help").stdout


def test_an_empty_training_folder_points_to_the_synthetic_micrographs(tmp_path):
    """A training folder without images is one line that says how to fill it."""
    (tmp_path / "empty").mkdir()
    completed = _run_script(
        "--train-dir", str(tmp_path / "empty"), "--models-dir", str(tmp_path / "models")
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"error: no images in {tmp_path / 'empty'} or its subfolders (looked for .png, .jpg, "
        ".jpeg, .tif, .tiff, .bmp); put micrographs there, or run "
        "python codes/generate_synthetic_micrographs.py to fill empty folders with synthetic ones"
    ]


def test_starting_afresh_over_an_unfinished_run_names_the_flag_to_resume(folders, tmp_path):
    """The library says a run is unfinished; the script says which flag continues it."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "training_settings.json").write_text(json.dumps({"epochs": 3}))
    (models / "training_history.csv").write_text("epoch,loss,val_loss,seconds\n1,0.1,0.1,1\n")
    completed = _run_script(
        "--train-dir", str(folders[0]), "--test-dir", str(folders[1]), "--models-dir", str(models)
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"error: {models} holds an unfinished run (1 of 3 epochs): pass --resume to continue "
        f"it, or delete {models / 'training_settings.json'} to start afresh"
    ]


@pytest.mark.parametrize(
    ("dead", "line"),
    [
        (
            (1, 4, 6, 7),
            "note: 4 of the code's 8 channels (1, 4, 6 and 7) are zero on all 32 test micrographs "
            "checked: a dead channel carries nothing, so the maps explain the other 4 alone",
        ),
        (
            (3,),
            "note: 1 of the code's 8 channels (3) is zero on all 32 test micrographs checked: a "
            "dead channel carries nothing, so the maps explain the other 7 alone",
        ),
    ],
)
def test_dead_code_channels_are_named_on_one_line(dead, line):
    """The shipped model's code has four dead channels: stage 1 names such channels."""
    result = SimpleNamespace(dead_channels=dead, code_channels=8, checked_images=32)
    assert script.dead_channels_line(result) == line


def test_progress_on_a_terminal_shows_a_bar_per_folder_and_epoch_and_a_line_per_epoch(
    monkeypatch, capsys
):
    """On a terminal, the command draws a bar for each folder checked and for each epoch's
    batches, finishing an epoch's bar and printing its line once the epoch's last batch is
    reported, when its state is saved."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    reporter = script._Reporter(epochs=2)
    first, second = (
        f"epoch {epoch}/2: loss 0.{epoch}, val_loss 0.{epoch}, 1 s; state saved" for epoch in (1, 2)
    )
    for report in [
        (1, 2, "checking training images"),
        (2, 2, "checking training images"),
        (1, 1, "checking test images"),
        (1, 6, "epoch 1/2"),
        (2, 6, "epoch 1/2"),
        (3, 6, first),
        (4, 6, "epoch 2/2"),
        (5, 6, "epoch 2/2"),
        (6, 6, second),
    ]:
        reporter(*report)
    # A terminal's bar is redrawn in place: what stays of each line is what follows its last \r.
    shown = [line.rsplit("\r", 1)[-1] for line in capsys.readouterr().err.split("\n")[:-1]]
    assert [line.split(" [")[0] for line in shown] == [
        "checking training images",
        "checking test images",
        "epoch 1",
        first,
        "epoch 2",
        second,
    ]
    assert [line for line in shown if " batches" in line][0].startswith("epoch 1 [")
    assert all(" 3/3 batches" in line for line in shown if "batches" in line)
