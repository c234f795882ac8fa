"""Figures for notebooks: the heatmap, overlay and panel as matplotlib Figures, the same pictures
stage 3 writes, and progress bars through tqdm where it is installed."""

import io
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

import complexstep
import models
from complexstep.io.images import save_figure
from complexstep.rendering import heatmaps as rendering
from rendering_helpers import (
    TEST_DPI,
    assert_close_colours,
    block_centres,
    expected_colours,
    read_rgb,
    sample_map,
)


def figure_pixels(figure: Figure, dpi: float) -> np.ndarray:
    """A figure drawn as a PNG, as a notebook shows it, decoded to float64 RGB."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return read_rgb(buffer)


def test_heatmap_figure_colours_match_independent_rendering(tmp_path):
    """Each map pixel of the returned figure has the colormap's colour of its smoothed value."""
    raw = sample_map(16, 28)
    style = rendering.HeatmapStyle(dpi=TEST_DPI)
    values, _ = rendering.heatmap_values(raw, style.sigma)
    figure = rendering.heatmap_figure(values, style)
    assert isinstance(figure, Figure)
    figure.savefig(tmp_path / "figure.png", dpi=TEST_DPI)
    assert_close_colours(
        block_centres(tmp_path / "figure.png", raw.shape),
        expected_colours(raw, 1.0, "bwr", 0.15, 0.4),
    )


@pytest.mark.parametrize("view", ["heatmap", "overlay", "panel"])
def test_written_pictures_are_the_figures(tmp_path, view):
    """A heatmap, an overlay and a panel saved by ``images.save_figure`` hold exactly the pixels
    of the figure the matching function returns."""
    raw = sample_map()
    micrograph = np.linspace(0.0, 1.0, raw.size).reshape(raw.shape)
    style = rendering.HeatmapStyle(dpi=TEST_DPI)
    values, _ = rendering.heatmap_values(raw, style.sigma)
    path = tmp_path / f"{view}.png"
    if view == "heatmap":
        figure, dpi = rendering.heatmap_figure(values, style), TEST_DPI
        save_figure(rendering.heatmap_figure(values, style), path, dpi)
    elif view == "overlay":
        figure, dpi = rendering.overlay_figure(values, micrograph, style), TEST_DPI
        save_figure(rendering.overlay_figure(values, micrograph, style), path, dpi)
    else:
        figure = rendering.panel_figure("sample", raw, values, style, micrograph)
        dpi = rendering.PANEL_MAXIMUM_DPI
        save_figure(rendering.panel_figure("sample", raw, values, style, micrograph), path, dpi)
    np.testing.assert_array_equal(figure_pixels(figure, dpi), read_rgb(path))


def test_figures_take_the_papers_style_by_default():
    """Without a style, a figure is coloured with the paper's bwr between 0.15 and 0.4."""
    raw = sample_map()
    values, _ = rendering.heatmap_values(raw, 1.0)
    pixels = figure_pixels(rendering.heatmap_figure(values), TEST_DPI)
    height, width = (side * TEST_DPI // 100 for side in raw.shape)
    # The map fills the picture's left part; its colour bar stands at the right.
    assert pixels.shape[0] == height and pixels.shape[1] > width
    centres = pixels[
        TEST_DPI // 200 : height : TEST_DPI // 100, TEST_DPI // 200 : width : TEST_DPI // 100
    ]
    assert_close_colours(centres, expected_colours(raw, 1.0, "bwr", 0.15, 0.4))


@pytest.fixture(scope="module")
def small_image():
    return models.smooth_images(np.random.default_rng(5), 1)[0, :64, :64, 0]


def test_show_progress_draws_a_tqdm_bar_to_the_total(random_model, small_image, capsys):
    """With tqdm installed, show_progress=True draws a bar that ends at every pass, and the map
    is the one computed without it."""
    pytest.importorskip("tqdm")
    quiet = complexstep.attribute(random_model, small_image)
    shown = complexstep.attribute(random_model, small_image, show_progress=True)
    np.testing.assert_array_equal(shown, quiet)
    total = complexstep.Explainer(random_model).passes(64, 64)
    bar = capsys.readouterr().err
    assert "attribution" in bar and f"{total}/{total}" in bar


def test_show_progress_without_tqdm_is_silent(random_model, small_image, capsys, monkeypatch):
    """Where tqdm cannot be imported, show_progress=True shows nothing and still gives the map."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    values = complexstep.jacobian(random_model, small_image, show_progress=True).column_norms()
    assert values.shape == (64, 64)
    assert capsys.readouterr().err == ""


def test_wavelet_and_region_pictures_are_their_figures(tmp_path):
    """Every wavelet picture and the region outlines are written with exactly the pixels of the
    figure the matching function returns, so that a notebook shows what stage 3 writes."""
    from complexstep.rendering import regions as region_rendering
    from complexstep.rendering import wavelets as wavelet_rendering
    from rendering_helpers import WAVELET_BASIS, sample_wavelet_map

    values = sample_wavelet_map()
    style = wavelet_rendering.WaveletStyle(dpi=TEST_DPI)
    summary = WAVELET_BASIS.summary(values)
    raw = sample_map()
    regions = {"left": np.zeros(raw.shape, bool), "right": np.ones(raw.shape, bool)}
    regions["left"][:, : raw.shape[1] // 2] = True
    regions["right"] &= ~regions["left"]
    heat = rendering.HeatmapStyle(dpi=TEST_DPI)
    pairs = {
        "layout": (
            wavelet_rendering.layout_figure("a", values, WAVELET_BASIS, style),
            lambda path: save_figure(
                wavelet_rendering.layout_figure("a", values, WAVELET_BASIS, style), path, TEST_DPI
            ),
        ),
        "scales": (
            wavelet_rendering.scales_figure("a", values, WAVELET_BASIS, style),
            lambda path: save_figure(
                wavelet_rendering.scales_figure("a", values, WAVELET_BASIS, style), path, TEST_DPI
            ),
        ),
        "shares": (
            wavelet_rendering.shares_figure("a", summary, style),
            lambda path: save_figure(
                wavelet_rendering.shares_figure("a", summary, style), path, TEST_DPI
            ),
        ),
        "outlines": (
            region_rendering.outlines_figure(raw, regions, heat),
            lambda path: save_figure(
                region_rendering.outlines_figure(raw, regions, heat), path, TEST_DPI
            ),
        ),
    }
    for name, (figure, render) in pairs.items():
        assert isinstance(figure, Figure), name
        path = render(tmp_path / f"{name}.png")
        np.testing.assert_array_equal(figure_pixels(figure, TEST_DPI), read_rgb(path), name)
