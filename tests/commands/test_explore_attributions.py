"""The explorer's script as a user runs it: its files, its report and its one-line errors."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import complexstep
import explorer_helpers
import scripts
from complexstep.folders import loop

run_explorer = scripts.runner("explore_attributions.py")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return explorer_helpers.saved_small_autoencoder(tmp_path_factory.mktemp("models"), seed=14)


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
    assert (
        f"(layer 'code', 16-bit Jacobians, heatmaps each map min-max scaled; largest page "
        f"{size / 1e6:.1f} MB)"
    ) in result.stdout


def test_crops_and_left_out_micrographs_are_reported_and_fail_the_run(native_run, micrographs):
    """The crop is one line, the micrograph left out is another with the flag that lets it in,
    and the run exits non-zero."""
    result, _ = native_run
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("explorer pages")]
    assert lines == [
        f"{micrographs / 'grain.png'}: converted its colour to grey by the ITU-R 601 luma weights "
        "(0.299, 0.587, 0.114); choose a channel to read one instead",
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
            "no model at nowhere/model.keras: run python codes/build_convolutional_autoencoder.py "
            "first (stage 1), or pass --model pretrained",
        ),
        (["--bits", "12"], "argument --bits: invalid choice: 12 (choose from 8, 16)"),
        (["--max-pixels", "0"], "argument --max-pixels: must be at least 1, got 0"),
        (["--resize", "big"], "argument --resize: expected a whole number, got 'big'"),
        (["--inputs", "{empty}"], "no images in"),
        (
            ["--scale", "run"],
            "argument --scale: invalid choice: 'run' (choose from 'map', 'folder')",
        ),
        (["--shard", "3/3"], "argument --shard: K/N needs 0 <= K < N, got 3/3"),
        (
            ["--cluster", "local:0"],
            "argument --cluster: a local cluster is local:N with N worker processes, N >= 1",
        ),
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
    flags = ("--inputs", "--outputs", "--model", "--layer", "--resize", "--max-pixels", "--scale")
    for flag in (*flags, "--shard", "--cluster", "--pixel-size"):
        assert flag in result.stdout
    assert "--bits {8,16}" in result.stdout
    assert scripts.keras_modules_after_help("explore_attributions.py") == []


def test_a_shard_with_a_pixel_size_and_a_folder_scale_writes_its_pages_only_without_dask(
    saved_model, tmp_path
):
    """--shard 1/3 writes the pages of that shard's micrographs and of no other, --pixel-size
    reaches them, --scale folder colours them on one range, and neither the run nor --help loads
    Dask."""
    micrographs = tmp_path / "micrographs"
    micrographs.mkdir()
    rng = np.random.default_rng(21)
    for index in range(6):
        values = (rng.random((16, 16)) * 255).astype(np.uint8)
        Image.fromarray(values).save(micrographs / f"m{index}.png")
    outputs = tmp_path / "out"
    arguments = ["--inputs", str(micrographs), "--outputs", str(outputs), "--resize", "none"]
    arguments += ["--model", str(saved_model), "--shard", "1/3", "--scale", "folder"]
    returncode, stderr, loaded = scripts.run_watching_imports(
        "explore_attributions.py", [*arguments, "--pixel-size", "0.25"]
    )
    assert returncode == 0, stderr
    assert loaded == []
    wanted = sorted(
        path.stem for path in micrographs.glob("*.png") if loop.in_shard(Path(path.name), (1, 3))
    )
    assert 0 < len(wanted) < 6
    pages = sorted(outputs.glob("explore_*.html"))
    assert [path.stem.removeprefix("explore_") for path in pages] == wanted
    assert sorted(path.stem for path in outputs.glob("activations_*.png")) == [
        f"activations_{stem}" for stem in wanted
    ]
    assert sorted(path.name for path in outputs.iterdir() if path.name.startswith(".")) == []
    datas = [explorer_helpers.page_data(path) for path in pages]
    attributions = [explorer_helpers.unpack(data["arrays"]["attribution"]) for data in datas]
    low = min(float(values.min()) for values in attributions)
    high = max(float(values.max()) for values in attributions)
    for data in datas:
        assert data["pixelSize"] == 0.25 and data["scaleBar"]["label"] == "500 nm"
        assert data["heatmap"]["range"] == pytest.approx([low, high], rel=1e-6)
    assert f"coloured {len(wanted)} page(s) on one range of raw attributions" in stderr
    assert scripts.run_watching_imports("explore_attributions.py", ["--help"])[2] == []
