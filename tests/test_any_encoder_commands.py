"""A user's own encoder through every command: stage 2, stage 3, the explorer, the evaluation
and the region statistics, for a U-Net asked for its bottleneck."""

import json

import numpy as np
import pytest
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
    folder = tmp_path_factory.mktemp("micrographs")
    rng = np.random.default_rng(4)
    for index in range(2):
        values = np.round(255 * models.grains(rng, 24, 32)).astype(np.uint8)
        Image.fromarray(values).save(folder / f"m{index}.png")
    return folder


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
    API's of the colour image; a grey model gets the micrograph grey, with a line saying how."""
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
    grey = build("denoising_autoencoder")
    grey.model.save(tmp_path / "grey.keras")
    told = scripts.run(
        "obtain_attribution_contours.py",
        *("--inputs", str(folder), "--outputs", str(tmp_path / "grey"), "--model"),
        *(str(tmp_path / "grey.keras"), "--layer", "code", "--resize", "none"),
    )
    assert told.returncode == 0, told.stderr
    assert "rgb.png: " in told.stderr and "grey" in told.stderr
