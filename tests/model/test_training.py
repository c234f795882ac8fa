"""Stage 1 training: the saved model and plots, the state saved every epoch, resuming, crops,
progress reports and errors."""

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from complexstep.errors import FolderError, SettingError, TrainingStateError
from complexstep.folders import loop, training
from complexstep.io import images
from complexstep.model import architecture
from reference import complex_forward

TRAIN_FILES = ["a.png", "b.tif", "grains/c.jpg", "grains/d.bmp"]
TEST_FILES = ["g.png", "h.tif"]
CORRUPT_FILE = "corrupt.png"

# The crop runs: enough images for more batches per run than Keras's enqueuer queues (10), so that
# a loader serving the wrong epoch's batches changes the weights.
CROP = 64
CROP_SHAPE = (80, 96)
CROP_TRAIN_IMAGES = 22
CROP_TEST_IMAGES = 2
SMALL_FILE = "small.png"
SMALL_SHAPE = (48, 96)
CROP_EPOCHS = 3
CROP_SETTINGS = training.TrainingSettings(
    epochs=CROP_EPOCHS, batch_size=2, seed=5, crop=CROP, deterministic=True
)
STEPS = CROP_TRAIN_IMAGES // 2
# One epoch of batches of two, for the runs that stop before training.
TINY_SETTINGS = training.TrainingSettings(epochs=1, batch_size=2)


def _write_micrograph(path: Path, rng: np.random.Generator, shape=(64, 64)) -> Path:
    """Writes a small blocky grey stand-in micrograph, 16-bit where the format is TIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = rng.random((shape[0] // 8, shape[1] // 8)).repeat(8, axis=0).repeat(8, axis=1)
    if path.suffix == ".tif":
        Image.fromarray(np.round(blocks * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray(np.round(blocks * 255).astype(np.uint8)).save(path)
    return path


def _write_folder(folder: Path, names: list[str], seed: int, shape=(64, 64)) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [_write_micrograph(folder / name, rng, shape) for name in names]


def _read_history(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _assert_same_weights(first: keras.Model, second: keras.Model) -> None:
    for one, other in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)


class _Recorder:
    """An on_progress callback that keeps every report as (done, total, detail)."""

    def __init__(self):
        self.reports: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        self.reports.append((done, total, detail))

    def checks(self) -> list[tuple[int, int, str]]:
        """The reports of images checked before training."""
        return [report for report in self.reports if _is_check(report)]

    def batches(self) -> list[tuple[int, int, str]]:
        """The reports of batches done, epochs' ends included."""
        return [report for report in self.reports if not _is_check(report)]

    def epoch_ends(self) -> list[tuple[int, int, str]]:
        """The reports of a crop run's epochs' last batches, made once the epoch is saved."""
        return [report for report in self.batches() if _ends_epoch(report)]


def _is_check(report: tuple[int, int, str]) -> bool:
    return report[2].startswith("checking ")


def _ends_epoch(report: tuple[int, int, str]) -> bool:
    """Whether a report of a crop run is an epoch's last batch."""
    return not _is_check(report) and report[0] % STEPS == 0


@pytest.fixture(scope="module", autouse=True)
def _kernels_restored():
    """Gives later test modules TensorFlow's kernels as they were: deterministic=True switches
    them for the rest of the process."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    # TensorFlow exports the switch's on-position only.
    from tensorflow.python.framework import config

    was_deterministic = config.is_op_determinism_enabled()
    yield
    if not was_deterministic:
        config.disable_op_determinism()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Four training micrographs in mixed formats plus one corrupt file, and two test ones."""
    root = tmp_path_factory.mktemp("micrographs")
    _write_folder(root / "train", TRAIN_FILES, seed=1)
    (root / "train" / CORRUPT_FILE).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _write_folder(root / "test", TEST_FILES, seed=2)
    return root / "train", root / "test"


