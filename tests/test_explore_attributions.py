"""The explorer's script as a user runs it: its files, its report and its one-line errors."""

import numpy as np
import pytest
from PIL import Image

import complexstep
import explorer_helpers
import scripts

run_explorer = scripts.runner("explore_attributions.py")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "autoencoder.keras"
    explorer_helpers.small_autoencoder(seed=14).save(path)
    return path


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """A 42x30 colour micrograph, and a 64x64 one in a subfolder."""
    folder = tmp_path_factory.mktemp("micrographs")
    rng = np.random.default_rng(9)
    Image.fromarray((rng.random((42, 30, 3)) * 255).astype(np.uint8)).save(folder / "grain.png")
    (folder / "etched").mkdir()
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(folder / "etched/big.png")
    return folder


@pytest.fixture(scope="module")
def native_run(saved_model, micrographs, tmp_path_factory):
    """One run at the micrographs' own resolution, with room for the smaller one only."""
    outputs = tmp_path_factory.mktemp("smaps")
    arguments = ["--inputs", str(micrographs), "--outputs", str(outputs)]
    result = run_explorer(
        *arguments, "--model", str(saved_model), "--resize", "none", "--max-pixels", "2000"
    )
    return result, outputs


def test_writes_a_page_and_a_figure_of_each_micrograph_that_fits(native_run, saved_model):
    """The page of the cropped micrograph holds its attribution map, and the figure is written."""
    result, outputs = native_run
    assert sorted(path.name for path in outputs.rglob("*")) == [
        "activations_grain.png",
        "explore_grain.html",
    ]
    data = explorer_helpers.page_data(outputs / "explore_grain.html")
    micrograph = explorer_helpers.unpack(data["arrays"]["micrograph"])
    assert micrograph.shape == (40, 28) and data["bits"] == 16
    expected = complexstep.attribute(str(saved_model), micrograph)
    attribution = explorer_helpers.unpack(data["arrays"]["attribution"])
    np.testing.assert_allclose(attribution, expected, rtol=1e-5, atol=1e-7 * expected.max())
    assert result.stdout.startswith(f"wrote 1 page(s) and activation figure(s) to {outputs} in ")
    size = (outputs / "explore_grain.html").stat().st_size
    assert f"(layer 'code', 16-bit Jacobians; largest page {size / 1e6:.1f} MB)" in result.stdout


def test_crops_and_left_out_micrographs_are_reported_and_fail_the_run(native_run, micrographs):
    """The crop is one line, the micrograph left out is another with the flag that lets it in,
    and the run exits non-zero."""
    result, _ = native_run
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("explorer pages")]
    assert lines == [
        f"cropped {micrographs / 'grain.png'} from 42x30 to 40x28 (bottom and right edges)",
        f"left out {micrographs / 'etched/big.png'}: 64x64 is 4,096 pixels, more than the 2,000 a "
        "page holds; crop the region to explore, or resize it",
        "(--max-pixels sets how many pixels a page may hold)",
        "1 micrograph(s) could not be explored",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--model", "nowhere/model.keras"],
            "no model at nowhere/model.keras: run codes/build_convolutional_autoencoder.py first "
            "(stage 1), or pass --model pretrained",
        ),
        (["--bits", "12"], "argument --bits: invalid choice: 12 (choose from 8, 16)"),
        (["--max-pixels", "0"], "argument --max-pixels: must be at least 1, got 0"),
        (["--resize", "big"], "argument --resize: expected a whole number, got 'big'"),
        (["--inputs", "{empty}"], "no images in"),
    ],
)
def test_bad_input_is_one_clear_line(arguments, message, saved_model, micrographs, tmp_path):
    """Each mistake is one 'error:' line, found before Keras starts, and nothing is written."""
    valid = ["--inputs", str(micrographs), "--model", str(saved_model)]
    scripts.assert_mistake_is_one_line(run_explorer, valid, arguments, message, tmp_path)


def test_help_explains_every_flag_without_starting_keras():
    """--help lists every flag, and answering it imports neither Keras nor TensorFlow."""
    result = run_explorer("--help")
    assert result.returncode == 0
    for flag in ("--inputs", "--outputs", "--model", "--layer", "--resize", "--max-pixels"):
        assert flag in result.stdout
    assert "--bits {8,16}" in result.stdout
    assert scripts.keras_modules_after_help("explore_attributions.py") == []
