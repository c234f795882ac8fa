"""Stage 1 training: the input pipeline, the saved model and plots, and its errors."""

import contextlib
import csv
import io
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from complexstep import architecture, images, training
from complexstep.cli import UserError

TRAIN_FILES = ["a.png", "b.tif", "grains/c.jpg", "grains/d.bmp"]
TEST_FILES = ["g.png", "h.tif"]
CORRUPT_FILE = "corrupt.png"


def _write_micrograph(path: Path, rng: np.random.Generator) -> Path:
    """Writes a small blocky grey stand-in micrograph, 16-bit where the format is TIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = rng.random((8, 8)).repeat(8, axis=0).repeat(8, axis=1)
    if path.suffix == ".tif":
        Image.fromarray(np.round(blocks * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray(np.round(blocks * 255).astype(np.uint8)).save(path)
    return path


def _write_folder(folder: Path, names: list[str], seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [_write_micrograph(folder / name, rng) for name in names]


def _train_quietly(train_dir: Path, test_dir: Path, models_dir: Path, **options):
    """Trains one tiny epoch and returns the result and what was printed on standard error."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = training.train(
            train_dir, test_dir, models_dir, epochs=1, batch_size=2, verbose=0, **options
        )
    return result, stderr.getvalue()


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
    """One tiny training run: its result and its standard error."""
    train_dir, test_dir = folders
    return _train_quietly(train_dir, test_dir, tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture(scope="module")
def result(run) -> training.TrainingResult:
    """The tiny training run's result."""
    return run[0]


@pytest.fixture(scope="module")
def held_out_batch(folders) -> np.ndarray:
    """The test micrographs as the model takes them, shape (2, 256, 256, 1)."""
    return np.stack([images.read_image(folders[1] / name) for name in TEST_FILES])[..., None]


def test_every_artefact_is_written_and_nothing_partial_is_left(result):
    """The models folder holds the five artefacts under their names, and only them."""
    folder = result.model_path.parent
    expected = {
        "autoencoder_microstructure.keras",
        "autoencoder_microstructure.weights.h5",
        "training_history.csv",
        "loss_curves.png",
        "reconstructions.png",
    }
    assert {path.name for path in folder.iterdir()} == expected
    written = [
        result.model_path,
        result.weights_path,
        result.history_path,
        result.loss_curves_path,
        result.reconstructions_path,
    ]
    assert {path.name for path in written} == expected
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
    with open(result.history_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [list(row) for row in rows] == [["epoch", "loss", "val_loss"]]
    assert rows[0]["epoch"] == "1"
    assert float(rows[0]["loss"]) == result.loss
    assert float(rows[0]["val_loss"]) == result.val_loss
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


def test_corrupt_file_is_skipped_with_one_line(run, folders):
    """The corrupt training file is reported on exactly one line and left out of training."""
    result, stderr = run
    skipped_lines = [line for line in stderr.splitlines() if "skipped" in line]
    assert len(skipped_lines) == 1
    assert skipped_lines[0].startswith(f"skipped: cannot read {folders[0] / CORRUPT_FILE}: ")
    assert result.skipped == (folders[0] / CORRUPT_FILE,)
    assert (result.train_images, result.test_images) == (len(TRAIN_FILES), len(TEST_FILES))


def test_same_seed_gives_identical_weights(result, folders, tmp_path):
    """A second run with the same seed and images ends with bit-identical weights."""
    again, _ = _train_quietly(*folders, tmp_path, seed=0)
    for first, second in zip(result.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(first, second)


def test_dataset_yields_read_image_values_as_input_and_target(folders):
    """The pipeline is a tf.data.Dataset of (x, x) batches equal to read_image of each file."""
    paths = [folders[0] / name for name in TRAIN_FILES]
    dataset = training.make_dataset(paths, batch_size=3)
    assert isinstance(dataset, tf.data.Dataset)
    spec = tf.TensorSpec((None, 256, 256, 1), tf.float32)
    assert dataset.element_spec == (spec, spec)
    batches = list(dataset.as_numpy_iterator())
    assert [len(inputs) for inputs, _ in batches] == [3, 1]
    inputs = np.concatenate([inputs for inputs, _ in batches])
    targets = np.concatenate([targets for _, targets in batches])
    expected = np.stack([images.read_image(path) for path in paths])[..., None]
    np.testing.assert_array_equal(inputs, expected)
    np.testing.assert_array_equal(targets, expected)


def test_dataset_reads_the_files_when_iterated(tmp_path):
    """Files rewritten after the pipeline is built are read with their new content."""
    path = tmp_path / "later.png"
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(path)
    dataset = training.make_dataset([path], batch_size=1)
    Image.fromarray(np.full((16, 16), 255, dtype=np.uint8)).save(path)
    inputs, _ = next(dataset.as_numpy_iterator())
    np.testing.assert_array_equal(inputs, 1.0)


def test_shuffled_order_is_a_seeded_permutation(tmp_path):
    """A seed gives the same order every time, covering every image exactly once."""
    paths = []
    for level in range(8):
        paths.append(tmp_path / f"level_{level}.png")
        Image.fromarray(np.full((4, 4), level * 30, dtype=np.uint8)).save(paths[-1])

    def levels(seed: int) -> list[int]:
        dataset = training.make_dataset(paths, batch_size=3, shuffle_seed=seed)
        batches = [inputs for inputs, _ in dataset.as_numpy_iterator()]
        return [round(value * 255 / 30) for value in np.concatenate(batches)[:, 0, 0, 0]]

    first = levels(seed=5)
    assert first == levels(seed=5)
    assert sorted(first) == list(range(8))
    assert first != list(range(8))


def test_empty_training_folder_is_a_one_line_error(folders, tmp_path):
    """A training folder without images stops the run with one line naming the folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"^no images in .*empty or its subfolders") as raised:
        training.train(empty, folders[1], tmp_path / "models", epochs=1, batch_size=2)
    assert "\n" not in str(raised.value)
    assert "run codes/generate_synthetic_micrographs.py" in str(raised.value)


def test_folder_of_only_unreadable_files_is_an_error(folders, tmp_path):
    """A training folder whose every image is unreadable stops the run before training."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_text("not a picture")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(UserError, match="none of the 1"):
        training.train(broken, folders[1], tmp_path / "models", epochs=1, batch_size=2)
    assert not (tmp_path / "models" / training.MODEL_FILE).exists()


def test_models_path_that_is_a_file_fails_before_reading_images(folders, tmp_path):
    """A models path naming a file is refused before any image is checked or trained on."""
    occupied = tmp_path / "models"
    occupied.write_text("a file, not a folder")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(UserError, match="is a file") as raised:
        training.train(*folders, occupied, epochs=1, batch_size=2)
    assert str(occupied) in str(raised.value)
    assert stderr.getvalue() == ""


def test_models_folder_inside_a_file_cannot_be_created(tmp_path):
    """A models folder whose parent is a file is reported as unwritable with the reason."""
    parent = tmp_path / "plain_file"
    parent.write_text("")
    with pytest.raises(UserError, match="cannot write to models directory .*: Not a directory"):
        training.prepare_models_dir(parent / "models")