@pytest.fixture(scope="module")
def run(folders, tmp_path_factory):
    """One tiny training run at 256x256: its result and what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        result = training.train(
            *folders,
            tmp_path_factory.mktemp("models"),
            settings=training.TrainingSettings(epochs=1, batch_size=2, seed=0),
        )
    return result, printed.getvalue()


@pytest.fixture(scope="module")
def result(run) -> training.TrainingResult:
    """The tiny training run's result."""
    return run[0]


@pytest.fixture(scope="module")
def held_out_batch(folders) -> np.ndarray:
    """The test micrographs as the model takes them, shape (2, 256, 256, 1)."""
    return np.stack(
        [images.read_image(folders[1] / name, size=images.IMAGE_SIZE) for name in TEST_FILES]
    )[..., None]


@pytest.fixture(scope="module")
def crop_folders(tmp_path_factory) -> tuple[Path, Path]:
    """Micrographs of 80x96 pixels to train on 64x64 crops of, one of them too small to crop."""
    root = tmp_path_factory.mktemp("crop_micrographs")
    names = [f"micrograph_{number:02d}.png" for number in range(CROP_TRAIN_IMAGES)]
    _write_folder(root / "train", names, seed=3, shape=CROP_SHAPE)
    _write_folder(root / "train", [SMALL_FILE], seed=4, shape=SMALL_SHAPE)
    _write_folder(root / "test", ["g.png", "h.png"], seed=5, shape=CROP_SHAPE)
    return root / "train", root / "test"


@pytest.fixture(scope="module")
def reference(crop_folders, tmp_path_factory):
    """An uninterrupted crop run of three epochs: its result, its reports, and what its models
    folder held when each epoch was reported: the history's rows, the saved state's optimiser
    steps (None without a state), and whether the final model was there yet."""
    models_dir = tmp_path_factory.mktemp("reference")
    recorder = _Recorder()
    snapshots = []

    def on_progress(done: int, total: int, detail: str = "") -> None:
        recorder(done, total, detail)
        if _ends_epoch((done, total, detail)):
            state_path = models_dir / training.STATE_FILE
            state = keras.models.load_model(state_path) if state_path.exists() else None
            snapshots.append(
                (
                    _read_history(models_dir / training.HISTORY_FILE),
                    None if state is None else int(state.optimizer.iterations),
                    (models_dir / training.MODEL_FILE).exists(),
                )
            )

    result = training.train(
        *crop_folders, models_dir, settings=CROP_SETTINGS, on_progress=on_progress
    )
    return result, recorder, snapshots


@pytest.fixture(scope="module")
def interrupted(crop_folders, tmp_path_factory) -> Path:
    """The models folder of the reference's run stopped by Ctrl-C as its first epoch ended."""
    models_dir = tmp_path_factory.mktemp("interrupted")

    def on_progress(done: int, total: int, detail: str = "") -> None:
        if _ends_epoch((done, total, detail)):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train(*crop_folders, models_dir, settings=CROP_SETTINGS, on_progress=on_progress)
    return models_dir


@pytest.fixture
def unfinished(interrupted, tmp_path) -> Path:
    """A copy of the interrupted run's models folder, for a test to resume or refuse."""
    return Path(shutil.copytree(interrupted, tmp_path / "unfinished"))


# The 256x256 run: what is saved, and what it holds.


def test_every_artefact_is_written_and_nothing_partial_is_left(result):
    """The models folder holds the five artefacts and the training state under their names, and
    only them."""
    folder = result.model_path.parent
    artefacts = {
        "autoencoder_microstructure.keras",
        "autoencoder_microstructure.weights.h5",
        "training_history.csv",
        "loss_curves.png",
        "reconstructions.png",
    }
    state = {"training_state.keras", "training_settings.json"}
    assert {path.name for path in folder.iterdir()} == artefacts | state
    written = [
        result.model_path,
        result.weights_path,
        result.history_path,
        result.loss_curves_path,
        result.reconstructions_path,
    ]
    assert {path.name for path in written} == artefacts
    assert all(path.stat().st_size > 0 for path in written)


