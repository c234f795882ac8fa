"""SEM TIFFs through stages 2 and 3: the data bar cut, the sidecar written, the scale bar drawn,
and colours that compare between maps."""

import json

import numpy as np
import pytest
import tifffile
from lab_files import FEI_PIXEL_WIDTH_METRES, WIDTH, _fei_text
from PIL import Image

from complexstep import api
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.io import images, provenance
from complexstep.rendering.heatmaps import HeatmapStyle
from rendering_helpers import _longest_white_run

FRAME_ROWS = 32
BAR_ROWS = 16


def _sem_folder(tmp_path):
    """A folder with one 12-bit FEI-style TIFF: a 32-row frame over a 16-row data bar."""
    folder = tmp_path / "sem"
    folder.mkdir()
    frame = np.random.default_rng(5).integers(0, 4096, (FRAME_ROWS, WIDTH)).astype(np.uint16)
    frame[0, 0] = 4095
    bar = np.full((BAR_ROWS, WIDTH), 65535, np.uint16)
    tifffile.imwrite(
        folder / "steel.tif",
        np.vstack([frame, bar]),
        extratags=[(34682, "s", 0, _fei_text(scanned_rows=FRAME_ROWS), True)],
    )
    return folder, frame


def test_sem_tiff_reaches_the_network_without_its_bar_and_its_map_says_what_made_it(
    random_model, tmp_path, monkeypatch
):
    """The frame, over 4095, is what the network sees; the sidecar names the model by its SHA-256,
    the crop, the scaling and the pixel size from the FEI metadata."""
    folder, frame = _sem_folder(tmp_path)
    model_path = tmp_path / "model.keras"
    random_model.save(model_path)
    explainer = api.Explainer(random_model)
    seen = []
    attribute_many = explainer.attribute_many

    def recorded(batch, on_pass=None):
        seen.extend(batch)
        return attribute_many(batch, on_pass)

    monkeypatch.setattr(explainer, "attribute_many", recorded)
    report = attribution_folder.attribute_folder(
        folder, tmp_path / "maps", explainer, resize=None, model_path=model_path
    )
    assert report.failed == []
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], frame / 4095, rtol=0, atol=1e-6)
    assert report.notes == [
        f"{folder / 'steel.tif'}: cropped the {BAR_ROWS}-row data bar below the {FRAME_ROWS} "
        "scanned rows"
    ]
    assert report.cropped == []
    sidecar = json.loads((tmp_path / "maps" / "steel.json").read_text())
    assert sidecar["model_sha256"] == provenance.sha256(model_path)
    assert sidecar["model"] == str(model_path)
    assert (sidecar["layer"], sidecar["engine"], sidecar["domain"]) == ("code", "jacobian", "pixel")
    assert sidecar["kind"] == "complex-step"
    assert sidecar["size_read"] == [FRAME_ROWS + BAR_ROWS, WIDTH]
    assert (sidecar["data_bar_rows"], sidecar["data_bar_source"]) == (BAR_ROWS, "fei_metadata")
    assert sidecar["size_explained"] == [FRAME_ROWS, WIDTH]
    assert (sidecar["intensity"], sidecar["intensity_range"]) == ("bits", [0.0, 4095.0])
    assert sidecar["pixel_size_um"] == pytest.approx(FEI_PIXEL_WIDTH_METRES * 1e6)
    assert sidecar["pixel_size_source"] == "fei_metadata"
    again = attribution_folder.attribute_folder(
        folder, tmp_path / "maps", explainer, resize=None, skip_existing=True
    )
    assert again.existing == [folder / "steel.tif"]


