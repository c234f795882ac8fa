"""The explorer's data and files: quantisation, what a page holds, its size, the activation figure.

Values are checked against independent computations: the float64 NumPy complex step of
``reference`` for attributions and reconstructions, receptive fields worked out by hand for the
small network, and matplotlib's own colormaps. Pages are read back with ``explorer_helpers``,
which uses the standard library and NumPy alone.
"""

import dataclasses
import re

import matplotlib
import numpy as np
import pytest
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from PIL import Image
from scipy import ndimage

import explorer_helpers
import models
import reference
from complexstep.errors import ModelError, SettingError
from complexstep.explorer import page as explorer
from complexstep.io.images import save_figure
from complexstep.rendering.activations import activations_figure
from complexstep.rendering.heatmaps import PANEL_MAXIMUM_DPI

# A non-square image, so that rows and columns cannot be swapped unnoticed; the small network
# takes multiples of 4.
HEIGHT, WIDTH = 40, 28
PAGE_LIMIT_BYTES = 15e6


@pytest.fixture(scope="module")
def small_model():
    return explorer_helpers.small_autoencoder(seed=11)


@pytest.fixture(scope="module")
def exploration(small_model):
    image = np.random.default_rng(5).random((HEIGHT, WIDTH)).astype(np.float32)
    return explorer.Explorer(small_model).explore(image, "grain </script> boundary")


@pytest.mark.parametrize("bits", [8, 16])
def test_quantised_values_are_within_half_a_step_of_their_window(bits):
    """Each window keeps its values to half a step of its own largest magnitude, and a window of
    zeros stays zero."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 2, 4, 5, 6)) * rng.choice([1e-6, 1.0, 300.0], (3, 2, 4, 1, 1))
    values[1, 0, 2] = 0.0
    integers, scales = explorer.quantise(values, bits)
    largest = 2 ** (bits - 1) - 1
    assert integers.dtype == np.dtype(f"<i{bits // 8}") and integers.shape == values.shape
    np.testing.assert_array_equal(scales, np.abs(values).max(axis=(3, 4)).astype(np.float32))
    # The page's decoding: each integer times its window's scale over the largest integer.
    decoded = integers * (scales[..., None, None].astype(np.float64) / largest)
    error = np.abs(decoded - values)
    assert np.all(error <= scales[..., None, None] / (2 * largest) * (1 + 1e-5))
    assert np.all(np.abs(integers).max(axis=(3, 4))[scales > 0] == largest)
    assert not integers[1, 0, 2].any() and scales[1, 0, 2] == 0


def test_other_bits_are_refused():
    """Only 8 and 16 bits are offered."""
    with pytest.raises(SettingError, match="8 or 16 bits"):
        explorer.quantise(np.zeros((1, 1, 1, 2, 2)), 12)


def test_exploration_is_the_literal_complex_step(small_model, exploration):
    """The attribution is one complex pass per pixel, and the reconstruction the network's output,
    both from the float64 reference."""
    image = exploration.micrograph
    pixels = [(0, 0), (HEIGHT - 1, WIDTH - 1), (17, 9), (3, 25)]
    literal = reference.literal_attribution(small_model, "code", image, pixels)
    np.testing.assert_allclose([exploration.attribution[p] for p in pixels], literal, rtol=1e-5)
    expected = reference.complex_forward(small_model, "reconstruction", image).real[:, :, 0]
    np.testing.assert_allclose(exploration.reconstruction, expected, rtol=1e-5, atol=1e-6)
    code = reference.complex_forward(small_model, "code", image).real
    np.testing.assert_allclose(exploration.jacobian.output, code, rtol=1e-5, atol=1e-6)


def test_receptive_fields_are_those_of_the_network(exploration):
    """Two 3x3 convolutions each before a 2x2 pooling make code cell i see pixels 4i-3 to 4i+6,
    clipped to the image, and every derivative lies inside."""
    for fields, length, count in [
        (exploration.row_fields, HEIGHT, HEIGHT // 4),
        (exploration.column_fields, WIDTH, WIDTH // 4),
    ]:
        cells = np.arange(count)
        np.testing.assert_array_equal(fields[0], np.clip(4 * cells - 3, 0, length - 1))
        np.testing.assert_array_equal(fields[1], np.clip(4 * cells + 6, 0, length - 1))
    dense = exploration.jacobian.to_dense()
    for i, j in np.ndindex(HEIGHT // 4, WIDTH // 4):
        inside = np.zeros((HEIGHT, WIDTH), bool)
        top, bottom = exploration.row_fields[0][i], exploration.row_fields[1][i]
        left, right = exploration.column_fields[0][j], exploration.column_fields[1][j]
        inside[top : bottom + 1, left : right + 1] = True
        assert not dense[i, j][:, ~inside].any()


@pytest.mark.parametrize("bits", [8, 16])
def test_page_data_holds_every_view_and_the_quantised_jacobian(exploration, bits):
    """Read back from the page, the arrays are the exploration's, the Jacobian within its
    quantisation, and the colormaps matplotlib's."""
    data = explorer_helpers.page_data(explorer.page_html(exploration, bits))
    arrays = {name: explorer_helpers.unpack(packed) for name, packed in data["arrays"].items()}
    assert data["name"] == "grain </script> boundary" and data["bits"] == bits
    assert (data["height"], data["width"], data["channels"]) == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(arrays["micrograph"], exploration.micrograph)
    np.testing.assert_array_equal(arrays["attribution"], exploration.attribution)
    np.testing.assert_array_equal(arrays["reconstruction"], exploration.reconstruction)
    np.testing.assert_array_equal(arrays["activations"], exploration.jacobian.output)
    values = exploration.jacobian.values
    largest = 2 ** (bits - 1) - 1
    scales = arrays["scales"][..., None, None].astype(np.float64)
    recovered = arrays["jacobian"] * (scales / largest)
    # Half a step of the window's largest magnitude, and the float32 rounding of the values.
    tolerance = np.abs(values).max(axis=(3, 4), keepdims=True) * (0.5 / largest + 1e-6)
    assert np.all(np.abs(recovered - values) <= tolerance)
    assert data["rowStarts"] == exploration.jacobian.row_starts.tolist()
    assert data["columnFields"] == [axis.tolist() for axis in exploration.column_fields]
    for name, packed in data["colormaps"].items():
        table = matplotlib.colormaps[name](np.linspace(0, 1, 256), bytes=True)[:, :3]
        np.testing.assert_array_equal(explorer_helpers.unpack(packed), table)
    assert data["heatmap"] == {
        "cmap": "bwr",
        "vmin": 0.15,
        "vmax": 0.4,
        "sigma": 1.0,
        "scale": "map",
        "scaleLabel": "each map min-max scaled",
        "range": None,
        "kind": "complex-step",
    }
    assert data["pixelSize"] is None and data["scaleBar"] is None