def test_saved_model_reproduces_the_trained_predictions(result, held_out_batch):
    """The .keras file reloads into a model whose predictions equal the trained model's exactly."""
    reloaded = keras.models.load_model(result.model_path)
    np.testing.assert_array_equal(
        reloaded.predict(held_out_batch, verbose=0), result.model.predict(held_out_batch, verbose=0)
    )


def test_weights_file_loads_into_a_fresh_autoencoder(result, held_out_batch):
    """The weights file makes a newly built autoencoder predict exactly as the trained one."""
    fresh = architecture.build_autoencoder()
    fresh.load_weights(result.weights_path)
    np.testing.assert_array_equal(
        fresh.predict(held_out_batch, verbose=0), result.model.predict(held_out_batch, verbose=0)
    )


def test_history_records_the_validation_loss_on_the_test_images(result, held_out_batch):
    """The CSV has one row per epoch, and its val_loss is the trained model's MSE on the tests."""
    rows = _read_history(result.history_path)
    assert [list(row) for row in rows] == [["epoch", "loss", "val_loss", "seconds"]]
    assert rows[0]["epoch"] == "1"
    assert float(rows[0]["loss"]) == result.loss
    assert float(rows[0]["val_loss"]) == result.val_loss
    assert float(rows[0]["seconds"]) > 0
    errors = (result.model.predict(held_out_batch, verbose=0) - held_out_batch) ** 2
    assert result.val_loss == pytest.approx(float(np.mean(errors)), rel=1e-4)


def test_training_lowers_the_loss_of_the_initial_weights(result, held_out_batch):
    """After one epoch the test MSE is below that of the same architecture's initial weights."""
    keras.utils.set_random_seed(0)
    untrained = architecture.build_autoencoder()
    initial = float(np.mean((untrained.predict(held_out_batch, verbose=0) - held_out_batch) ** 2))
    assert result.val_loss < initial


@pytest.mark.parametrize(
    ("attribute", "size"),
    [("loss_curves_path", (840, 540)), ("reconstructions_path", (520, 580))],
)
def test_plots_are_pngs_with_drawn_content(result, attribute, size):
    """Each plot opens as a PNG of its figure's size and is not a blank canvas."""
    with Image.open(getattr(result, attribute)) as plot:
        assert plot.format == "PNG"
        assert plot.size == size
        grey = np.asarray(plot.convert("L"))
    assert len(np.unique(grey)) > 20


def test_dead_code_channels_are_those_zero_on_every_test_micrograph(result, held_out_batch):
    """The result names the code channels that are zero at every position of both test
    micrographs, as the NumPy float64 forward pass of the saved model finds them (a channel
    is taken as dead there below 1e-6, where float32 and float64 may round a ReLU apart)."""
    model = keras.models.load_model(result.model_path)
    code = np.stack(
        [complex_forward(model, "code", image[..., 0]).real for image in held_out_batch]
    )
    largest = code.max(axis=(0, 1, 2))
    assert result.code_channels == 8 and result.checked_images == 2
    assert set(result.dead_channels) >= {int(c) for c in np.flatnonzero(largest == 0)}
    assert set(result.dead_channels) <= {int(c) for c in np.flatnonzero(largest < 1e-6)}


def test_corrupt_file_is_returned_as_skipped_and_nothing_is_printed(run, folders):
    """The corrupt training file is left out and returned with its reason, and the library prints
    nothing."""
    result, printed = run
    assert printed == ""
    assert len(result.skipped) == 1
    assert str(result.skipped[0]).startswith(f"cannot read {folders[0] / CORRUPT_FILE}: ")
    assert (result.train_images, result.test_images) == (len(TRAIN_FILES), len(TEST_FILES))
    assert result.first_epoch == 0


# The crop runs: the state saved every epoch, resuming, crops and progress reports.