def test_crop_bottom_and_intensity_reach_the_reader_and_are_noted(random_model, tmp_path):
    """--crop-bottom's rows are cut and noted, and dtype scaling divides by 65535."""
    folder, frame = _sem_folder(tmp_path)
    explainer = api.Explainer(random_model)
    report = attribution_folder.attribute_folder(
        folder,
        tmp_path / "maps",
        explainer,
        resize=None,
        reading={"crop_bottom": BAR_ROWS + 16, "intensity": "dtype"},
    )
    path = folder / "steel.tif"
    assert f"{path}: cropped {BAR_ROWS + 16} rows from the bottom, as asked" in report.notes
    sidecar = json.loads((tmp_path / "maps" / "steel.json").read_text())
    assert sidecar["size_explained"] == [FRAME_ROWS - 16, WIDTH]
    assert sidecar["intensity_range"] == [0.0, 65535.0]


def _map(folder, stem, values, pixel_size=None):
    """A map as stage 2 writes it: .npy, .png and, with a pixel size, its sidecar."""
    images.write_array(folder / f"{stem}.npy", values)
    images.write_grey_png(folder / f"{stem}.png", values)
    if pixel_size is not None:
        (folder / f"{stem}.json").write_text(json.dumps({"pixel_size_um": pixel_size}))


def test_heatmap_has_a_scale_bar_as_long_as_the_pixel_size_makes_it(tmp_path):
    """A 200x200 map of 0.05 µm pixels is 10 µm wide: its bar is 2 µm, 40 map pixels, which at
    100 dpi are 40 picture pixels."""
    maps = tmp_path / "maps"
    maps.mkdir()
    values = np.zeros((200, 200))
    values[10, 10] = 1.0
    _map(maps, "a", values, pixel_size=0.05)
    _map(maps, "b", values)
    style = HeatmapStyle(sigma=0.0, dpi=100.0)
    report = heatmap_folder.render_folder(maps, tmp_path / "out", style)
    assert report.failed == []
    # The map fills the picture's left 200 pixels; its colour bar stands at the right, on white.
    picture = np.asarray(Image.open(tmp_path / "out" / "smp_cpa_a.jpeg").convert("L"))[:, :200]
    length, row = _longest_white_run(picture)
    assert abs(length - 2.0 / 0.05) <= 2
    assert row > picture.shape[0] / 2
    unlabelled = np.asarray(Image.open(tmp_path / "out" / "smp_cpa_b.jpeg").convert("L"))[:, :200]
    assert _longest_white_run(unlabelled)[0] == 0
    # Without a sidecar, the pixel size given to the run draws the bar.
    heatmap_folder.render_folder(maps, tmp_path / "given", style, pixel_size=0.1)
    picture = np.asarray(Image.open(tmp_path / "given" / "smp_cpa_b.jpeg").convert("L"))[:, :200]
    assert abs(_longest_white_run(picture)[0] - 2.0 / 0.1) <= 2


def _colour_at(path, row, column):
    return np.asarray(Image.open(path).convert("RGB"), np.int32)[row, column]


@pytest.mark.parametrize("scale", ["map", "folder"])
def test_folder_scale_gives_one_raw_value_one_colour(tmp_path, scale):
    """Two maps of ranges 0-1 and 0-2 share a block of raw value 1: under the folder's scale it has
    one colour in both heatmaps, under each map's own it has two."""
    maps = tmp_path / "maps"
    maps.mkdir()
    for stem, top in (("low", 1.0), ("high", 2.0)):
        values = np.zeros((32, 32))
        values[:8, :8] = top
        values[16:24, 16:24] = 1.0
        _map(maps, stem, values)
    style = HeatmapStyle(sigma=0.0, cmap="viridis", vmin=0.0, vmax=1.0, dpi=100.0, scale=scale)
    report = heatmap_folder.render_folder(maps, tmp_path / "out", style)
    assert report.failed == []
    low = _colour_at(tmp_path / "out" / "smp_cpa_low.jpeg", 20, 20)
    high = _colour_at(tmp_path / "out" / "smp_cpa_high.jpeg", 20, 20)
    if scale == "folder":
        assert np.abs(low - high).max() <= 3
        assert any("one range of raw values, 0 to 2" in note for note in report.notes)
    else:
        assert np.abs(low - high).max() > 50
