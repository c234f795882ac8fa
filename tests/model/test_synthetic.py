"""Tests of the synthetic micrographs and of the script that fills empty folders with them."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import filters

import scripts
from complexstep.errors import FolderError, SettingError
from complexstep.folders import synthetic as synthetic_folders
from complexstep.model import synthetic

REPOSITORY = scripts.REPOSITORY
SAMPLE_SIZE = 24

# Bounds from the 815 real 256x256 ferrite-pearlite micrographs (652 training, 163 test) the
# generator imitates, measured per image: the 1st, 50th and 99th grey-level percentiles, the
# fraction of pixels darker than 100 (pearlite, boundaries and inclusions) and the fraction of
# pixels whose Sobel gradient magnitude of the image scaled to [0, 1] exceeds 0.1 (boundaries and
# phase edges). For each statistic the real images' 1st and 99th percentiles bound every synthetic
# image, and their quartiles bound the median of a sample of synthetic images. Real values:
#   1st grey percentile:  quartiles 36 / 51 (median) / 67,        1st-99th percentiles 7-123
#   median grey level:    quartiles 186 / 200 / 216,              1st-99th percentiles 159-244
#   99th grey percentile: quartiles 204 / 223 / 237,              1st-99th percentiles 178-255
#   dark fraction:        quartiles 0.045 / 0.084 / 0.134,        1st-99th percentiles 0.000-0.335
#   Sobel edge density:   quartiles 0.071 / 0.107 / 0.139,        1st-99th percentiles 0.016-0.217
REAL_RANGES = {
    "grey 1st percentile": (7.0, 123.0),
    "grey median": (159.0, 244.0),
    "grey 99th percentile": (178.0, 255.0),
    "dark fraction": (0.0, 0.335),
    "edge density": (0.016, 0.217),
}
REAL_QUARTILES = {
    "grey 1st percentile": (36.0, 67.0),
    "grey median": (186.0, 216.0),
    "grey 99th percentile": (204.0, 237.0),
    "dark fraction": (0.045, 0.134),
    "edge density": (0.071, 0.139),
}
DARK_GREY = 100
EDGE_GRADIENT = 0.1


def _statistics(image: np.ndarray) -> dict[str, float]:
    """The statistics the real micrographs were measured with, for one image."""
    first, median, last = np.percentile(image, [1, 50, 99])
    return {
        "grey 1st percentile": first,
        "grey median": median,
        "grey 99th percentile": last,
        "dark fraction": float(np.mean(image < DARK_GREY)),
        "edge density": float(np.mean(filters.sobel(image / 255.0) > EDGE_GRADIENT)),
    }


@pytest.fixture(scope="module")
def sample_statistics() -> dict[str, np.ndarray]:
    """The statistics of a fixed sample of synthetic micrographs, one value per image."""
    rows = [
        _statistics(synthetic.generate_micrograph(np.random.default_rng(seed)))
        for seed in range(SAMPLE_SIZE)
    ]
    return {name: np.array([row[name] for row in rows]) for name in REAL_RANGES}


_run_script = scripts.runner("generate_synthetic_micrographs.py")


def _folder_arguments(root: Path, train: int, test: int, contour: int) -> list[str]:
    """The script's flags for three folders under ``root``."""
    return [
        f"--train={train}",
        f"--train-dir={root / 'train'}",
        f"--test={test}",
        f"--test-dir={root / 'test'}",
        f"--contour-inputs={contour}",
        f"--contour-dir={root / 'contour'}",
    ]


def _pixels(path: Path) -> np.ndarray:
    """The pixels of an image file as stored."""
    with Image.open(path) as image:
        return np.asarray(image)


def test_same_seed_gives_identical_images():
    """Two generators seeded alike draw the same micrograph."""
    first = synthetic.generate_micrograph(np.random.default_rng(7))
    second = synthetic.generate_micrograph(np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)


def test_different_seeds_give_different_images():
    """Different seeds draw micrographs that differ in most pixels."""
    first = synthetic.generate_micrograph(np.random.default_rng(7))
    second = synthetic.generate_micrograph(np.random.default_rng(8))
    assert np.mean(first != second) > 0.5


