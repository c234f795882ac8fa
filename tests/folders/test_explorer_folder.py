"""The explorer's folder driver as a library: what it writes, reports and refuses."""

import numpy as np
import pytest
import tifffile
from lab_files import FEI_PIXEL_WIDTH_METRES, WIDTH, _fei_text
from PIL import Image
from scipy import ndimage

import explorer_helpers
from complexstep.errors import ImageSizeError, SettingError
from complexstep.explorer import page as explorer
from complexstep.folders import explorer as explorer_folder
from complexstep.io import images


@pytest.fixture(scope="module")
def small_explorer():
    return explorer.Explorer(explorer_helpers.small_autoencoder(seed=13))


@pytest.fixture
def inputs(tmp_path):
    """A 70x40 micrograph in a subfolder, a 64x64 one, two of one stem, and a broken file."""
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for path, shape in [("sub/a.png", (70, 40)), ("big.png", (64, 64)), ("twin.png", (8, 8))]:
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "twin.jpg")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_report_says_what_was_written_cropped_left_out_and_failed(
    small_explorer, inputs, tmp_path, capsys
):
    """Each outcome is listed, the page is the cropped micrograph's, nothing is printed, and
    progress reaches its total."""
    heard = []
    outputs = tmp_path / "outputs"
    report = explorer_folder.explore_folder(
        inputs,
        outputs,
        small_explorer,
        resize=None,
        max_pixels=3000,
        bits=8,
        on_progress=lambda done, total, name: heard.append((done, total, name)),
    )
    page = outputs / "sub" / "explore_a.html"
    assert report.written == [inputs / "sub" / "a.png", inputs / "twin.jpg"]
    assert report.outputs == [
        page,
        outputs / "sub" / "activations_a.png",
        outputs / "explore_twin.html",
        outputs / "activations_twin.png",
    ]
    assert report.cropped == [(inputs / "sub" / "a.png", (70, 40), (68, 40))]
    assert len(report.failed) == 3
    assert report.failed[0] == (
        f"left out {inputs / 'big.png'}: 64x64 is 4,096 pixels, more than the 3,000 a page holds; "
        "crop the region to explore, or resize it"
    )
    assert report.failed[1].startswith(f"cannot read {inputs / 'broken.png'}")
    assert report.failed[2] == (
        f"skipped {inputs / 'twin.png'}: its page would overwrite that of {inputs / 'twin.jpg'}"
    )
    data = explorer_helpers.page_data(page)
    assert data["bits"] == 8 and data["name"] == "a"
    expected = images.read_image(inputs / "sub" / "a.png", size=None)[:68, :40]
    np.testing.assert_array_equal(explorer_helpers.unpack(data["arrays"]["micrograph"]), expected)
    assert heard == [(1, 2, "a.png"), (2, 2, "twin.jpg")]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"bits": 12}, SettingError, "8 or 16 bits"),
        ({"max_pixels": 0}, SettingError, "max_pixels must be at least 1"),
        ({"resize": 30}, ImageSizeError, "multiples of 4"),
    ],
)
def test_impossible_settings_are_refused_before_any_work(
    small_explorer, inputs, tmp_path, settings, error, message
):
    """A setting that cannot work stops the run before anything is written."""
    with pytest.raises(error, match=message):
        explorer_folder.explore_folder(inputs, tmp_path / "outputs", small_explorer, **settings)
    assert not (tmp_path / "outputs").exists()


def test_the_pixel_size_of_the_file_or_the_one_given_reaches_pages_and_figures(
    small_explorer, tmp_path
):
    """An FEI TIFF's pixel size (15 nm) reaches its page, cut of its data bar, with a 500 nm bar;
    a PNG gets the pixel size given, doubled where it is resized to half its side; a PNG without
    one gets no bar, and its page and figure say nothing in µm."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    frame = np.random.default_rng(6).integers(0, 4096, (32, WIDTH)).astype(np.uint16)
    bar = np.full((16, WIDTH), 65535, np.uint16)
    tifffile.imwrite(
        inputs / "sem.tif",
        np.vstack([frame, bar]),
        extratags=[(34682, "s", 0, _fei_text(scanned_rows=32), True)],
    )
    rng = np.random.default_rng(7)
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(inputs / "optical.png")
    report = explorer_folder.explore_folder(inputs, tmp_path / "own", small_explorer, resize=None)
    assert not report.failed
    sem = explorer_helpers.page_data(tmp_path / "own" / "explore_sem.html")
    assert explorer_helpers.unpack(sem["arrays"]["micrograph"]).shape == (32, WIDTH)
    assert sem["pixelSize"] == pytest.approx(FEI_PIXEL_WIDTH_METRES * 1e6)
    # A fifth of 256 pixels of 15 nm is 768 nm: the bar is 500 nm, 33.3 pixels.
    assert sem["scaleBar"]["label"] == "500 nm"
    assert sem["scaleBar"]["pixels"] == pytest.approx(0.5 / 0.015)
    optical = explorer_helpers.page_data(tmp_path / "own" / "explore_optical.html")
    assert optical["pixelSize"] is None and optical["scaleBar"] is None

    report = explorer_folder.explore_folder(
        inputs, tmp_path / "given", small_explorer, resize=32, reading={"pixel_size": 0.1}
    )
    given = explorer_helpers.page_data(tmp_path / "given" / "explore_optical.html")
    assert given["pixelSize"] == pytest.approx(0.2)
    assert given["scaleBar"]["label"] == "1 µm"


@pytest.fixture
def several(tmp_path):
    """Seven 12x12 micrographs, two in a subfolder, of different contrasts, so that their
    attributions span different ranges."""
    folder = tmp_path / "several"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(8)
    for index in range(7):
        where = folder / "sub" if index >= 5 else folder
        values = rng.random((12, 12)) * (0.2 + 0.8 * index / 6)
        Image.fromarray((values * 255).astype(np.uint8)).save(where / f"m{index}.png")
    return folder


def pages_of(outputs):
    """Every page's data under a folder, by path relative to it."""
    return {
        str(path.relative_to(outputs)): explorer_helpers.page_data(path)
        for path in sorted(outputs.rglob("explore_*.html"))
    }


