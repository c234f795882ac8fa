"""Data bars found from the pixels where no metadata says where the scan ends: bars drawn in five
vendors' styles beside real micrographs are cropped exactly and said, and no real micrograph
loses a row."""

import numpy as np
import pytest
import tifffile
from lab_files import (
    BAR_STYLES,
    STUDY_TEST_MICROGRAPHS,
    bar_rows,
    frames,
    with_bar,
    write_bar_files,
)
from PIL import Image

from complexstep.io import micrographs

STUDY = sorted(STUDY_TEST_MICROGRAPHS.glob("*.jpg"))
needs_study = pytest.mark.skipif(
    len(STUDY) != 163,
    reason=f"the study's 163 test micrographs are not in {STUDY_TEST_MICROGRAPHS}",
)


@pytest.fixture(scope="module")
def bar_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bars")
    return folder, write_bar_files(folder)


@pytest.mark.parametrize("style", BAR_STYLES, ids=[style.name for style in BAR_STYLES])
def test_a_bar_without_metadata_is_cropped_from_its_pixels_and_said(bar_files, style):
    """The micrograph read is its frame alone, and one note says how many rows went, and where."""
    folder, expected = bar_files
    path = next(folder.glob(f"{style.name}.*"))
    micrograph = micrographs.read_micrograph(path)
    np.testing.assert_allclose(micrograph.pixels, expected[style.name], rtol=0, atol=1e-6)
    rows = bar_rows(style)
    cut = (micrograph.cropped_top, micrograph.cropped_rows)
    assert cut == ((rows, 0) if style.edge == "top" else (0, rows))
    assert micrograph.crop_source == "pixels"
    assert micrograph.notes == (
        f"cropped a {rows}-row data bar its pixels show at the {style.edge} (a flat band with "
        "marks, beyond a straight edge)",
    )
    assert micrographs.frame_size(path) == expected[style.name].shape


def test_no_crop_or_rows_asked_replace_the_bar_found(bar_files):
    """crop_bottom 0 keeps every row; a number of rows cuts those from the bottom instead."""
    folder, expected = bar_files
    path = folder / "jeol.tif"
    kept = micrographs.read_micrograph(path, crop_bottom=0)
    assert kept.pixels.shape == kept.size_read == (256 + 40, 256)
    assert (kept.cropped_rows, kept.crop_source, kept.notes) == (0, None, ())
    assert micrographs.frame_size(path, crop_bottom=0) == (296, 256)
    asked = micrographs.read_micrograph(path, crop_bottom=50)
    assert (asked.pixels.shape, asked.crop_source) == ((246, 256), "crop_bottom")


def test_a_dark_pore_at_the_bottom_edge_is_not_a_bar(tmp_path):
    """A black region reaching the bottom with a curved edge, and rows of flat grey in the frame,
    are the micrograph's: nothing is cropped."""
    frame = frames(1)[0].copy()
    rows, columns = np.mgrid[:256, :256]
    frame[(rows - 256) ** 2 + (columns - 128) ** 2 < 60**2] = 0
    frame[100:103] = 128
    Image.fromarray(frame).save(tmp_path / "pore.png")
    micrograph = micrographs.read_micrograph(tmp_path / "pore.png")
    assert (micrograph.pixels.shape, micrograph.crop_source) == ((256, 256), None)


def test_the_metadata_bar_is_cut_as_it_says_without_looking_at_the_pixels(tmp_path):
    """An FEI file scanning every row keeps them all, even over a drawn bar."""
    frame = with_bar(frames(1)[0], BAR_STYLES[0], 255)
    fei = f"[Image]\r\nResolutionX=256\r\nResolutionY={frame.shape[0]}\r\n"
    tifffile.imwrite(tmp_path / "fei.tif", frame, extratags=[(34682, "s", 0, fei, True)])
    micrograph = micrographs.read_micrograph(tmp_path / "fei.tif")
    assert (micrograph.pixels.shape[0], micrograph.crop_source) == (frame.shape[0], None)


@needs_study
def test_none_of_the_study_test_micrographs_loses_a_row():
    """Each of the 163 test micrographs keeps its full 256 rows, with nothing to say."""
    for path in STUDY:
        micrograph = micrographs.read_micrograph(path)
        assert micrograph.pixels.shape == (256, 256), f"{path.name} lost rows: {micrograph.notes}"
        assert micrograph.notes == ()


@needs_study
@pytest.mark.parametrize("style", BAR_STYLES, ids=[style.name for style in BAR_STYLES])
def test_a_bar_under_each_study_test_micrograph_is_found_exactly(style):
    """The style's bar beside each of the 163 test micrographs is found to the row."""
    for path in STUDY:
        grey = with_bar(np.asarray(Image.open(path).convert("L")), style, 255).astype(float)
        found = micrographs.find_data_bar(grey[::-1] if style.edge == "top" else grey)
        assert found == bar_rows(style), f"{style.name} under {path.name}"
