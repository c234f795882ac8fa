"""The explorer's page in a real browser: headless Chromium, driven through WebDriver.

The page is made from the small network on a non-square image, opened from its file, and worked
as a user works it: the mouse over a pixel, the arrow keys, a click on a code cell. What it draws
is read back from its canvases and checked against the Jacobian computed in Python, coloured with
matplotlib's colormaps.
"""

import dataclasses

import matplotlib
import numpy as np
import pytest

import browser
import explorer_helpers
from complexstep.explorer import page as explorer
from rendering_helpers import assert_close_colours, expected_colours

HEIGHT, WIDTH = 40, 28
# Colours of the page come from 256-entry tables; a value on the edge between two entries may
# take either, and neighbouring entries of 'bwr' differ by at most 3 levels.
NEIGHBOUR_LEVELS = 3


@pytest.fixture(scope="module")
def exploration():
    model = explorer_helpers.small_autoencoder(seed=12)
    image = np.random.default_rng(8).random((HEIGHT, WIDTH)).astype(np.float32)
    return explorer.Explorer(model).explore(image, "grain")


@pytest.fixture(scope="module")
def pages(exploration, tmp_path_factory):
    """The page at both depths, by bits."""
    folder = tmp_path_factory.mktemp("pages")
    return {
        bits: explorer.write_page(folder / f"explore_grain_{bits}.html", exploration, bits)
        for bits in (8, 16)
    }


@pytest.fixture(scope="module")
def driver():
    with browser.chromium() as driver:
        yield driver


@pytest.fixture
def page(driver, pages):
    """The 16-bit page, freshly opened, its console read empty."""
    browser.open_page(driver, pages[16])
    driver.get_log("browser")
    return driver


def canvas(driver, element_id: str) -> np.ndarray:
    """The RGBA pixels of a canvas, (height, width, 4)."""
    width, height, values = driver.execute_script(
        "const canvas = document.getElementById(arguments[0]);"
        "const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);"
        "return [canvas.width, canvas.height, Array.from(pixels.data)];",
        element_id,
    )
    return np.array(values, np.int64).reshape(height, width, 4)