def test_history_and_state_are_saved_at_the_end_of_every_epoch(reference):
    """When an epoch is reported, the history holds a row for each epoch done so far and the saved
    state has taken exactly that many epochs' optimiser steps, before the final model exists."""
    result, _, snapshots = reference
    assert len(snapshots) == CROP_EPOCHS
    for done, (rows, steps, final_model_written) in enumerate(snapshots, start=1):
        assert [row["epoch"] for row in rows] == [str(epoch) for epoch in range(1, done + 1)]
        assert steps == done * STEPS
        assert not final_model_written
    assert _read_history(result.history_path) == snapshots[-1][0]


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    reference, crop_folders, unfinished
):
    """A run stopped after its first epoch and resumed ends with bit-identical weights and the same
    losses as the run that was never stopped."""
    reference_result = reference[0]
    assert [row["epoch"] for row in _read_history(unfinished / training.HISTORY_FILE)] == ["1"]
    assert not (unfinished / training.MODEL_FILE).exists()
    recorder = _Recorder()
    resumed = training.train(
        *crop_folders, unfinished, settings=CROP_SETTINGS, resume=True, on_progress=recorder
    )
    assert resumed.first_epoch == 1
    assert [done // STEPS for done, _, _ in recorder.epoch_ends()] == [2, 3]
    assert {(done - 1) // STEPS + 1 for done, _, _ in recorder.batches()} == {2, 3}
    _assert_same_weights(resumed.model, reference_result.model)
    columns = ("epoch", "loss", "val_loss")
    assert [[row[name] for name in columns] for row in _read_history(resumed.history_path)] == [
        [row[name] for name in columns] for row in _read_history(reference_result.history_path)
    ]


def test_rerun_with_the_same_seed_and_two_workers_gives_identical_weights(
    reference, crop_folders, tmp_path
):
    """A second run with the same seed and images, decoding on two threads instead of one, trains
    on the same batches epoch after epoch and ends with bit-identical weights."""
    again = training.train(
        *crop_folders, tmp_path, settings=dataclasses.replace(CROP_SETTINGS, workers=2)
    )
    _assert_same_weights(again.model, reference[0].model)


@pytest.mark.parametrize(
    ("setting", "change"),
    [
        ("batch_size", {"batch_size": 3}),
        ("learning_rate", {"learning_rate": 1e-3}),
        ("seed", {"seed": 6}),
        ("crop", {"crop": 48}),
        ("precision", {"precision": "bfloat16"}),
        ("deterministic", {"deterministic": False}),
    ],
)
def test_resuming_with_another_setting_is_refused_naming_it(
    crop_folders, unfinished, setting, change
):
    """Resuming with a setting other than the saved run's is refused with an error naming the
    setting, and the saved run is left as it was."""
    saved = {path.name: path.read_bytes() for path in unfinished.iterdir()}
    with pytest.raises(TrainingStateError, match=rf"made with other (\w+, )*{setting}\b"):
        training.train(
            *crop_folders,
            unfinished,
            settings=dataclasses.replace(CROP_SETTINGS, **change),
            resume=True,
        )
    assert {path.name: path.read_bytes() for path in unfinished.iterdir()} == saved


def test_resuming_with_other_images_is_refused(crop_folders, unfinished, tmp_path):
    """Resuming with a training image added is refused with an error naming the training images."""
    train_dir = Path(shutil.copytree(crop_folders[0], tmp_path / "train"))
    _write_folder(train_dir, ["extra.png"], seed=6, shape=CROP_SHAPE)
    with pytest.raises(TrainingStateError, match=r"made with other train_images;"):
        training.train(train_dir, crop_folders[1], unfinished, settings=CROP_SETTINGS, resume=True)


def test_starting_afresh_over_an_unfinished_run_is_refused(crop_folders, unfinished):
    """Training without resume where a run stopped part-way is refused before any image is
    checked, pointing to --resume and to the settings file, and the saved run is kept."""
    recorder = _Recorder()
    expected = (
        rf"holds an unfinished run \(1 of 3 epochs\): resume it to continue, or delete "
        rf".*{training.SETTINGS_FILE} to start afresh"
    )
    with pytest.raises(training.UnfinishedRunError, match=expected):
        training.train(*crop_folders, unfinished, settings=CROP_SETTINGS, on_progress=recorder)
    assert recorder.reports == []
    assert (unfinished / training.STATE_FILE).is_file()


def test_resuming_where_nothing_was_saved_is_refused(crop_folders, tmp_path):
    """Resuming in a folder without a saved run is refused before any image is checked."""
    recorder = _Recorder()
    with pytest.raises(TrainingStateError, match=rf"^nothing to resume in {tmp_path}: "):
        training.train(
            *crop_folders, tmp_path, settings=CROP_SETTINGS, resume=True, on_progress=recorder
        )
    assert recorder.reports == []


def test_crops_train_a_model_of_the_crop_size_and_validate_on_centres(reference, crop_folders):
    """With a crop the model takes CROP x CROP inputs, and its validation loss is its MSE on the
    centre crops of the test micrographs at their own resolution."""
    result = reference[0]
    assert result.model.input_shape == (None, CROP, CROP, 1)
    assert (result.train_images, result.test_images) == (CROP_TRAIN_IMAGES, CROP_TEST_IMAGES)
    top, left = (CROP_SHAPE[0] - CROP) // 2, (CROP_SHAPE[1] - CROP) // 2
    centres = np.stack(
        [
            images.read_image(path, size=None)[top : top + CROP, left : left + CROP]
            for path in loop.find_micrographs(crop_folders[1], crop_folders[1], loop.FolderReport())
        ]
    )[..., None]
    errors = (result.model.predict(centres, verbose=0) - centres) ** 2
    assert result.val_loss == pytest.approx(float(np.mean(errors)), rel=1e-4)


def test_images_smaller_than_the_crop_are_skipped_with_the_reason(reference, crop_folders):
    """A micrograph smaller than the crop is left out, returned with its size and the crop's."""
    (skipped,) = reference[0].skipped
    assert str(skipped) == (
        f"cannot crop {crop_folders[0] / SMALL_FILE}: it is 48x96, smaller than the 64x64 crops"
    )


def test_crop_that_is_not_a_multiple_of_16_is_refused(crop_folders, tmp_path):
    """A crop the network's four poolings cannot halve evenly is refused before anything is
    written."""
    with pytest.raises(SettingError, match="multiple of 16 .* not 40"):
        training.train(
            *crop_folders, tmp_path / "models", settings=dataclasses.replace(CROP_SETTINGS, crop=40)
        )
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1, not 0"),
        ({"batch_size": 0}, "batch_size must be at least 1, not 0"),
        ({"seed": -1}, "seed must be at least 0, not -1"),
        ({"workers": 0}, "workers must be at least 1, not 0"),
        ({"learning_rate": 0.0}, "the learning rate must be a positive finite number, not 0.0"),
        ({"learning_rate": float("nan")}, "the learning rate must be .* not nan"),
        ({"crop": 8}, "the crop must be a multiple of 16 of at least 16, not 8"),
        ({"precision": "float16"}, "precision must be one of float32, bfloat16"),
    ],
)
def test_settings_out_of_range_are_refused_when_made(setting, message):
    """Each setting training cannot use is refused with one line as the settings are made, before
    any folder is looked at."""
    with pytest.raises(SettingError, match=f"^{message}$"):
        training.TrainingSettings(**setting)


