"""Runs a hostile user makes of a folder of maps: skipping maps made otherwise, sidecars broken or
of the wrong type, micrographs replaced during a run, maps paired with a micrograph they were not
made from. Each ends in one line for the file concerned, or one refusal, never a wrong map."""

import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

import scripts
from complexstep import api, defaults
from complexstep.errors import FolderError, ImageSizeError
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.folders import loop
from complexstep.folders import regions as regions_folder
from complexstep.io import micrographs
from complexstep.rendering.heatmaps import HeatmapStyle
from models import grains, small_autoencoder

NESTED = "[" * 100_000 + "]" * 100_000
"""A sidecar nested deeper than Python's JSON parser recurses."""


@pytest.fixture(scope="module")
def model():
    return small_autoencoder(5)


@pytest.fixture(scope="module")
def explainer(model):
    return api.Explainer(model, layer="pool2")


def _micrographs(folder, stems=("a", "b", "c"), shape=(32, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for stem in stems:
        values = np.round(255 * grains(rng, *shape)).astype(np.uint8)
        Image.fromarray(values).save(folder / f"{stem}.png")
    return folder


@pytest.fixture
def made(tmp_path, explainer):
    """Three micrographs and their maps, made at their own size."""
    inputs = _micrographs(tmp_path / "micrographs")
    outputs = tmp_path / "maps"
    report = attribution_folder.attribute_folder(inputs, outputs, explainer, resize=None)
    assert len(report.written) == 3
    return inputs, outputs


@pytest.mark.parametrize(
    "changed, differs",
    [
        ({"h": 1e-10}, "h 1e-10"),
        ({"layer": "conv2"}, "layer conv2"),
        ({"resize": 32}, "resize 32"),
        ({"reading": {"intensity": "percentile"}}, "intensity percentile"),
        ({"reading": {"crop_bottom": 8}}, "crop_bottom 8"),
    ],
)
def test_skipping_maps_made_with_other_settings_is_refused(made, model, changed, differs):
    """--skip-existing with another step, layer, resize or reading would report the old maps as
    done: it is refused, naming the setting, and no map changes."""
    inputs, outputs = made
    before = (outputs / "a.npy").read_bytes()
    settings = {"resize": None, **changed}
    explainer = api.Explainer(
        model, layer=settings.pop("layer", "pool2"), h=settings.pop("h", defaults.H)
    )
    with pytest.raises(FolderError, match=f"says its map is .*, not {differs} as asked"):
        attribution_folder.attribute_folder(
            inputs, outputs, explainer, skip_existing=True, **settings
        )
    assert (outputs / "a.npy").read_bytes() == before


def test_sidecars_that_name_the_engine_method_are_read_as_its_engine(made, explainer):
    """Sidecars written before the engine had its name say "method": their maps are left alone
    by a run of that engine, and refused by a run of the other."""
    inputs, outputs = made
    for path in outputs.glob("*.json"):
        sidecar = json.loads(path.read_text())
        sidecar["method"] = sidecar.pop("engine")
        path.write_text(json.dumps(sidecar))
    kept = attribution_folder.attribute_folder(
        inputs, outputs, explainer, resize=None, skip_existing=True
    )
    assert len(kept.existing) == 3 and kept.written == []
    other = api.Explainer(explainer.model, explainer.settings, engine="complex-step")
    with pytest.raises(FolderError, match="says its map is engine jacobian, not engine complex"):
        attribution_folder.attribute_folder(inputs, outputs, other, resize=None, skip_existing=True)


def test_skipping_maps_of_another_model_file_is_refused(tmp_path, model):
    """Maps made from one model file are not left alone for another."""
    inputs = _micrographs(tmp_path / "micrographs")
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    model.save(first)
    small_autoencoder(6).save(second)
    explain = api.Explainer(first, layer="pool2")
    attribution_folder.attribute_folder(inputs, tmp_path / "maps", explain, model_path=first)
    again = api.Explainer(second, layer="pool2")
    with pytest.raises(FolderError, match="says its map is model_sha256 "):
        attribution_folder.attribute_folder(
            inputs, tmp_path / "maps", again, model_path=second, skip_existing=True
        )
    same = attribution_folder.attribute_folder(
        inputs, tmp_path / "maps", explain, model_path=first, skip_existing=True
    )
    assert len(same.existing) == 3 and same.written == []


@pytest.mark.parametrize(
    "sidecar, reason",
    [
        (NESTED, "its JSON nests too deeply"),
        (json.dumps({"h": "small"}), "its 'h' is 'small', not a number"),
        ("[1, 2]", "it is not an object of JSON"),
    ],
)
def test_a_broken_sidecar_is_one_line_and_its_map_made_again(made, explainer, sidecar, reason):
    """With skip_existing, a map whose sidecar cannot be read is made again with one note; the
    others are left alone."""
    inputs, outputs = made
    (outputs / "b.json").write_text(sidecar)
    report = attribution_folder.attribute_folder(
        inputs, outputs, explainer, resize=None, skip_existing=True
    )
    assert report.written == [inputs / "b.png"]
    assert report.existing == [inputs / "a.png", inputs / "c.png"]
    assert report.notes == [
        f"explaining {inputs / 'b.png'} again: cannot read {outputs / 'b.json'}: {reason}"
    ]
    assert json.loads((outputs / "b.json").read_text())["h"] == explainer.h


@pytest.mark.parametrize(
    "sidecar", [NESTED, json.dumps({"kind": ["complex-step"]}), json.dumps({"size_read": "big"})]
)
def test_a_broken_sidecar_is_one_line_in_stage_3_and_the_regions(made, tmp_path, sidecar):
    """Stage 3 and the region statistics give a broken sidecar one line and do the other maps."""
    inputs, outputs = made
    (outputs / "b.json").write_text(sidecar)
    drawn = heatmap_folder.render_folder(
        outputs, tmp_path / "heatmaps", HeatmapStyle(), overlay=True, micrographs=inputs
    )
    assert len(drawn.failed) == 1 and drawn.failed[0].startswith(
        f"skipped {outputs / 'b.png'}: cannot read {outputs / 'b.json'}: "
    )
    assert sorted(path.name for path in drawn.outputs) == [
        "overlay_cpa_a.jpeg",
        "overlay_cpa_c.jpeg",
        "smp_cpa_a.jpeg",
        "smp_cpa_c.jpeg",
    ]
    measured = regions_folder.measure_folder(
        outputs, tmp_path / "regions", inputs, bootstrap=regions_folder.Bootstrap(samples=50)
    )
    assert len(measured.failed) == 1 and measured.failed[0].startswith(
        f"skipped {outputs / 'b.npy'}: cannot read {outputs / 'b.json'}: "
    )
    assert measured.written == [outputs / "a.npy", outputs / "c.npy"]


def test_a_micrograph_replaced_after_planning_is_one_line_and_the_batch_goes_on(
    tmp_path, explainer, monkeypatch
):
    """A micrograph replaced by a smaller one between planning and reading is one line; the
    others of its chunk get their maps."""
    inputs = _micrographs(tmp_path / "micrographs", shape=(64, 64))
    plan = loop.plan

    def plan_then_replace(*arguments, **settings):
        work = plan(*arguments, **settings)
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(inputs / "b.png")
        return work

    monkeypatch.setattr(loop, "plan", plan_then_replace)
    report = attribution_folder.attribute_folder(inputs, tmp_path / "maps", explainer, resize=None)
    assert report.written == [inputs / "a.png", inputs / "c.png"]
    assert report.failed == [
        f"cannot explain {inputs / 'b.png'}: it changed while the run went on, to 32x32, less "
        "than the 64x64 planned from it; run again to explain it"
    ]


def test_a_truncated_micrograph_after_planning_is_one_line(tmp_path):
    """A micrograph cut short after planning is recorded, not raised."""
    inputs = _micrographs(tmp_path / "micrographs", stems=("a",))
    data = (inputs / "a.png").read_bytes()
    (inputs / "a.png").write_bytes(data[: len(data) // 2])
    report = loop.FolderReport()
    assert loop.read_micrograph(loop.Item(inputs / "a.png", (32, 32)), None, report) is None
    assert report.failed == [f"cannot read {inputs / 'a.png'}: image file is truncated"]


def test_a_resized_map_is_paired_with_its_micrograph_resized_as_stage_2_did(tmp_path, explainer):
    """A 270x270 micrograph explained at the default 256 is resized onto its map, as stage 2
    resized it, not cropped by 14 pixels."""
    inputs = _micrographs(tmp_path / "micrographs", stems=("a",), shape=(270, 270))
    attribution_folder.attribute_folder(inputs, tmp_path / "maps", explainer)
    paired = heatmap_folder.micrograph_on_grid(
        inputs / "a.png", tmp_path / "maps" / "a.npy", (256, 256)
    )
    expected = micrographs.read_micrograph(inputs / "a.png").resized(defaults.IMAGE_SIZE).pixels
    np.testing.assert_array_equal(paired, expected)


def test_a_map_of_a_cropped_data_bar_is_paired_with_the_cropped_micrograph(tmp_path, explainer):
    """A map made with rows cut from the bottom is paired with the micrograph less those rows."""
    inputs = _micrographs(tmp_path / "micrographs", stems=("a",), shape=(72, 48))
    attribution_folder.attribute_folder(
        inputs, tmp_path / "maps", explainer, resize=None, reading={"crop_bottom": 24}
    )
    paired = heatmap_folder.micrograph_on_grid(
        inputs / "a.png", tmp_path / "maps" / "a.npy", (48, 48)
    )
    expected = micrographs.read_micrograph(inputs / "a.png").pixels[:48]
    np.testing.assert_array_equal(paired, expected)


def test_a_map_its_micrograph_does_not_give_is_one_line_never_stretched(made, tmp_path):
    """A micrograph of another size than its map's sidecar says was read is one line in the
    region statistics and stage 3's overlays; the other maps are measured and drawn."""
    inputs, outputs = made
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(inputs / "b.png")
    problem = (
        f"{inputs / 'b.png'} is 40x40, not the 32x32 the sidecar of {outputs / 'b.npy'} says "
        "was read: it is not the micrograph the map was made from"
    )
    measured = regions_folder.measure_folder(
        outputs, tmp_path / "regions", inputs, bootstrap=regions_folder.Bootstrap(samples=50)
    )
    assert measured.failed == [f"{outputs / 'b.npy'}: {problem}"]
    drawn = heatmap_folder.render_folder(
        outputs, tmp_path / "heatmaps", HeatmapStyle(), overlay=True, micrographs=inputs
    )
    assert drawn.failed == [problem.replace("b.npy", "b.png")]
    assert not (tmp_path / "heatmaps" / "overlay_cpa_b.jpeg").exists()


def test_a_map_without_sidecar_of_no_size_its_micrograph_gives_is_one_line(tmp_path):
    """Without a sidecar, a map neither the micrograph's crop nor stage 2's resize gives is
    refused, never stretched."""
    inputs = _micrographs(tmp_path / "micrographs", stems=("a",), shape=(100, 100))
    np.save(tmp_path / "a.npy", np.zeros((48, 48), np.float32))
    with pytest.raises(ImageSizeError, match="gives neither cropped nor resized to 256"):
        heatmap_folder.micrograph_on_grid(inputs / "a.png", tmp_path / "a.npy", (48, 48))


def test_names_up_to_the_file_systems_limit_are_explained_and_longer_ones_are_one_line(
    tmp_path, explainer
):
    """A micrograph whose outputs' names take 250 bytes gets its maps, though their temporary
    names would be longer; one whose sidecar's name would take 256 bytes is one line."""
    inputs = _micrographs(tmp_path / "micrographs", stems=("a" * 245, "b" * 251))
    report = attribution_folder.attribute_folder(inputs, tmp_path / "maps", explainer, resize=None)
    assert report.written == [inputs / f"{'a' * 245}.png"]
    assert report.failed == [
        f"cannot write the outputs of {inputs / ('b' * 251 + '.png')}: File name too long"
    ]
    assert not [path for path in (tmp_path / "maps").iterdir() if ".partial-" in path.name]


def test_partial_files_a_killed_stage_3_or_regions_run_left_are_removed(made, tmp_path):
    """The next stage 3 or regions run into a folder removes the old partial files there."""
    inputs, outputs = made
    for folder in ("heatmaps", "regions"):
        (tmp_path / folder).mkdir()
        stale = tmp_path / folder / ".smp_cpa_a.jpeg.partial-abcd1234.jpeg"
        stale.write_bytes(b"half")
        old = time.time() - defaults.STALE_PARTIAL_SECONDS - 60
        os.utime(stale, (old, old))
    drawn = heatmap_folder.render_folder(outputs, tmp_path / "heatmaps", HeatmapStyle())
    measured = regions_folder.measure_folder(
        outputs, tmp_path / "regions", inputs, bootstrap=regions_folder.Bootstrap(samples=50)
    )
    for report, folder in ((drawn, "heatmaps"), (measured, "regions")):
        assert not (tmp_path / folder / ".smp_cpa_a.jpeg.partial-abcd1234.jpeg").exists()
        assert f"removed 1 partial file(s) an interrupted run left in {tmp_path / folder}" in (
            report.notes
        )


def _large_png(path, side: int) -> None:
    """A grey PNG whose header declares side x side pixels, with one compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (side + 1)))
        + chunk(b"IEND", b"")
    )


def test_a_micrograph_over_pillows_own_limit_is_planned_when_the_limit_is_raised(tmp_path):
    """A 14000x14000 PNG, over twice Pillow's default limit, is sized from its header for the
    plan; the reader's own limit, raised or not, decides whether it is read."""
    _large_png(tmp_path / "large.png", 14000)
    assert loop.explained_size(tmp_path / "large.png", None, 16) == (14000, 14000)
    report = loop.FolderReport()
    item = loop.Item(tmp_path / "large.png", (14000, 14000))
    assert loop.read_micrograph(item, None, report, max_pixels=1000) is None
    assert report.failed == [
        f"cannot read {tmp_path / 'large.png'}: 196000000 pixels, more than the 1000 pixels "
        "allowed; raise the pixel limit if the file is trusted"
    ]


def _with_files_of_at_most(size: int) -> None:
    """In the child: files stop growing past ``size`` bytes, as on a disk that is full."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_stage_1_on_a_full_disk_is_one_line(tmp_path):
    """Stage 1 whose models folder cannot take the model's file ends in one line that says the
    run is kept, never a traceback."""
    folder = _micrographs(tmp_path / "micrographs", stems=("a", "b", "c", "d"), shape=(64, 64))
    result = subprocess.run(
        [sys.executable, "codes/build_convolutional_autoencoder.py"]
        + ["--train-dir", str(folder), "--test-dir", str(folder)]
        + ["--models-dir", str(tmp_path / "models"), "--epochs", "1", "--batch-size", "2"]
        + ["--workers", "1"],
        cwd=scripts.REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=lambda: _with_files_of_at_most(64 * 1024),
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1:] == [
        f"error: cannot save the run in {tmp_path / 'models'}: File too large; the last epoch "
        "saved whole is kept: make room and resume"
    ], result.stderr
    assert "Traceback" not in result.stderr
