"""A user's own encoder through every command: stage 2, stage 3, the explorer, the evaluation
and the region statistics, for a U-Net asked for its bottleneck; stages 2 and 3 for a 3-D model
of TIFF stacks."""

import json

import keras
import numpy as np
import pytest
import tifffile
from PIL import Image

import complexstep
import models
import scripts
from encoder_zoo import build


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    """The zoo's U-Net with random weights, saved as a user saves a model."""
    path = tmp_path_factory.mktemp("models") / "unet.keras"
    encoder = build("unet_bottleneck")
    encoder.model.save(path)
    return path


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Two grey 24x32 micrographs of grains."""
    return models.write_grain_folder(tmp_path_factory.mktemp("micrographs"), 2, 24, 32, seed=4)


def test_stage_2_explains_a_unet_at_its_bottleneck_as_the_api_does(unet, micrographs, tmp_path):
    """Stage 2 writes the map the API gives for each micrograph, at its own size, and says how
    many passes of which direction each takes."""
    outputs = tmp_path / "maps"
    result = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(micrographs), "--outputs", str(outputs), "--model", str(unet)),
        *("--layer", "bottleneck", "--resize", "none"),
    )
    assert result.returncode == 0, result.stderr
    assert "wrote the attribution maps of 2 image(s)" in result.stdout
    for index in range(2):
        image = np.asarray(Image.open(micrographs / f"m{index}.png"), np.float32) / 255
        expected = complexstep.attribute(str(unet), image, layer="bottleneck")
        written = np.load(outputs / f"m{index}.npy")
        np.testing.assert_allclose(written, expected, rtol=0, atol=1e-5 * expected.max())
        assert json.loads((outputs / f"m{index}.json").read_text())["layer"] == "bottleneck"
    resized = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(micrographs), "--outputs", str(tmp_path / "square"), "--model"),
        *(str(unet), "--layer", "bottleneck", "--resize", "32", "--method", "complex-step"),
    )
    assert resized.returncode == 0, resized.stderr
    assert "each 32x32 micrograph takes " in resized.stdout
    assert "forward passes, one per lattice of pixels" in resized.stdout

    heatmaps = scripts.run(
        "generate_heatmaps.py",
        *("--inputs", str(outputs), "--outputs", str(tmp_path / "smaps"), "--dpi", "100"),
    )
    assert heatmaps.returncode == 0, heatmaps.stderr
    assert len(list((tmp_path / "smaps").glob("smp_cpa_*.jpeg"))) == 2
    regions = scripts.run(
        "measure_regions.py",
        *("--inputs", str(outputs), "--micrographs", str(micrographs)),
        *("--outputs", str(tmp_path / "regions"), "--samples", "200"),
    )
    assert regions.returncode == 0, regions.stderr
    assert (tmp_path / "regions" / "regions.csv").is_file()


def test_the_explorer_and_the_evaluation_take_the_unet(unet, micrographs, tmp_path):
    """The explorer writes a page of each micrograph and the evaluation its tables, for the
    U-Net's bottleneck."""
    explored = scripts.run(
        "explore_attributions.py",
        *("--inputs", str(micrographs), "--outputs", str(tmp_path / "pages"), "--model"),
        *(str(unet), "--layer", "bottleneck", "--resize", "none"),
    )
    assert explored.returncode == 0, explored.stderr
    assert len(list((tmp_path / "pages").glob("*.html"))) == 2
    evaluated = scripts.run(
        "evaluate_attributions.py",
        *("--inputs", str(micrographs), "--outputs", str(tmp_path / "evaluation"), "--model"),
        *(str(unet), "--layer", "bottleneck", "--resize", "none", "--steps", "4"),
        *("--methods", "complex-step", "occlusion", "--stride", "8", "--sample", "1"),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert (tmp_path / "evaluation" / "metrics.csv").is_file()


def test_a_colour_model_reads_colour_micrographs_and_a_grey_one_is_told(tmp_path):
    """Stage 2 gives a model of three channels each micrograph's colours, and its maps are the
    API's of the colour image; with --per-channel, one map a channel, whose squares add up to
    the pixel map's; a grey model gets the micrograph grey, with a line saying how, and its
    --per-channel is refused on one line."""
    rng = np.random.default_rng(6)
    folder = tmp_path / "colour"
    folder.mkdir()
    colour = np.round(255 * rng.random((24, 32, 3))).astype(np.uint8)
    Image.fromarray(colour).save(folder / "rgb.png")
    encoder = build("rgb_input")
    encoder.model.save(tmp_path / "rgb.keras")
    result = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(folder), "--outputs", str(tmp_path / "maps"), "--model"),
        *(str(tmp_path / "rgb.keras"), "--layer", "code", "--resize", "none"),
    )
    assert result.returncode == 0, result.stderr
    expected = complexstep.attribute(encoder.model, colour / np.float32(255), layer="code")
    written = np.load(tmp_path / "maps" / "rgb.npy")
    np.testing.assert_allclose(written, expected, rtol=0, atol=1e-5 * expected.max())
    each = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(folder), "--outputs", str(tmp_path / "each"), "--model"),
        *(str(tmp_path / "rgb.keras"), "--layer", "code", "--resize", "none", "--per-channel"),
    )
    assert each.returncode == 0, each.stderr
    channels = np.stack([np.load(tmp_path / "each" / f"rgb_c{k}.npy") for k in range(3)], -1)
    np.testing.assert_allclose(
        np.sqrt(np.sum(channels.astype(np.float64) ** 2, axis=-1)),
        expected,
        rtol=0,
        atol=1e-5 * expected.max(),
    )
    for k in range(3):
        assert json.loads((tmp_path / "each" / f"rgb_c{k}.json").read_text())["input_channel"] == k
        assert Image.open(tmp_path / "each" / f"rgb_c{k}.png").size == (32, 24)
    # Stage 3 lays each channel's map over the micrograph it explains, rgb.png.
    drawn = scripts.run(
        "generate_heatmaps.py",
        *("--inputs", str(tmp_path / "each"), "--outputs", str(tmp_path / "smaps")),
        *("--micrographs", str(folder), "--overlay", "--dpi", "100"),
    )
    assert drawn.returncode == 0, drawn.stderr
    assert "no micrograph named" not in drawn.stderr
    assert sorted(path.name for path in (tmp_path / "smaps").glob("overlay_cpa_*")) == [
        f"overlay_cpa_rgb_c{k}.jpeg" for k in range(3)
    ]
    grey = build("denoising_autoencoder")
    grey.model.save(tmp_path / "grey.keras")
    told = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(folder), "--outputs", str(tmp_path / "grey"), "--model"),
        *(str(tmp_path / "grey.keras"), "--layer", "code", "--resize", "none"),
    )
    assert told.returncode == 0, told.stderr
    assert "rgb.png: " in told.stderr and "grey" in told.stderr
    refused = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(folder), "--outputs", str(tmp_path / "no"), "--model"),
        *(str(tmp_path / "grey.keras"), "--layer", "code", "--resize", "none", "--per-channel"),
    )
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "error: one map per channel is made for a model of several input channels; this one "
        "takes grey micrographs: leave out per_channel (--per-channel)"
    ]