def test_settings_are_frozen_and_record_what_a_resume_must_match():
    """The settings cannot be changed once made, default to the paper's, and record the settings
    and images a resume checks, the reader's options only where given."""
    settings = training.TrainingSettings(devices=["cpu:0"], reading={"crop_bottom": 16})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 3
    with pytest.raises(TypeError):
        settings.reading["crop_bottom"] = 0
    assert (settings.epochs, settings.batch_size, settings.learning_rate) == (50, 32, 5e-4)
    assert settings.devices == ("cpu:0",)
    assert hash(settings) == hash(dataclasses.replace(settings, reading=None))
    assert settings.record(["a.png"], ["b.png"]) == {
        "batch_size": 32,
        "learning_rate": 5e-4,
        "seed": 0,
        "crop": None,
        "precision": "float32",
        "deterministic": False,
        "train_images": ["a.png"],
        "test_images": ["b.png"],
        "reading": {"crop_bottom": 16},
    }
    assert "reading" not in training.TrainingSettings().record([], [])


def test_check_reports_count_every_file_of_each_folder(reference):
    """Before training, one "checking" report per file of each folder, unusable ones included,
    counts up to the folder's total under the folder's label."""
    recorder = reference[1]
    checks = [(detail, done, total) for done, total, detail in recorder.checks()]
    train_files = CROP_TRAIN_IMAGES + 1
    assert checks == [
        *(("checking training images", done, train_files) for done in range(1, train_files + 1)),
        *(
            ("checking test images", done, CROP_TEST_IMAGES)
            for done in range(1, CROP_TEST_IMAGES + 1)
        ),
    ]
    assert recorder.reports[: len(checks)] == recorder.checks()