def point_at(driver, element_id: str, row: int, column: int, rows: int, columns: int):
    """Actions that move the mouse to the centre of cell (row, column) of an element showing
    rows x columns cells."""
    element = driver.find_element("id", element_id)
    size = element.size
    x = (column + 0.5) / columns * size["width"] - size["width"] / 2
    y = (row + 0.5) / rows * size["height"] - size["height"] / 2
    return browser.actions(driver).move_to_element_with_offset(element, round(x), round(y))


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def errors(driver) -> list[dict]:
    """The console's errors since it was last read. Reading canvases back, as the tests do, makes
    Chromium advise a different canvas setting, a warning that is not the page's."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def selected_cell(driver) -> tuple[int, int, int] | None:
    cell = driver.execute_script("return window.explorer.state.cell")
    return None if cell is None else (cell["channel"], cell["i"], cell["j"])


def test_page_loads_with_no_console_message_and_fetches_nothing(driver, pages):
    """Opened from its file, each page draws without a console message and loads no resource."""
    for bits, path in pages.items():
        browser.open_page(driver, path)
        assert errors(driver) == []
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert f"quantised to {bits} bits" in text(driver, "summary")


def test_hovering_a_pixel_lights_up_its_jacobian_column(page, exploration):
    """Over a pixel, the channel maps show its Jacobian column, opacity in proportion to each
    value's size, and the page gives the pixel's attribution."""
    y, x = 6, 21
    channels = exploration.jacobian.output_shape[2]
    before = [canvas(page, f"column-{channel}") for channel in range(channels)]
    point_at(page, "micrograph-pane", y, x, HEIGHT, WIDTH).perform()
    assert text(page, "pixel") == f"({y}, {x})"
    shown = float(text(page, "attribution-value"))
    assert shown == pytest.approx(float(exploration.attribution[y, x]), rel=1e-5)
    column = exploration.jacobian.column(y, x)
    expected = np.round(255 * np.abs(column) / np.abs(column).max())
    after = [canvas(page, f"column-{channel}") for channel in range(channels)]
    for channel in range(channels):
        np.testing.assert_allclose(after[channel][:, :, 3], expected[:, :, channel], atol=1)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    assert errors(page) == []


def test_arrow_keys_move_the_cursor_by_one_pixel_or_eight_with_shift(page, exploration):
    """Arrow keys move the cursor, and the page follows it."""
    point_at(page, "heatmap-pane", 10, 10, HEIGHT, WIDTH).perform()
    keys = browser.keys()
    browser.actions(page).send_keys(keys.ARROW_DOWN, keys.ARROW_RIGHT, keys.ARROW_RIGHT).perform()
    assert text(page, "pixel") == "(11, 12)"
    browser.actions(page).key_down(keys.SHIFT).send_keys(keys.ARROW_UP).key_up(keys.SHIFT).perform()
    assert text(page, "pixel") == "(3, 12)"
    shown = float(text(page, "attribution-value"))
    assert shown == pytest.approx(float(exploration.attribution[3, 12]), rel=1e-5)


def test_clicking_a_pixel_selects_the_cell_it_drives_most(page, exploration):
    """A click on a picture goes from the pixel to the code cell of its largest derivative."""
    y, x = 30, 5
    point_at(page, "error-pane", y, x, HEIGHT, WIDTH).click().perform()
    column = np.abs(exploration.jacobian.column(y, x))
    i, j, channel = np.unravel_index(np.argmax(column), column.shape)
    assert selected_cell(page) == (channel, i, j)


@pytest.mark.parametrize("bits", [8, 16])
def test_clicking_a_cell_draws_its_jacobian_row(driver, pages, exploration, bits):
    """A click on a code cell selects it; the page draws its Jacobian row as matplotlib colours it,
    outlines its receptive field and gives its activation."""
    browser.open_page(driver, pages[bits])
    initial = selected_cell(driver)
    code = exploration.jacobian.output
    # The most active cell that is not already selected; an active cell has a row of its own.
    order = np.argsort(code, axis=None)[::-1]
    cells = [np.unravel_index(index, code.shape) for index in order]
    i, j, channel = next(cell for cell in cells if (cell[2], cell[0], cell[1]) != initial)
    before = canvas(driver, "row-map")
    rows, columns = code.shape[:2]
    point_at(driver, f"channel-{channel}", i, j, rows, columns).click().perform()
    assert selected_cell(driver) == (channel, i, j)
    row = exploration.jacobian.row(i, j, channel).astype(np.float64)
    position = 0.5 + 0.5 * row / np.abs(row).max()
    expected = matplotlib.colormaps["bwr"](position, bytes=True)[:, :, :3]
    drawn = canvas(driver, "row-map")
    assert not np.array_equal(drawn, before)
    difference = np.abs(drawn[:, :, :3] - expected)
    assert difference.max() <= NEIGHBOUR_LEVELS and (difference == 0).mean() > 0.95
    assert np.all(drawn[:, :, 3] == 255)
    fields = exploration.row_fields, exploration.column_fields
    assert text(driver, "field") == (
        f"{fields[0][0][i]}–{fields[0][1][i]}, {fields[1][0][j]}–{fields[1][1][j]}"
    )
    assert float(text(driver, "activation-value")) == pytest.approx(code[i, j, channel], rel=1e-5)
    assert errors(driver) == []


def test_heatmap_is_coloured_as_stage_3_and_follows_the_colormap(page, exploration):
    """The heatmap is the scaled, smoothed attribution in bwr between 0.15 and 0.4, as stage 3
    draws it, and choosing another colormap redraws it."""
    raw = exploration.attribution.astype(np.float64)
    drawn = canvas(page, "heatmap")[:, :, :3]
    assert_close_colours(drawn, expected_colours(raw, 1.0, "bwr", 0.15, 0.4))
    page.execute_script(
        "const select = document.getElementById('cmap'); select.value = 'viridis';"
        "select.dispatchEvent(new Event('input'));"
    )
    assert_close_colours(
        canvas(page, "heatmap")[:, :, :3], expected_colours(raw, 1.0, "viridis", 0.15, 0.4)
    )


PIXEL_SIZE = 0.5
"""µm: a fifth of the 28-pixel width is 2.8 µm, so the bar is 2 µm, 4 image pixels."""


@pytest.fixture(scope="module")
def located_page(exploration, tmp_path_factory):
    """A page of the micrograph with its pixel size, coloured on a range twice its largest
    attribution, as a folder of stronger micrographs would give it."""
    located = dataclasses.replace(exploration, pixel_size=PIXEL_SIZE)
    value_range = (0.0, 2.0 * float(exploration.attribution.max()))
    path = tmp_path_factory.mktemp("located") / "explore_grain.html"
    return explorer.write_page(path, located, 16, value_range), value_range


def overlay(driver, pane: str) -> np.ndarray:
    """The RGBA pixels of a picture's overlay canvas, (height, width, 4)."""
    width, height, values = driver.execute_script(
        "const canvas = document.querySelector(`#${arguments[0]} canvas.overlay`);"
        "const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);"
        "return [canvas.width, canvas.height, Array.from(pixels.data)];",
        pane,
    )
    return np.array(values, np.int64).reshape(height, width, 4)