def test_a_folder_range_scales_the_heatmap_by_the_raw_values_it_gives(exploration):
    """With a run's range, the page's smoothed heatmap is the attribution scaled by that range and
    then smoothed, as scipy smooths it, and the page says so."""
    low, high = 0.0, 2.0 * float(exploration.attribution.max())
    data = explorer_helpers.page_data(explorer.page_html(exploration, value_range=(low, high)))
    expected = ndimage.gaussian_filter(
        (exploration.attribution.astype(np.float64) - low) / (high - low), 1.0, mode="nearest"
    )
    smoothed = explorer_helpers.unpack(data["arrays"]["smoothed"])
    np.testing.assert_allclose(smoothed, expected, rtol=1e-6, atol=1e-7)
    assert smoothed.max() < 0.55
    assert data["heatmap"]["scale"] == "folder" and data["heatmap"]["range"] == [low, high]
    assert data["heatmap"]["scaleLabel"] == "one range for the folder"


@pytest.mark.parametrize(
    "pixel_size, micrometres, label",
    [(0.05, 0.2, "200 nm"), (0.5, 2.0, "2 µm"), (3.0, 10.0, "10 µm")],
)
def test_the_scale_bar_is_the_longest_round_length_in_a_fifth_of_the_width(
    exploration, pixel_size, micrometres, label
):
    """A 28-pixel-wide micrograph gets a bar of 1, 2 or 5 times a power of ten no longer than
    5.6 pixels, given in image pixels for the page to draw."""
    located = dataclasses.replace(exploration, pixel_size=pixel_size)
    data = explorer_helpers.page_data(explorer.page_html(located))
    bar = data["scaleBar"]
    assert data["pixelSize"] == pixel_size
    assert bar["label"] == label and bar["micrometres"] == pytest.approx(micrometres)
    assert bar["pixels"] == pytest.approx(micrometres / pixel_size)
    assert bar["pixels"] <= 0.2 * WIDTH