def test_micrograph_is_grey_uint8_of_the_requested_size():
    """A micrograph is a 2-D uint8 array of the requested side, 256 by default."""
    default = synthetic.generate_micrograph(np.random.default_rng(0))
    small = synthetic.generate_micrograph(np.random.default_rng(0), size=96)
    assert (default.shape, default.dtype) == ((256, 256), np.uint8)
    assert (small.shape, small.dtype) == ((96, 96), np.uint8)


@pytest.mark.parametrize("name", REAL_RANGES)
def test_every_image_lies_within_the_range_of_real_images(sample_statistics, name):
    """Each synthetic image's statistic lies between the real images' 1st and 99th percentiles."""
    low, high = REAL_RANGES[name]
    values = sample_statistics[name]
    assert np.all((values >= low) & (values <= high)), f"{name}: {np.round(values, 3)}"


@pytest.mark.parametrize("name", REAL_QUARTILES)
def test_typical_image_matches_typical_real_image(sample_statistics, name):
    """The sample's median statistic lies between the real images' quartiles."""
    low, high = REAL_QUARTILES[name]
    median = float(np.median(sample_statistics[name]))
    assert low <= median <= high, f"{name}: median {median:.3f} outside {low}-{high}"


def test_images_vary_in_grain_size_and_phase_fraction(sample_statistics):
    """The sample spreads over dark fractions and edge densities as the real images do."""
    for name in ("dark fraction", "edge density"):
        low, high = REAL_QUARTILES[name]
        assert np.min(sample_statistics[name]) < low < high < np.max(sample_statistics[name])


def test_fill_writes_numbered_images_into_empty_and_missing_folders(tmp_path):
    """Empty and missing folders receive exactly the requested numbered 256x256 grey PNGs."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gitkeep").write_text("")
    missing = tmp_path / "missing" / "nested"
    written = synthetic_folders.fill_empty_folders({empty: 3, missing: 2}, seed=0)
    assert written == {empty: 3, missing: 2}
    assert sorted(path.name for path in empty.iterdir()) == [
        ".gitkeep",
        "synthetic_0000.png",
        "synthetic_0001.png",
        "synthetic_0002.png",
    ]
    assert sorted(path.name for path in missing.iterdir()) == [
        "synthetic_0000.png",
        "synthetic_0001.png",
    ]
    with Image.open(missing / "synthetic_0001.png") as image:
        assert (image.mode, image.size) == ("L", (256, 256))


def test_fill_leaves_a_folder_holding_a_user_image_untouched(tmp_path):
    """A folder with a user's image keeps exactly its files and bytes and counts as 0 written."""
    user_folder = tmp_path / "user"
    (user_folder / "deeper").mkdir(parents=True)
    user_image = user_folder / "deeper" / "mine.jpg"
    Image.fromarray(np.full((20, 30), 90, dtype=np.uint8)).save(user_image)
    note = user_folder / "notes.txt"
    note.write_text("my sample")
    before = {path: path.read_bytes() for path in user_folder.rglob("*") if path.is_file()}
    written = synthetic_folders.fill_empty_folders({user_folder: 5}, seed=0)
    after = {path: path.read_bytes() for path in user_folder.rglob("*") if path.is_file()}
    assert written == {user_folder: 0}
    assert after == before