def longest_white_run(pixels: np.ndarray) -> tuple[int, int]:
    """The longest horizontal run of opaque white pixels, and the row it is on."""
    white = np.all(pixels == 255, axis=2)
    best = (0, -1)
    for row, line in enumerate(white):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
        if edges.size:
            best = max(best, (int(np.max(edges[1::2] - edges[::2])), row))
    return best


PANES = ["micrograph-pane", "heatmap-pane", "reconstruction-pane", "error-pane", "sensitivity-pane"]


def test_every_picture_has_a_scale_bar_as_long_as_the_pixel_size_makes_it(driver, located_page):
    """With pixels of 0.5 µm, each picture's bar, drawn in the lower part of its overlay, is
    2 µm: 4 image pixels, as many canvas pixels as the pane enlarges them to, and says so."""
    path, _ = located_page
    browser.open_page(driver, path)
    bar = driver.execute_script("return window.explorer.data.scaleBar")
    assert bar["label"] == "2 µm" and bar["pixels"] == pytest.approx(2.0 / PIXEL_SIZE)
    # Away from the bar's corner, so that the cursor's lines cross none of it.
    point_at(driver, "micrograph-pane", 2, 2, HEIGHT, WIDTH).perform()
    for pane in PANES:
        pixels = overlay(driver, pane)
        length, row = longest_white_run(pixels)
        expected = 2.0 / PIXEL_SIZE * pixels.shape[1] / WIDTH
        assert abs(length - expected) <= 1, (pane, length, expected)
        assert row > 0.8 * pixels.shape[0], pane
    assert errors(driver) == []


def test_positions_and_lengths_are_given_in_micrometres_and_the_scale_is_stated(
    driver, located_page, exploration
):
    """The cursor pixel's position, the receptive field, the zoom window and the micrograph are
    given in µm beside pixels, and the heatmap says it is coloured on the folder's range, which
    scales its values."""
    path, (low, high) = located_page
    browser.open_page(driver, path)
    point_at(driver, "micrograph-pane", 6, 21, HEIGHT, WIDTH).click().perform()
    assert text(driver, "pixel") == "(6, 21); (3, 10.5) µm"
    field = text(driver, "field")
    top, bottom = (int(end) for end in field.split(",")[0].split("–"))
    assert field.endswith("µm)") and f"({(bottom - top + 1) * PIXEL_SIZE:g} × " in field
    assert "(32 × 32 µm) around the cursor" in text(driver, "zoom-caption")
    assert "(20 × 14 µm), pixels of 0.5 µm" in text(driver, "summary")
    caption = text(driver, "heatmap-caption")
    assert caption.startswith("attribution heatmap (one range for the folder, raw 0.00000 to ")
    scaled = np.array(driver.execute_script("return Array.from(window.explorer.scaled)"))
    expected = (exploration.attribution.astype(np.float64).ravel() - low) / (high - low)
    np.testing.assert_allclose(scaled, expected, rtol=1e-6, atol=1e-7)
    assert scaled.max() == pytest.approx(0.5, rel=1e-6)


def test_a_page_without_a_pixel_size_says_nothing_in_micrometres(page):
    """Without a pixel size no picture has a bar and no readout gives µm."""
    point_at(page, "micrograph-pane", 2, 2, HEIGHT, WIDTH).click().perform()
    for pane in PANES:
        assert longest_white_run(overlay(page, pane))[0] == 0, pane
    for element in ("pixel", "field", "zoom-caption", "summary"):
        assert "µm" not in text(page, element), element
    assert "each map min-max scaled" in text(page, "heatmap-caption")


def test_a_channel_zero_on_the_micrograph_is_named_under_its_map_and_in_the_summary(
    driver, tmp_path
):
    """A code channel that a ReLU holds at zero everywhere (its kernel zero, its bias negative)
    is captioned as zero on this micrograph, and the summary names it; live channels are not."""
    model = explorer_helpers.small_autoencoder(seed=12)
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[..., 1], bias[1] = 0.0, -1.0
    model.get_layer("conv2").set_weights([kernel, bias])
    image = np.random.default_rng(8).random((HEIGHT, WIDTH)).astype(np.float32)
    exploration = explorer.Explorer(model).explore(image, "grain")
    path = explorer.write_page(tmp_path / "explore_grain.html", exploration, 8)
    activations = explorer_helpers.unpack(explorer_helpers.page_data(path)["arrays"]["activations"])
    assert np.all(activations[..., 1] == 0) and np.all(np.any(activations[..., [0, 2]], (0, 1)))
    browser.open_page(driver, path)
    captions = [
        element.text for element in driver.find_elements("css selector", "#channels figcaption")
    ]
    assert captions == ["channel 0", "channel 1: zero on this micrograph", "channel 2"]
    assert text(driver, "summary").endswith(
        "Channel 1 of the 3 is zero everywhere on this micrograph: nothing in it moves it off zero."
    )
    assert errors(driver) == []