def test_page_needs_nothing_from_outside_itself(exploration):
    """No script, style sheet, font or image is loaded from a file or address."""
    page = explorer.page_html(exploration)
    assert not re.search(r"""\b(src|href)\s*=\s*["'](?!data:)""", page)
    assert not re.search(r"https?://|@import|url\(|<link(?![^>]*data:)", page)
    assert page.count("<script") == 2 and page.count("<style") == 1


def test_a_256_pixel_page_of_the_paper_code_stays_under_15_mb(random_model, tmp_path):
    """The paper's network on a 256x256 micrograph makes pages well under 15 MB at both depths."""
    image = models.smooth_images(np.random.default_rng(6), 1)[0, :, :, 0]
    exploration = explorer.Explorer(random_model).explore(image, "large")
    sizes = {
        bits: explorer.write_page(tmp_path / f"{bits}.html", exploration, bits).stat().st_size
        for bits in (8, 16)
    }
    assert sizes[8] < sizes[16] < PAGE_LIMIT_BYTES, sizes


def test_activation_figure_shows_every_channel_on_one_scale(exploration, tmp_path):
    """The figure holds the viridis ends: the code's zero and its largest activation."""
    figure = activations_figure(
        exploration.micrograph,
        exploration.jacobian.output,
        exploration.name,
        exploration.layer,
    )
    path = save_figure(figure, tmp_path / "activations.png", PANEL_MAXIMUM_DPI)
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    assert exploration.jacobian.output.min() == 0.0
    for end in (0.0, 1.0):
        colour = np.array(matplotlib.colormaps["viridis"](end, bytes=True)[:3])
        assert np.any(np.abs(pixels - colour).max(axis=1) <= 2), end


def test_a_model_without_one_reconstructed_channel_is_refused():
    """The explorer shows a reconstruction, so a model must output one grey channel."""
    with pytest.raises(ModelError, match="has 2 channels"):
        explorer.Explorer(models.small_autoencoder(seed=1), layer="pool2")


def test_the_activation_figure_has_a_scale_bar_on_the_micrograph_where_its_pixel_size_is_known(
    exploration,
):
    """With pixels of 0.5 µm, the micrograph's bar is 2 µm, 4 image pixels long; without a pixel
    size the figure has none."""

    def bars(pixel_size):
        figure = activations_figure(
            exploration.micrograph,
            exploration.jacobian.output,
            exploration.name,
            exploration.layer,
            pixel_size,
        )
        return [
            artist
            for axes in figure.axes
            for artist in axes.artists
            if isinstance(artist, AnchoredSizeBar)
        ], figure

    found, figure = bars(0.5)
    assert len(found) == 1 and found[0].axes is figure.axes[0]
    (rectangle,) = found[0].size_bar.get_children()
    assert rectangle.get_width() == pytest.approx(2.0 / 0.5)
    assert found[0].txt_label.get_text() == "2 µm"
    assert bars(None)[0] == []


def test_a_weighted_kind_shows_its_own_map_with_its_own_colour_limits(small_model):
    """The page's attribution is stage 2's map of the kind asked for, the Jacobian unchanged, and
    its heatmap opens at the kind's limits rather than the paper's."""
    image = np.random.default_rng(6).random((HEIGHT, WIDTH)).astype(np.float32)
    plain = explorer.Explorer(small_model).explore(image, "plain")
    weighted = explorer.Explorer(small_model, kind="gradient-input", baseline="mean").explore(
        image, "weighted"
    )
    np.testing.assert_allclose(
        weighted.attribution,
        plain.attribution * np.abs(image - image.mean()),
        rtol=1e-4,
        atol=1e-7,
    )
    np.testing.assert_array_equal(weighted.jacobian.values, plain.jacobian.values)
    heatmap = explorer.page_data(weighted)["heatmap"]
    assert (heatmap["kind"], heatmap["vmin"], heatmap["vmax"]) == ("gradient-input", 0.0, 1.0)
    assert explorer.page_data(plain)["heatmap"]["vmin"] == 0.15
    assert explorer.page_data(weighted)["attributionLabel"] == "attribution (gradient-input)"
    assert explorer.page_data(plain)["attributionLabel"] == "attribution ‖∂code/∂pixel‖"