def test_batch_and_epoch_reports_carry_the_progress_and_the_losses(reference):
    """Every step is reported once, counted over the run and named by its epoch, and every epoch's
    last step with the loss, validation loss and seconds its history row holds."""
    result, recorder, _ = reference
    total = CROP_EPOCHS * STEPS
    batches = [(done, of) for done, of, _ in recorder.batches()]
    assert batches == [(done, total) for done in range(1, total + 1)]
    for done, _, detail in recorder.batches():
        assert detail.startswith(f"epoch {(done - 1) // STEPS + 1}/{CROP_EPOCHS}")
        assert (":" in detail) == (done % STEPS == 0)
    epochs = recorder.epoch_ends()
    assert [done for done, _, _ in epochs] == [epoch * STEPS for epoch in range(1, CROP_EPOCHS + 1)]
    rows = _read_history(result.history_path)
    for epoch, ((_, _, detail), row) in enumerate(zip(epochs, rows, strict=True), start=1):
        assert detail == (
            f"epoch {epoch}/{CROP_EPOCHS}: loss {float(row['loss']):.4g}, val_loss "
            f"{float(row['val_loss']):.4g}, {float(row['seconds']):.0f} s; state saved"
        )
        assert float(row["seconds"]) > 0
    assert f"val_loss {result.val_loss:.4g}," in epochs[-1][2]


# Errors about folders.


def test_empty_training_folder_is_a_one_line_error(folders, tmp_path):
    """A training folder without images stops the run with one line naming the folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FolderError, match=r"^no images in .*empty or its subfolders") as raised:
        training.train(empty, folders[1], tmp_path / "models", settings=TINY_SETTINGS)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, training.NoMicrographsError)


def test_folder_of_only_unreadable_files_is_an_error(folders, tmp_path):
    """A training folder whose every image is unreadable stops the run before training."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_text("not a picture")
    with pytest.raises(FolderError, match="none of the 1"):
        training.train(broken, folders[1], tmp_path / "models", settings=TINY_SETTINGS)
    assert not (tmp_path / "models" / training.MODEL_FILE).exists()


def test_models_path_that_is_a_file_fails_before_reading_images(folders, tmp_path):
    """A models path naming a file is refused before any image is checked or trained on."""
    occupied = tmp_path / "models"
    occupied.write_text("a file, not a folder")
    recorder = _Recorder()
    with pytest.raises(FolderError, match="is a file") as raised:
        training.train(*folders, occupied, settings=TINY_SETTINGS, on_progress=recorder)
    assert str(occupied) in str(raised.value)
    assert recorder.reports == []


