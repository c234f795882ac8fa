"""Stage 2 as a user runs it: the script, its files and its one-line errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import complexstep
import scripts
from complexstep.io import images

run_stage_2 = scripts.runner("obtain_attribution_contours.py")


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


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
        "etched/pearlite.json",
        "etched/pearlite.npy",
        "etched/pearlite.png",
        "ferrite.json",
        "ferrite.npy",
        "ferrite.png",
    ]


def test_raw_map_is_the_attribution_of_the_image(jacobian_run, micrographs, random_model):
    """The .npy holds the float32 attribution that the engine gives for the image as read."""
    _, outputs, _ = jacobian_run
    raw = np.load(outputs / "etched" / "pearlite.npy")
    assert raw.dtype == np.float32 and raw.shape == (256, 256)
    expected = complexstep.attribute(
        random_model,
        images.read_image(micrographs / "etched" / "pearlite.jpg", size=images.IMAGE_SIZE),
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
    assert reports == [f"cannot read {micrographs / 'broken.tif'}: not an image PIL can decode"]
    assert "wrote the attribution maps of 2 image(s)" in result.stdout


def test_inputs_are_never_modified(jacobian_run, micrographs):
    """The input folder is byte for byte what it was."""
    _, _, before = jacobian_run
    assert checksums(micrographs) == before


def test_complex_step_run_agrees_with_jacobian_run(
    saved_model, micrographs, jacobian_run, tmp_path
):
    """The complex-step engine writes the same numbers as the jacobian engine."""
    _, jacobian_outputs, _ = jacobian_run
    result = run_stage_2(
        "--inputs",
        str(micrographs / "etched"),
        "--outputs",
        str(tmp_path),
        "--model",
        str(saved_model),
        "--method",
        "complex-step",
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
            "no model at nowhere/model.keras: run python codes/build_convolutional_autoencoder.py "
            "first (stage 1), or pass --model pretrained",
        ),
        (["--resize", "250"], "multiples of 16, not a 250x250 image; the nearest it takes: "),
        (["--h", "0"], "argument --h: must be from 1e-20 to 1e+20, got 0"),
        (["--h", "1e-30"], "argument --h: must be from 1e-20 to 1e+20, got 1e-30"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--layer", "latent"], "the model has no layer 'latent'"),
        (["--inputs", "{empty}"], "no images in"),
        (["--method", "finite-difference"], "argument --method: invalid choice"),
        (["--domain", "wavelet", "--wavelet", "bior2.2"], "wavelet 'bior2.2' is not orthogonal"),
        (["--domain", "wavelet", "--levels", "9"], "9 levels are too many for a 256x256 image"),
        (["--domain", "fourier"], "argument --domain: invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line(arguments, message, saved_model, micrographs, tmp_path):
    """Each mistake is reported as one 'error:' line with no traceback and a non-zero exit."""
    valid = ["--inputs", str(micrographs / "etched"), "--model", str(saved_model)]
    valid += ["--method", "jacobian"]
    scripts.assert_mistake_is_one_line(run_stage_2, valid, arguments, message, tmp_path)


@pytest.fixture(scope="module")
def native_run(saved_model, tmp_path_factory):
    """Stage 2 at the micrographs' own resolution: one 100x90 micrograph, one 64x48."""
    inputs = tmp_path_factory.mktemp("native")
    rng = np.random.default_rng(1)
    for name, shape in [("odd.png", (100, 90)), ("even.png", (64, 48))]:
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(inputs / name)
    outputs = tmp_path_factory.mktemp("native_outputs")
    arguments = ["--inputs", str(inputs), "--outputs", str(outputs), "--model", str(saved_model)]
    return run_stage_2(*arguments, "--resize", "none"), inputs, outputs, arguments


def test_resize_none_explains_each_micrograph_at_its_own_resolution(native_run, random_model):
    """A micrograph the network takes keeps its size; another is cropped from the bottom and right
    to multiples of 16, said in one line, and its map is that of the crop."""
    result, inputs, outputs, _ = native_run
    assert result.returncode == 0, result.stderr
    assert np.load(outputs / "even.npy").shape == (64, 48)
    odd = np.load(outputs / "odd.npy")
    assert odd.shape == (96, 80)
    assert f"cropped {inputs / 'odd.png'} from 100x90 to 96x80 (bottom and right edges)" in (
        result.stderr.splitlines()
    )
    micrograph = images.read_image(inputs / "odd.png", size=None)[:96, :80]
    np.testing.assert_allclose(odd, complexstep.attribute(random_model, micrograph), rtol=1e-5)