@pytest.fixture(scope="module")
def volume_model(tmp_path_factory):
    """A Conv3D encoder of volumes of any size, with 3-D pooling, saved as a user saves it."""
    inputs = keras.Input((None, None, None, 1))
    x = keras.layers.Conv3D(3, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling3D(2)(x)
    code = keras.layers.Conv3D(2, 3, activation="tanh", padding="same", name="code")(x)
    path = tmp_path_factory.mktemp("models") / "volume.keras"
    keras.Model(inputs, code).save(path)
    return path


def test_a_3d_model_explains_each_tiff_stack_whole_through_stages_2_and_3(volume_model, tmp_path):
    """Stage 2 reads a 9-page stack of 13x10 frames as one volume, crops it to 8x12x10 (the
    network's multiples of 2) on one line, and writes the map the API gives for that volume,
    with its picture of three middle slices; a .npy array beside it is a volume too; stage 3
    draws its heatmap of them, saying so. A resize or a choice of pages, which a volume has no
    use for, is refused on one line."""
    inputs = tmp_path / "stacks"
    inputs.mkdir()
    stack = np.round(255 * np.random.default_rng(2).random((9, 13, 10))).astype(np.uint8)
    tifffile.imwrite(inputs / "sample.tif", stack)
    cube = np.random.default_rng(3).random((6, 8, 10)).astype(np.float32)
    np.save(inputs / "cube.npy", cube)
    outputs = tmp_path / "maps"
    common = ("--inputs", str(inputs), "--model", str(volume_model), "--layer", "code")
    result = scripts.run(
        "obtain_attribution_contours.py", *common, "--outputs", str(outputs), "--resize", "none"
    )
    assert result.returncode == 0, result.stderr
    assert f"{inputs / 'sample.tif'}: read its 9 slices (pages) as one volume" in result.stderr
    assert (
        f"cropped {inputs / 'sample.tif'} from 9x13x10 to 8x12x10 (the far end, bottom and right)"
        in result.stderr
    )
    expected = complexstep.attribute(
        str(volume_model), stack[:8, :12, :10].astype(np.float32) / 255, layer="code"
    )
    written = np.load(outputs / "sample.npy")
    assert written.shape == (8, 12, 10)
    np.testing.assert_allclose(written, expected, rtol=0, atol=1e-5 * expected.max())
    assert json.loads((outputs / "sample.json").read_text())["size_explained"] == [8, 12, 10]
    assert f"{inputs / 'cube.npy'}: read its 6 slices (the array's first axis) as one volume" in (
        result.stderr
    )
    expected = complexstep.attribute(str(volume_model), cube, layer="code")
    written = np.load(outputs / "cube.npy")
    np.testing.assert_allclose(written, expected, rtol=0, atol=1e-5 * expected.max())
    # Slices across depth (12x10), height (8x10) and width (8x12), two columns apart.
    assert Image.open(outputs / "sample.png").size == (10 + 10 + 12 + 4, 12)

    heatmaps = scripts.run(
        "generate_heatmaps.py",
        *("--inputs", str(outputs), "--outputs", str(tmp_path / "smaps"), "--dpi", "100"),
    )
    assert heatmaps.returncode == 0, heatmaps.stderr
    assert (tmp_path / "smaps" / "smp_cpa_sample.jpeg").is_file()
    assert (
        f"{outputs / 'sample.png'}: a volume's map, drawn as its middle slices across depth, "
        "height and width, with no scale bar" in heatmaps.stderr
    )
    for flags, message in (
        (("--resize", "64"), "a 3-D model explains each TIFF stack at its own size, not resized"),
        (("--resize", "none", "--pages", "all"), "a 3-D model explains each TIFF stack whole"),
    ):
        refused = scripts.run(
            "obtain_attribution_contours.py", *common, "--outputs", str(tmp_path / "no"), *flags
        )
        assert refused.returncode != 0
        assert refused.stderr.strip().count("\n") == 0 and message in refused.stderr