def test_models_folder_inside_a_file_cannot_be_created(tmp_path):
    """A models folder whose parent is a file is reported as unwritable with the reason."""
    parent = tmp_path / "plain_file"
    parent.write_text("")
    with pytest.raises(FolderError, match="cannot write to models directory .*: Not a directory"):
        training.prepare_models_dir(parent / "models")


# Trains on two virtual CPU devices and on one, and prints both runs' losses; JAX reads the device
# count once, when it starts, so this runs in a fresh process.
_DATA_PARALLEL = """
import csv, json, sys, tempfile
from complexstep import errors
from complexstep.folders import loop, training

train_dir, test_dir = sys.argv[1:3]
losses = {}
for devices in (None, ["cpu:0"]):
    result = training.train(
        train_dir,
        test_dir,
        tempfile.mkdtemp(),
        settings=training.TrainingSettings(epochs=2, batch_size=2, devices=devices),
    )
    with open(result.history_path, newline="") as file:
        losses[len(devices or "ab")] = [
            [float(row["loss"]), float(row["val_loss"])] for row in csv.DictReader(file)
        ]
refused = []
for options in ({"devices": ["cpu:0", "gpu:7"]}, {"batch_size": 3}):
    try:
        training.train(
            train_dir,
            test_dir,
            tempfile.mkdtemp(),
            settings=training.TrainingSettings(epochs=1, **options),
        )
    except errors.SettingError as error:
        refused.append(str(error))
print(json.dumps({"losses": losses, "refused": refused}))
"""


def test_data_parallel_training_over_two_devices_matches_one(folders):
    """On JAX with two virtual CPU devices, the losses of a data-parallel run equal a one-device
    run's to 1e-4 relative, and devices it lacks or batches they do not divide are refused.

    Each device computes the gradient of half of every batch and the halves are averaged: the same
    sum in another order, so each step differs by float32 rounding (about 1e-7 relative), which
    four Adam steps on these images do not amplify beyond 1e-5.
    """
    pytest.importorskip("jax")
    completed = subprocess.run(
        [sys.executable, "-c", _DATA_PARALLEL, *map(str, folders)],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "KERAS_BACKEND": "jax",
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        },
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(found["losses"]["2"], found["losses"]["1"], rtol=1e-4)
    assert found["refused"][0].startswith("no device gpu:7 on the jax backend; it has cpu:0, cpu:1")
    assert "cannot be split evenly over 2 devices" in found["refused"][1]


def test_a_loss_that_becomes_non_finite_stops_the_run_and_keeps_nothing_bad(folders, tmp_path):
    """A learning rate far too large drives the weights to overflow: the run stops with one
    line instead of saving a NaN model, and no model file is written."""
    with pytest.raises(TrainingStateError, match=r"the loss became .* in epoch 1") as raised:
        training.train(
            *folders,
            tmp_path / "models",
            settings=training.TrainingSettings(epochs=2, batch_size=2, learning_rate=1e38),
        )
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "models" / training.MODEL_FILE).exists()


def test_each_resize_is_noted_and_what_is_too_small_to_resize_is_left_out(tmp_path):
    """Without crops every image is resized to 256x256: one that is not that size already is
    noted, from what to what, and a 1x1 image, smaller than the network's least size, is left
    out on one line rather than blown up."""
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name, shape in (("square.png", (256, 256)), ("narrow.png", (64, 48)), ("dot.png", (1, 1))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / name)
    report = loop.FolderReport()
    usable = training.usable_images(folder, None, "training images", report=report)
    assert [path.name for path in usable] == ["narrow.png", "square.png"]
    assert report.notes == [f"{folder / 'narrow.png'}: resized 64x48 to 256x256"]
    assert report.failed == [
        f"{folder / 'dot.png'} is 1x1, smaller than the network's least size, 16x16"
    ]