def test_skip_existing_continues_an_interrupted_run(native_run, tmp_path):
    """Micrographs with both files are left alone; one missing its picture is explained again."""
    _, _, outputs, arguments = native_run
    before = {path.name: path.stat().st_mtime_ns for path in outputs.iterdir()}
    (outputs / "even.png").unlink()
    result = run_stage_2(*arguments, "--resize", "none", "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert "wrote the attribution maps of 1 image(s)" in result.stdout
    assert "; 1 already there" in result.stdout
    after = {path.name: path.stat().st_mtime_ns for path in outputs.iterdir()}
    assert after["odd.npy"] == before["odd.npy"] and after["odd.png"] == before["odd.png"]
    assert after["even.npy"] != before["even.npy"] and "even.png" in after


def test_progress_is_shown_in_passes_with_the_micrograph_being_explained(native_run):
    """Standard error carries a progress line per tenth of the passes, naming the micrograph."""
    result, *_ = native_run
    lines = [line for line in result.stderr.splitlines() if line.startswith("jacobian attribution")]
    assert len(lines) >= 2 and " passes, " in lines[-1]
    assert lines[-1].split("] ")[1].split()[0].split("/")[0] == lines[-1].split("/")[1].split()[0]


@pytest.fixture(scope="module")
def wavelet_run(saved_model, micrographs, tmp_path_factory):
    """Stage 2 in the wavelet domain with db2 and two levels."""
    outputs = tmp_path_factory.mktemp("wavelet_outputs")
    result = run_stage_2(
        "--inputs",
        str(micrographs),
        "--outputs",
        str(outputs),
        "--model",
        str(saved_model),
        "--domain",
        "wavelet",
        "--wavelet",
        "db2",
        "--levels",
        "2",
    )
    return result, outputs


def test_wavelet_domain_writes_each_map_and_its_shares(wavelet_run, micrographs, random_model):
    """Each readable micrograph gets <stem>.wavelet.npy, its coefficients' attributions as the
    API gives them, and <stem>.wavelet.json, each block's share of their squares."""
    result, outputs = wavelet_run
    written = sorted(str(path.relative_to(outputs)) for path in outputs.rglob("*"))
    assert written == [
        "etched",
        "etched/pearlite.wavelet.json",
        "etched/pearlite.wavelet.npy",
        "ferrite.wavelet.json",
        "ferrite.wavelet.npy",
    ]
    assert "(jacobian, layer 'code', db2 wavelet, 2 levels)" in result.stdout
    values = np.load(outputs / "etched" / "pearlite.wavelet.npy")
    assert values.dtype == np.float32 and values.shape == (256, 256)
    expected = complexstep.attribute(
        random_model,
        images.read_image(micrographs / "etched" / "pearlite.jpg", size=images.IMAGE_SIZE),
        domain="wavelet",
        wavelet="db2",
        levels=2,
    )
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    summary = json.loads((outputs / "etched" / "pearlite.wavelet.json").read_text())
    assert (summary["wavelet"], summary["levels"], summary["shape"]) == ("db2", 2, [256, 256])
    shares = [share["share"] for share in summary["shares"]]
    assert len(shares) == 7 and sum(shares) == pytest.approx(1.0, abs=1e-9)
    top_left = np.sum(values[:64, :64].astype(np.float64) ** 2)
    assert shares[0] == pytest.approx(top_left / np.sum(values.astype(np.float64) ** 2))


def test_the_model_that_comes_with_the_package_needs_no_stage_1(micrographs, tmp_path):
    """--model pretrained explains micrographs with the shipped model, with no models folder;
    the sidecar names it "pretrained", not the path where pip happened to install it, and gives
    the file's SHA-256."""
    result = run_stage_2(
        "--inputs", str(micrographs / "etched"), "--outputs", str(tmp_path), "--model", "pretrained"
    )
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "pearlite.npy").shape == (256, 256)
    sidecar = json.loads((tmp_path / "pearlite.json").read_text())
    assert sidecar["model"] == "pretrained"
    shipped = Path(complexstep.__file__).parent / "model" / "pretrained"
    shipped_bytes = (shipped / "autoencoder_microstructure.keras").read_bytes()
    assert sidecar["model_sha256"] == hashlib.sha256(shipped_bytes).hexdigest()


def test_outputs_into_the_inputs_folder_are_refused_and_touch_nothing(saved_model, tmp_path):
    """Maps written into the micrographs' folder would replace a.png: one line names both
    folders, before any work, and every input keeps its bytes."""
    folder = tmp_path / "micrographs"
    folder.mkdir()
    Image.fromarray(np.full((32, 32), 90, np.uint8)).save(folder / "a.png")
    before = checksums(folder)
    result = run_stage_2(
        "--inputs", str(folder), "--outputs", str(folder), "--model", str(saved_model)
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: the outputs folder {folder} is the inputs folder {folder}: the results would "
        "replace or mix with the micrographs; choose another outputs folder"
    ]
    assert checksums(folder) == before


def test_two_micrographs_of_one_stem_are_reported_not_overwritten(saved_model, tmp_path):
    """a.png and a.tif would both write a.npy: the later is named on one line, the earlier's map
    is written, and the run fails."""
    folder = tmp_path / "micrographs"
    folder.mkdir()
    Image.fromarray(np.full((32, 32), 90, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((32, 32), 30, np.uint8)).save(folder / "a.tif")
    result = run_stage_2(
        "--inputs", str(folder), "--outputs", str(tmp_path / "maps"), "--model", str(saved_model)
    )
    assert result.returncode == 1
    assert (
        f"skipped {folder / 'a.tif'}: its map would overwrite that of {folder / 'a.png'}"
        in result.stderr.splitlines()
    )
    assert "wrote the attribution maps of 1 image(s)" in result.stdout