def test_fill_gives_each_folder_the_same_images_whichever_others_are_skipped(tmp_path):
    """A folder's images depend on the seed and its place in the counts, not on other folders."""
    alone, together = tmp_path / "alone", tmp_path / "together"
    synthetic_folders.fill_empty_folders({alone / "a": 2, alone / "b": 2}, seed=5)
    (together / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(together / "a" / "user.png")
    synthetic_folders.fill_empty_folders({together / "a": 2, together / "b": 2}, seed=5)
    for name in ("synthetic_0000.png", "synthetic_0001.png"):
        np.testing.assert_array_equal(_pixels(alone / "b" / name), _pixels(together / "b" / name))
    assert not np.array_equal(
        _pixels(alone / "a" / "synthetic_0000.png"), _pixels(alone / "b" / "synthetic_0000.png")
    )


def test_fill_images_depend_on_the_seed(tmp_path):
    """The same folder filled with another seed receives different images."""
    synthetic_folders.fill_empty_folders({tmp_path / "first": 1}, seed=1)
    synthetic_folders.fill_empty_folders({tmp_path / "second": 1}, seed=2)
    assert not np.array_equal(
        _pixels(tmp_path / "first" / "synthetic_0000.png"),
        _pixels(tmp_path / "second" / "synthetic_0000.png"),
    )


def test_fill_reports_progress_for_each_filled_folder(tmp_path):
    """The progress callback hears of every image written, with the folder it went into."""
    calls = []
    synthetic_folders.fill_empty_folders(
        {tmp_path / "a": 2, tmp_path / "b": 1}, 0, on_progress=lambda *call: calls.append(call)
    )
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert calls == [(1, 3, a), (2, 3, a), (3, 3, b)]


def test_fill_rejects_a_negative_count_before_writing_anything(tmp_path):
    """A negative count is a user error, and no folder is created or filled."""
    with pytest.raises(SettingError, match="0 or more"):
        synthetic_folders.fill_empty_folders({tmp_path / "a": 2, tmp_path / "b": -1}, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_fill_rejects_a_file_given_as_folder(tmp_path):
    """A path naming an existing file is a user error and the file is kept."""
    existing = tmp_path / "data.txt"
    existing.write_text("keep me")
    with pytest.raises(FolderError, match="is a file"):
        synthetic_folders.fill_empty_folders({existing: 1}, seed=0)
    assert existing.read_text() == "keep me"


def test_fill_rejects_a_folder_that_cannot_be_created(tmp_path):
    """A folder below an existing file cannot be created, which is a one-line user error."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(FolderError, match="cannot create folder"):
        synthetic_folders.fill_empty_folders({blocker / "images": 1}, seed=0)


def test_script_fills_empty_folders_and_reports_each(tmp_path):
    """The script writes the requested images and says what it did to each folder."""
    (tmp_path / "contour").mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "contour" / "mine.png")
    result = _run_script(*_folder_arguments(tmp_path, train=3, test=1, contour=2), "--seed=4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"written 3 images to {tmp_path / 'train'}",
        f"written 1 images to {tmp_path / 'test'}",
        f"left {tmp_path / 'contour'} alone because it already holds images",
    ]
    assert len(list((tmp_path / "train").glob("synthetic_*.png"))) == 3
    assert [path.name for path in (tmp_path / "contour").iterdir()] == ["mine.png"]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--train=-2", "argument --train: must be at least 0, got -2"),
        ("--seed=-1", "argument --seed: must be at least 0, got -1"),
        ("--train=abc", "argument --train: expected a whole number, got 'abc'"),
        ("--seed=1.5", "argument --seed: expected a whole number, got '1.5'"),
    ],
    ids=["negative-count", "negative-seed", "malformed-count", "fractional-seed"],
)
def test_script_reports_a_bad_value_in_one_line(tmp_path, flag, message):
    """A negative or malformed count or seed is one error line naming the flag, status 1."""
    result = _run_script(*_folder_arguments(tmp_path, train=1, test=1, contour=1), flag)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {message}"]
    assert result.stdout == ""
    assert not (tmp_path / "test").exists()


def test_script_reports_a_file_given_as_folder_in_one_line(tmp_path):
    """A folder flag naming an existing file ends the script with one error line."""
    (tmp_path / "test").write_text("")
    result = _run_script(*_folder_arguments(tmp_path, train=1, test=1, contour=1))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'test'} is a file, not a folder"]


def test_script_help_explains_every_flag():
    """The help text names every flag the script accepts."""
    result = _run_script("--help")
    assert result.returncode == 0
    for flag in ("--train", "--train-dir", "--test", "--test-dir", "--contour-inputs"):
        assert flag in result.stdout
    assert "--contour-dir" in result.stdout and "--seed" in result.stdout