def test_a_folder_scale_colours_every_page_on_the_range_of_all_of_them(
    small_explorer, several, tmp_path
):
    """With scale "folder", each page's heatmap is its attribution scaled by the least and
    greatest attribution of all pages, then smoothed; the note gives the range, and no temporary
    folder is left behind."""
    by_map = pages_of_run(small_explorer, several, tmp_path / "map", "map")
    heard = []
    outputs = tmp_path / "folder"
    report = explorer_folder.explore_folder(
        several,
        outputs,
        small_explorer,
        resize=None,
        scale="folder",
        on_progress=lambda done, total, name: heard.append((done, total)),
    )
    assert len(report.written) == 7 and not report.failed
    assert heard == [(done, 7) for done in range(1, 8)]
    by_folder = pages_of(outputs)
    assert sorted(by_folder) == sorted(by_map) and len(by_folder) == 7
    attributions = {
        name: explorer_helpers.unpack(data["arrays"]["attribution"]).astype(np.float64)
        for name, data in by_folder.items()
    }
    low = min(values.min() for values in attributions.values())
    high = max(values.max() for values in attributions.values())
    assert report.notes == [
        f"coloured 7 page(s) on one range of raw attributions, {low:.6g} to {high:.6g}"
    ]
    tops = []
    for name, data in by_folder.items():
        assert data["heatmap"]["scale"] == "folder"
        assert data["heatmap"]["range"] == pytest.approx([low, high], rel=1e-6)
        expected = ndimage.gaussian_filter(
            (attributions[name] - low) / (high - low), 1.0, mode="nearest"
        )
        smoothed = explorer_helpers.unpack(data["arrays"]["smoothed"])
        np.testing.assert_allclose(smoothed, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            data["arrays"]["attribution"]["data"], by_map[name]["arrays"]["attribution"]["data"]
        )
        assert by_map[name]["heatmap"]["range"] is None
        tops.append(smoothed.max())
    # Pages of weaker contrast stay pale on the shared range, where each would reach 1 alone.
    assert min(tops) < 0.8 * max(tops)
    assert sorted(outputs.rglob(".*")) == []


def pages_of_run(explorer_, inputs, outputs, scale, **settings):
    report = explorer_folder.explore_folder(
        inputs, outputs, explorer_, resize=None, scale=scale, **settings
    )
    assert not report.failed
    return pages_of(outputs)


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_cover_the_folder_once_with_the_pages_of_the_whole_run(
    small_explorer, several, tmp_path, count
):
    """The pages of n shards are the folder's pages, each written by one shard only, and equal
    to those of one run over the folder."""
    whole = pages_of_run(small_explorer, several, tmp_path / "whole", "map")
    written = {}
    for index in range(count):
        pages = pages_of_run(
            small_explorer, several, tmp_path / f"shard{index}", "map", shard=(index, count)
        )
        assert not set(pages) & set(written)
        written.update(pages)
    assert sorted(written) == sorted(whole)
    for name, data in whole.items():
        for array in ("micrograph", "attribution", "activations", "reconstruction"):
            np.testing.assert_allclose(
                explorer_helpers.unpack(written[name]["arrays"][array]),
                explorer_helpers.unpack(data["arrays"][array]),
                rtol=1e-6,
                atol=1e-7,
            )


def test_an_unknown_scale_is_refused_before_any_work(small_explorer, inputs, tmp_path):
    """A scale other than map or folder stops the run before anything is written."""
    with pytest.raises(SettingError, match="unknown scale 'run': choose one of map, folder"):
        explorer_folder.explore_folder(inputs, tmp_path / "outputs", small_explorer, scale="run")
    assert not (tmp_path / "outputs").exists()
