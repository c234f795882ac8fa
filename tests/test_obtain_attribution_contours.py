"""Stage 2 as a user runs it: the script, its files and its one-line errors."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import scripts
from PIL import Image

from complexstep import architecture, attribution, images

run_stage_2 = scripts.runner("obtain_attribution_contours.py")


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, random_model):
    path = tmp_path_factory.mktemp("models") / "autoencoder_microstructure.keras"
    random_model.save(path)
    return path


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Two micrographs, one in a subfolder and in colour at another size, and a broken file."""
    folder = tmp_path_factory.mktemp("contour_inputs")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((256, 256)) * 255).astype(np.uint8)).save(folder / "ferrite.png")
    (folder / "etched").mkdir()
    colour = (rng.random((300, 280, 3)) * 255).astype(np.uint8)
    Image.fromarray(colour).save(folder / "etched" / "pearlite.jpg")
    (folder / "broken.tif").write_bytes(b"not a tiff")
    return folder


@pytest.fixture(scope="module")
def jacobian_run(saved_model, micrographs, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("contour_outputs")
    before = checksums(micrographs)
    result = run_stage_2(
        "--inputs",
        str(micrographs),
        "--outputs",
        str(outputs),
        "--model",
        str(saved_model),
        "--method",
        "jacobian",
    )
    return result, outputs, before


def test_writes_raw_and_picture_for_each_readable_image(jacobian_run):
    """Each readable micrograph gets <stem>.npy and <stem>.png, mirroring subfolders."""
    _, outputs, _ = jacobian_run
    written = sorted(str(path.relative_to(outputs)) for path in outputs.rglob("*"))
    assert written == [
        "etched",
        "etched/pearlite.npy",
        "etched/pearlite.png",
        "ferrite.npy",
        "ferrite.png",
    ]


def test_raw_map_is_the_attribution_of_the_image(jacobian_run, micrographs, random_model):
    """The .npy holds the float32 attribution that the engine gives for the image as read."""
    _, outputs, _ = jacobian_run
    raw = np.load(outputs / "etched" / "pearlite.npy")
    assert raw.dtype == np.float32 and raw.shape == (256, 256)
    twin = architecture.build_complex_twin(random_model, "code")
    expected = attribution.JacobianAttribution(twin)(
        images.read_image(micrographs / "etched" / "pearlite.jpg")
    )
    np.testing.assert_allclose(raw, expected, rtol=1e-5)


def test_picture_is_the_min_max_scaled_map(jacobian_run):
    """The .png is the raw map scaled to 0..255 in 8-bit grey."""
    _, outputs, _ = jacobian_run
    raw = np.load(outputs / "ferrite.npy").astype(np.float64)
    picture = Image.open(outputs / "ferrite.png")
    assert picture.mode == "L" and picture.size == (256, 256)
    expected = np.round((raw - raw.min()) / (raw.max() - raw.min()) * 255)
    np.testing.assert_array_equal(np.asarray(picture), expected)


def test_unreadable_image_is_reported_and_fails_the_run(jacobian_run, micrographs):
    """A broken file is named on one line, the others are written, and the exit is non-zero."""
    result, _, _ = jacobian_run
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reports = [line for line in result.stderr.splitlines() if "broken.tif" in line]
    assert reports == [
        f"skipped: cannot read {micrographs / 'broken.tif'}: not an image PIL can decode"
    ]
    assert "wrote the attribution maps of 2 image(s)" in result.stdout


def test_inputs_are_never_modified(jacobian_run, micrographs):
    """The input folder is byte for byte what it was."""
    _, _, before = jacobian_run
    assert checksums(micrographs) == before


def test_complex_step_run_agrees_with_jacobian_run(
    saved_model, micrographs, jacobian_run, tmp_path
):
    """The default complex-step method writes the same numbers as the jacobian method."""
    _, jacobian_outputs, _ = jacobian_run
    result = run_stage_2(
        "--inputs",
        str(micrographs / "etched"),
        "--outputs",
        str(tmp_path),
        "--model",
        str(saved_model),
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(
        np.load(tmp_path / "pearlite.npy"),
        np.load(jacobian_outputs / "etched" / "pearlite.npy"),
        rtol=1e-5,
    )
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--model", "nowhere/model.keras"],
            "no model at nowhere/model.keras: run codes/build_convolutional_autoencoder.py first",
        ),
        (["--h", "0"], "argument --h: must be a positive finite number, got 0"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--layer", "latent"], "the model has no layer 'latent'"),
        (["--inputs", "{empty}"], "no images in"),
        (["--method", "finite-difference"], "argument --method: invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line(arguments, message, saved_model, micrographs, tmp_path):
    """Each mistake is reported as one 'error:' line with no traceback and a non-zero exit."""
    (tmp_path / "empty").mkdir()
    valid = ["--inputs", str(micrographs / "etched"), "--model", str(saved_model)]
    outputs = ["--outputs", str(tmp_path / "out"), "--method", "jacobian"]
    mistake = [argument.format(empty=tmp_path / "empty") for argument in arguments]
    result = run_stage_2(*valid, *outputs, *mistake)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists()
