"""Micrographs as other labs keep them, through the reader and through stages 2 and 3: ImageJ
calibrations, channels, stacks and every TIFF photometric kind, each conversion said on one line.

Every file is written by the tests (``lab_files``); none is committed.
"""

import json

import numpy as np
import pytest
import tifffile
from lab_files import frames, write_imagej_tiff, write_lab_folder
from PIL import Image

from complexstep import api
from complexstep.commands import cli, explain
from complexstep.errors import SettingError, UnreadableImageError
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.io import images, micrographs
from complexstep.rendering.heatmaps import HeatmapStyle
from rendering_helpers import _longest_white_run


@pytest.fixture(scope="module")
def frame():
    return frames(1, 64)[0]


@pytest.mark.parametrize(
    ("unit", "per_unit", "micrometres"),
    [
        ("nm", 0.1, 0.01),
        ("\\u00B5m", 4.0, 0.25),
        ("micron", 20.0, 0.05),
        ("um", 2.0, 0.5),
        ("mm", 1000.0, 1.0),
        ("cm", 25000.0, 0.4),
        ("inch", 254000.0, 0.1),
    ],
)
def test_imagej_calibration_in_any_unit(tmp_path, frame, unit, per_unit, micrometres):
    """ImageJ/Fiji's unit and the pixels per unit of the resolution tags give the pixel size."""
    path = write_imagej_tiff(tmp_path / "calibrated.tif", frame, unit, per_unit)
    micrograph = micrographs.read_micrograph(path)
    assert micrograph.pixel_size == pytest.approx(micrometres)
    assert micrograph.pixel_size_source == "imagej"


def test_an_uncalibrated_imagej_file_has_no_pixel_size(tmp_path, frame):
    """ImageJ's own unit, the pixel, is no length."""
    path = write_imagej_tiff(tmp_path / "pixels.tif", frame, "pixel", 1.0)
    assert micrographs.read_micrograph(path).pixel_size is None


