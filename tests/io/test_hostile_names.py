"""File names a file system allows and text formats do not: bytes that are not UTF-8, and
matplotlib's math markup.

On Linux a name is any bytes; Python keeps those that are not UTF-8 as lone surrogates, which no
UTF-8 writer and no font accepts, and matplotlib reads ``$...$`` as math. Every title draws such a
name as it is written, and every text file writes its undecodable bytes as ``\\xff`` escapes.
"""

import csv
import dataclasses
import json
import os
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import explorer_helpers
import scripts
from complexstep.evaluation.measure import EvaluationSettings
from complexstep.evaluation.methods import AttributionMethods
from complexstep.explorer import page as explorer
from complexstep.folders import evaluation as evaluation_folder
from complexstep.io.images import save_figure
from complexstep.io.names import printable
from complexstep.rendering import evaluation as evaluation_rendering
from complexstep.rendering import training as rendering_training
from complexstep.rendering.activations import activations_figure
from complexstep.rendering.titles import draw_title
from models import grains, small_autoencoder
from rendering_helpers import sample_map, sample_wavelet_map, save_grey, save_wavelet_map

LATIN = os.fsdecode(b"b_\xff\xfe_latin")
"""A stem of Latin-1 bytes, as old Windows software writes them: not UTF-8."""

MATH = "d_bad$\\foo$"
"""A stem matplotlib would read as math markup, with an unknown command."""

STEMS = [LATIN, MATH]


def test_printable_writes_undecodable_bytes_as_escapes():
    """A name's bytes that are not UTF-8 become ``\\xff`` escapes; all else is kept."""
    assert printable(LATIN) == "b_\\xff\\xfe_latin"
    assert printable(MATH) == MATH
    assert printable("grain_é.png") == "grain_é.png"
    assert printable(b"b_\xff.png") == "b_\\xff.png"


@pytest.mark.parametrize("stem", STEMS)
def test_a_title_is_drawn_as_written(tmp_path, stem):
    """A title holding any name is drawn as its printable text, not parsed as math."""
    figure = Figure(figsize=(2, 1))
    axes = figure.subplots()
    texts = [draw_title(figure, stem), draw_title(axes, f"{stem}: axes")]
    figure.savefig(tmp_path / "title.png")
    assert [text.get_text() for text in texts] == [printable(stem), f"{printable(stem)}: axes"]
    assert all(text.get_window_extent().width > 0 for text in texts)


def test_stage_3_draws_panels_and_wavelet_maps_of_any_name(tmp_path):
    """Stage 3 with --panel writes a panel for maps of either name, over their micrographs, and
    the pictures of wavelet maps of either name."""
    inputs = tmp_path / "in"
    for stem in STEMS:
        save_grey(inputs / f"{stem}.png", np.eye(8))
        np.save(inputs / f"{stem}.npy", sample_map(16, 16))
        save_wavelet_map(inputs, f"w{stem}", sample_wavelet_map())
        save_grey(tmp_path / "micrographs" / f"{stem}.png", np.full((16, 16), 0.5))
        save_grey(tmp_path / "micrographs" / f"w{stem}.png", np.full((32, 48), 0.5))
    result = scripts.run(
        "generate_heatmaps.py",
        "--inputs",
        str(inputs),
        "--outputs",
        str(tmp_path / "out"),
        "--micrographs",
        str(tmp_path / "micrographs"),
        "--dpi",
        "100",
        "--panel",
    )
    assert result.returncode == 0, result.stderr
    assert "note" not in result.stderr and "micrograph" not in result.stderr, result.stderr
    for stem in STEMS:
        for name in (
            f"smp_cpa_{stem}.jpeg",
            f"panel_{stem}.png",
            *(f"{prefix}w{stem}.png" for prefix in ("wavelet_", "scales_", "shares_")),
        ):
            with Image.open(tmp_path / "out" / name) as image:
                assert min(image.size) > 1


@pytest.mark.parametrize("stem", STEMS)
def test_the_evaluation_writes_tables_and_panels_of_any_name(tmp_path, stem):
    """The evaluation of a micrograph of either name writes its panel, and its tables name it
    in printable form."""
    inputs = tmp_path / "micrographs"
    inputs.mkdir()
    values = np.round(255 * grains(np.random.default_rng(3), 32, 32)).astype(np.uint8)
    Image.fromarray(values).save(inputs / f"{stem}.png")
    report = evaluation_folder.evaluate_folder(
        inputs,
        tmp_path / "evaluation",
        AttributionMethods(small_autoencoder(4), layer="pool2"),
        names=["edges"],
        settings=EvaluationSettings(steps=2, blur_sigma=2.0),
        resize=32,
    )
    assert report.failed == []
    assert (tmp_path / "evaluation" / f"panel_{stem}.png").is_file()
    for table in ("metrics.csv", "curves.csv"):
        with open(tmp_path / "evaluation" / table, newline="", encoding="utf-8") as file:
            assert {row["image"] for row in csv.DictReader(file)} == {printable(f"{stem}.png")}


@pytest.mark.parametrize("stem", STEMS)
def test_the_evaluation_panel_draws_any_name(tmp_path, stem):
    """A method panel titled by either name is written."""
    image = np.zeros((8, 8))
    figure = evaluation_rendering.method_panel_figure(stem, image, {"a": image})
    save_figure(figure, tmp_path / "panel.png", 100)
    assert (tmp_path / "panel.png").is_file()


@pytest.fixture(scope="module")
def exploration():
    model = explorer_helpers.small_autoencoder(seed=12)
    image = np.random.default_rng(8).random((16, 16)).astype(np.float32)
    return explorer.Explorer(model).explore(image, "grain")


@pytest.mark.parametrize("stem", STEMS)
def test_the_explorer_page_and_figure_show_any_name(tmp_path, exploration, stem):
    """A page of either name is written as UTF-8 and shows the printable name in its title and
    its data; the activation figure of it is written."""
    named = dataclasses.replace(exploration, name=stem)
    text = explorer.write_page(tmp_path / "page.html", named).read_text(encoding="utf-8")
    assert re.search(r"<title>(.*?)</title>", text).group(1).startswith(printable(stem))
    data = json.loads(re.search(r'type="application/json"[^>]*>(.*?)</script>', text, re.S)[1])
    assert data["name"] == printable(stem)
    figure = activations_figure(named.micrograph, named.jacobian.output, named.name, named.layer)
    save_figure(figure, tmp_path / "activations.png", 100)
    assert (tmp_path / "activations.png").is_file()


def test_stage_1_figure_titles_any_name(tmp_path):
    """Stage 1's reconstruction figure is written for test micrographs of either name."""
    originals = np.zeros((2, 8, 8))
    figure = rendering_training.reconstructions_figure(
        originals, originals, [f"{stem}.png" for stem in STEMS]
    )
    path = save_figure(figure, tmp_path / "reconstructions.png", 100)
    assert path.is_file()