def test_colour_is_kept_for_a_model_of_three_channels(tmp_path, frame):
    """An RGB image is the model's three channels when it takes three, grey with a note when it
    takes one, and a grey image is repeated, with a note, for a model of three."""
    colour = np.stack([frame, frame // 2, 255 - frame], axis=-1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    kept = micrographs.read_micrograph(tmp_path / "colour.png", channels=3)
    np.testing.assert_allclose(kept.pixels, colour / 255, atol=1e-6)
    assert (kept.channels_read, kept.notes) == ("3 channels", ())
    grey = micrographs.read_micrograph(tmp_path / "colour.png")
    np.testing.assert_allclose(grey.pixels, colour @ micrographs.LUMA / 255, atol=1e-6)
    assert grey.notes[0].startswith("converted its colour to grey by the ITU-R 601 luma")
    Image.fromarray(frame).save(tmp_path / "grey.png")
    repeated = micrographs.read_micrograph(tmp_path / "grey.png", channels=3)
    np.testing.assert_allclose(repeated.pixels, np.repeat(frame[..., None] / 255, 3, -1), 1e-6)
    assert repeated.notes == ("repeated its one grey channel in the model's 3",)


def test_one_channel_of_several_is_read_as_asked(tmp_path, frame):
    """channel K reads that channel alone, says so, and the sidecar's field records it; a channel
    the file lacks, or a model of another count, is one line."""
    two = np.stack([frame, 255 - frame], -1)
    tifffile.imwrite(tmp_path / "two.tif", two, photometric="minisblack", planarconfig="contig")
    second = micrographs.read_micrograph(tmp_path / "two.tif", channel=1)
    np.testing.assert_allclose(second.pixels, (255 - frame) / 255, atol=1e-6)
    assert (second.channel, second.notes) == (1, ("read channel 1 of its 2",))
    with pytest.raises(SettingError, match=r"two.tif has 2 channels \(0 to 1\), not 2$"):
        micrographs.read_micrograph(tmp_path / "two.tif", channel=2)
    with pytest.raises(SettingError, match="two.tif has 2 channels; the model takes 3$"):
        micrographs.read_micrograph(tmp_path / "two.tif", channels=3)


def test_a_stack_is_one_volume_or_pages_by_name(tmp_path, frame):
    """An OME-TIFF Z stack reads whole as (depth, height, width) for a 3-D model; for a 2-D model
    its pages are chosen by 'all', 'first' or a number, and named <stem>_p<k>."""
    stack = np.stack([frame, 255 - frame, frame // 2])
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, stack, ome=True, metadata={"axes": "ZYX"})
    volume = micrographs.read_micrograph(path, volume=True)
    np.testing.assert_allclose(volume.pixels, stack / 255, atol=1e-6)
    assert volume.notes == ("read its 3 slices (Z) as one volume",)
    assert micrographs.page_numbers(path, "all") == [0, 1, 2]
    assert micrographs.page_numbers(path, "first") == [0]
    assert micrographs.page_numbers(path, 2) == [2]
    with pytest.raises(SettingError, match=r"has 3 pages \(0 to 2\), not page 3"):
        micrographs.page_numbers(path, 3)
    with pytest.raises(
        SettingError, match="choose pages all, first or a page number from 0, not 'last'$"
    ):
        micrographs.page_numbers(path, "last")
    assert micrographs.page_stem("stack", 2, 3) == "stack_p2"
    assert micrographs.page_stem("single", 0, 1) == "single"
    Image.fromarray(frame).save(tmp_path / "flat.png")
    with pytest.raises(SettingError, match="only TIFF stacks and .npy arrays hold one"):
        micrographs.read_micrograph(tmp_path / "flat.png", volume=True)


def test_a_numpy_array_is_one_volume_read_as_a_stack_is(tmp_path, frame):
    """A .npy array of (depth, height, width) reads whole as a stack does, its 8-bit values by
    255 and its floats as they are; its size, with a crop asked for, comes from its header. An
    array of another shape, or of objects, is refused on one line naming the file."""
    stack = np.stack([frame, 255 - frame, frame // 2])
    np.save(tmp_path / "stack.npy", stack)
    volume = micrographs.read_micrograph(tmp_path / "stack.npy", volume=True)
    np.testing.assert_allclose(volume.pixels, stack / 255, atol=1e-6)
    assert volume.notes == ("read its 3 slices (the array's first axis) as one volume",)
    assert volume.pixel_size is None
    np.save(tmp_path / "floats.npy", (stack / 255).astype(np.float32))
    floats = micrographs.read_micrograph(tmp_path / "floats.npy", volume=True)
    np.testing.assert_allclose(floats.pixels, stack / 255, atol=1e-6)
    height, width = frame.shape
    assert micrographs.volume_size(tmp_path / "stack.npy") == volume.pixels.shape
    assert micrographs.volume_size(tmp_path / "stack.npy", crop_bottom=4) == (3, height - 4, width)
    cropped = micrographs.read_micrograph(tmp_path / "stack.npy", volume=True, crop_bottom=4)
    assert cropped.pixels.shape == (3, height - 4, width)
    np.save(tmp_path / "flat.npy", frame)
    np.save(tmp_path / "objects.npy", np.array([[[None]]], object), allow_pickle=True)
    for name, message in (
        ("flat", r"its array of shape \(\d+, \d+\) is not \(depth, height, width\)"),
        ("objects", "cannot read .*objects.npy: "),
    ):
        with pytest.raises(UnreadableImageError, match=message) as refused:
            micrographs.read_micrograph(tmp_path / f"{name}.npy", volume=True)
        assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (np.zeros((16, 16, 4), np.uint8), {"photometric": "separated"}, "SEPARATED .CMYK ink"),
        (np.zeros((16, 16), np.complex64), {}, "its samples are complex numbers"),
        (np.full((16, 16), -5, np.int16), {}, "its signed samples go down to -5"),
    ],
    ids=["cmyk", "complex", "negative"],
)
def test_samples_that_are_not_intensities_are_refused_on_one_line(tmp_path, data, options, message):
    """CMYK, complex and negative samples are refused, naming the file, rather than guessed."""
    tifffile.imwrite(tmp_path / "odd.tif", data, **options)
    with pytest.raises(UnreadableImageError, match=f"cannot read .*odd.tif: .*{message}") as caught:
        micrographs.read_micrograph(tmp_path / "odd.tif")
    assert "\n" not in str(caught.value)


def test_resizing_is_said(tmp_path, frame):
    """A micrograph resized to the network's input says from what to what."""
    Image.fromarray(frame[:, :48]).save(tmp_path / "narrow.png")
    resized = micrographs.read_micrograph(tmp_path / "narrow.png").resized(256)
    assert (resized.notes, resized.resize_notes) == ((), ("resized 64x48 to 256x256",))


def test_stage_2_says_each_resize_and_refuses_what_is_too_small_to_resize(random_model, tmp_path):
    """Resizing to 256x256 is one line naming the file and is kept in the sidecar; a 1x1 and a
    2x100 image, smaller than the network's least input, are refused on one line each."""
    folder = tmp_path / "odd"
    folder.mkdir()
    Image.fromarray(frames(1, 64)[0][:, :48]).save(folder / "narrow.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(folder / "dot.png")
    Image.fromarray(np.zeros((2, 100), np.uint8)).save(folder / "line.png")
    explainer = api.Explainer(random_model)
    report = attribution_folder.attribute_folder(folder, tmp_path / "maps", explainer)
    assert report.notes == [f"{folder / 'narrow.png'}: resized 64x48 to 256x256"]
    sidecar = json.loads((tmp_path / "maps" / "narrow.json").read_text())
    assert sidecar["reading_notes"] == ["resized 64x48 to 256x256"]
    assert report.failed == [
        f"{folder / 'dot.png'} is 1x1, smaller than the network's least size, 16x16",
        f"{folder / 'line.png'} is 2x100, smaller than the network's least size, 16x16",
    ]


def test_reading_flags_reach_the_reader():
    """--data-bar auto, none and ROWS, the older --crop-bottom, --channel and --pages become the
    reader's options and stage 2's pages."""
    for flags, crop_bottom in (
        ([], None),
        (["--data-bar", "auto"], None),
        (["--data-bar", "none"], 0),
        (["--data-bar", "40"], 40),
        (["--crop-bottom", "12"], 12),
    ):
        arguments = explain.parse_arguments(flags)
        assert cli.reading(arguments)["crop_bottom"] == crop_bottom
    arguments = explain.parse_arguments(["--channel", "1", "--pages", "all"])
    assert (cli.reading(arguments)["channel"], arguments.pages) == (1, "all")
    assert explain.parse_arguments(["--pages", "3"]).pages == 3
    with pytest.raises(cli.UsageError, match="not allowed with argument"):
        explain.parse_arguments(["--data-bar", "none", "--crop-bottom", "3"])


def test_lab_folder_through_stages_2_and_3(random_model, tmp_path):
    """Every file of the lab folder gives maps of its frames alone, as the API gives them on the
    frame, each conversion said on one line naming the file and kept in the sidecar, and stage 3
    draws scale bars of the length the calibrations give."""
    folder = tmp_path / "lab"
    lab = write_lab_folder(folder)
    explainer = api.Explainer(random_model)
    report = attribution_folder.attribute_folder(
        folder, tmp_path / "maps", explainer, resize=None, pages="all"
    )
    assert report.failed == []
    assert report.cropped == []
    for name, expected in lab.items():
        if expected.note is not None:
            assert report.notes.count(f"{folder / name}: {expected.note}") == 1, name
        for stem, pixels in expected.frames.items():
            values = np.load(tmp_path / "maps" / f"{stem}.npy")
            wanted = api.attribute(random_model, pixels.astype(np.float32))
            np.testing.assert_allclose(values, wanted, rtol=1e-5, atol=1e-7, err_msg=stem)
            sidecar = json.loads((tmp_path / "maps" / f"{stem}.json").read_text())
            assert sidecar["pixel_size_um"] == pytest.approx(expected.pixel_size), stem
            if expected.note is not None and "pages" not in expected.note:
                assert sidecar["reading_notes"] == [expected.note], stem
    for k in range(3):
        assert f"{folder / 'stack.ome.tif'}: 3 pages; read page {k}" in report.notes
    jeol = json.loads((tmp_path / "maps" / "jeol.json").read_text())
    assert (jeol["data_bar_rows"], jeol["data_bar_source"]) == (20, "pixels")
    editor = json.loads((tmp_path / "maps" / "editor.json").read_text())
    assert (editor["data_bar_top_rows"], editor["data_bar_source"]) == (19, "pixels")
    assert json.loads((tmp_path / "maps" / "colour.json").read_text())["channels"] == (
        "RGB to grey by the ITU-R 601 luma weights"
    )

    style = HeatmapStyle(sigma=0.0, dpi=100.0)
    rendered = heatmap_folder.render_folder(
        tmp_path / "maps", tmp_path / "heatmaps", style, overlay=True, micrographs=folder
    )
    assert rendered.failed == []
    for stem, bar in (("micron", 2.0 / 0.1), ("nanometre", 0.5 / 0.02), ("stack.ome_p1", 20)):
        picture = np.asarray(Image.open(tmp_path / "heatmaps" / f"smp_cpa_{stem}.jpeg"))
        # The map fills the picture's left, one map pixel a picture pixel; its colour bar is right.
        width = np.load(tmp_path / "maps" / f"{stem}.npy").shape[1]
        assert abs(_longest_white_run(picture[:, :width].min(axis=-1))[0] - bar) <= 2, stem
    for stem in ("jeol", "editor", "stack.ome_p2", "colour"):
        overlay = Image.open(tmp_path / "heatmaps" / f"overlay_cpa_{stem}.jpeg")
        assert overlay.size == Image.open(tmp_path / "heatmaps" / f"smp_cpa_{stem}.jpeg").size
    assert not any("no micrograph named" in note for note in rendered.notes)
    assert images.read_image(folder / "jeol.tif").shape == (128, 128)
