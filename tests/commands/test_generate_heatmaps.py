"""Tests of codes/generate_heatmaps.py, run as a user runs it: a subprocess from the repo root.

Most properties are read from one shared run over a small tree of inputs that holds every case at
once (a map with its .npy and micrograph, a constant map, a map without micrograph, an unreadable
file, equal stems in two subfolders), because each run pays matplotlib's start-up time. Colours
are checked with the independent rendering of rendering_helpers.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scripts
from rendering_helpers import (
    BLOCK,
    TEST_DPI,
    assert_close_colours,
    block_centres,
    expected_colours,
    image_size,
    sample_map,
    sample_wavelet_map,
    save_grey,
    save_wavelet_map,
    unit_map,
)

REPOSITORY = scripts.REPOSITORY
MAP_SIDE = 24


run_script = scripts.runner("generate_heatmaps.py")


def report_lines(stderr: str) -> list[str]:
    """The lines of standard error other than the progress line."""
    return [line for line in stderr.splitlines() if not line.startswith("heatmaps [")]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A folder of inputs and micrographs covering every case the script handles."""
    root = tmp_path_factory.mktemp("stage3")
    inputs = root / "sinps"
    # The grey image is deliberately unlike the .npy beside it, so the colours tell which was read.
    save_grey(inputs / "all" / "grain.png", np.zeros((MAP_SIDE, MAP_SIDE)))
    np.save(inputs / "all" / "grain.npy", sample_map(MAP_SIDE, MAP_SIDE).astype(np.float32))
    save_grey(inputs / "all" / "flat.png", np.full((MAP_SIDE, MAP_SIDE), 0.3))
    save_grey(inputs / "extra" / "grain.png", np.eye(MAP_SIDE))
    save_grey(inputs / "extra" / "lonely.png", np.eye(MAP_SIDE))
    (inputs / "all" / "broken.png").write_bytes(b"not an image")
    save_grey(root / "micrographs" / "grain.tif", np.full((30, 30), 0.5))
    save_grey(root / "micrographs" / "flat.jpg", np.full((MAP_SIDE, MAP_SIDE), 0.5))
    return root


@pytest.fixture(scope="module")
def full_run(tree) -> subprocess.CompletedProcess:
    """One run over the tree with overlays and panels."""
    return run_script(
        "--inputs",
        str(tree / "sinps"),
        "--outputs",
        str(tree / "smaps"),
        "--micrographs",
        str(tree / "micrographs"),
        "--dpi",
        str(TEST_DPI),
        "--overlay",
        "--panel",
    )


def test_heatmap_colours_come_from_the_npy_beside_the_png(tree, full_run):
    """The heatmap shows the .npy's values, scaled, smoothed and coloured the paper's way."""
    raw = sample_map(MAP_SIDE, MAP_SIDE).astype(np.float32).astype(np.float64)
    assert_close_colours(
        block_centres(tree / "smaps" / "all" / "smp_cpa_grain.jpeg", raw.shape),
        expected_colours(raw, 1.0, "bwr", 0.15, 0.4),
    )


def test_subfolders_are_mirrored_so_equal_stems_do_not_collide(tree, full_run):
    """Inputs of the same stem in different subfolders get heatmaps in matching subfolders."""
    assert (tree / "smaps" / "all" / "smp_cpa_grain.jpeg").is_file()
    assert (tree / "smaps" / "extra" / "smp_cpa_grain.jpeg").is_file()


def test_heatmaps_have_the_map_size_times_dpi(tree, full_run):
    """A 24x24 map at 400 dpi makes a heatmap 96 pixels high, wider by its colour bar."""
    width, height = image_size(tree / "smaps" / "all" / "smp_cpa_grain.jpeg")
    assert height == MAP_SIDE * BLOCK and width > MAP_SIDE * BLOCK


def test_paper_style_draws_the_bare_heatmap_and_overlay(tree, tmp_path):
    """--style paper makes the paper's pictures: a 24x24 map at 400 dpi fills 96x96 pixels."""
    result = run_script(
        "--inputs",
        str(tree / "sinps" / "all"),
        "--outputs",
        str(tmp_path),
        "--micrographs",
        str(tree / "micrographs"),
        "--dpi",
        str(TEST_DPI),
        "--overlay",
        "--style",
        "paper",
    )
    assert "Traceback" not in result.stderr
    for name in ("smp_cpa_grain.jpeg", "overlay_cpa_grain.jpeg"):
        assert image_size(tmp_path / name) == (MAP_SIDE * BLOCK, MAP_SIDE * BLOCK)


def test_unreadable_file_is_one_line_and_fails_the_run(full_run):
    """An unreadable input is reported on one line naming it, and the exit status is non-zero."""
    assert full_run.returncode != 0
    assert len([line for line in report_lines(full_run.stderr) if "broken.png" in line]) == 1


def test_constant_map_is_reported(full_run):
    """A constant map is reported on one line as rendered in one colour."""
    lines = [line for line in report_lines(full_run.stderr) if "flat.png" in line]
    assert len(lines) == 1
    assert "constant" in lines[0]


def test_missing_micrograph_is_one_line(full_run):
    """A map whose micrograph is not found is reported on one line naming it."""
    lines = [line for line in report_lines(full_run.stderr) if "lonely" in line]
    assert len(lines) == 1
    assert "no micrograph" in lines[0]


def test_error_output_has_nothing_but_report_lines(full_run):
    """Standard error holds the progress line and one line per reported map, no traceback."""
    assert "Traceback" not in full_run.stderr
    assert len(report_lines(full_run.stderr)) == 3


def test_overlays_are_written_where_micrographs_are_found(tree, full_run):
    """Overlays exist, at the heatmap's size with its colour bar, exactly for maps whose
    micrograph was found."""
    overlays = sorted(path.relative_to(tree / "smaps") for path in tree.rglob("overlay_cpa_*"))
    assert overlays == [
        Path("all/overlay_cpa_flat.jpeg"),
        Path("all/overlay_cpa_grain.jpeg"),
        Path("extra/overlay_cpa_grain.jpeg"),
    ]
    for overlay in overlays:
        assert image_size(tree / "smaps" / overlay) == image_size(
            tree / "smaps" / "all" / "smp_cpa_grain.jpeg"
        )


def test_panels_are_written_for_every_readable_map(tree, full_run):
    """Every readable map gets a landscape panel PNG, with or without its micrograph."""
    panels = sorted(path.relative_to(tree / "smaps") for path in tree.rglob("panel_*"))
    assert panels == [
        Path("all/panel_flat.png"),
        Path("all/panel_grain.png"),
        Path("extra/panel_grain.png"),
        Path("extra/panel_lonely.png"),
    ]
    for panel in panels:
        width, height = image_size(tree / "smaps" / panel)
        assert height >= 300
        assert width > 1.5 * height


def test_progress_line_reaches_every_input(full_run):
    """The last progress line counts all five inputs, the unreadable one included, as done."""
    progress = [line for line in full_run.stderr.splitlines() if line.startswith("heatmaps [")]
    assert progress
    assert " 5/5 images" in progress[-1]


def test_final_line_counts_what_was_written_where(tree, full_run):
    """The last line of standard output says how many heatmaps went to which folder."""
    last_line = full_run.stdout.strip().splitlines()[-1]
    assert last_line == (
        f"wrote 4 heatmaps to {tree / 'smaps'} (3 overlays, 4 panels, 1 problem listed above)"
    )


def test_no_temporary_files_are_left(tree, full_run):
    """Every output is renamed into place, leaving no partial file in the output folder."""
    assert list((tree / "smaps").rglob(".*.partial-*")) == []


def test_auto_limits_are_accepted(tmp_path):
    """--vmin auto --vmax auto renders every map and exits successfully."""
    save_grey(tmp_path / "in" / "grain.png", unit_map(MAP_SIDE))
    result = run_script(
        "--inputs",
        str(tmp_path / "in"),
        "--outputs",
        str(tmp_path / "out"),
        "--vmin",
        "auto",
        "--vmax",
        "auto",
        "--dpi",
        "100",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "smp_cpa_grain.jpeg").is_file()


def test_earlier_heatmaps_inside_the_input_folder_are_not_inputs(tmp_path):
    """Heatmaps an earlier run wrote inside the input folder are not rendered again."""
    save_grey(tmp_path / "in" / "grain.png", unit_map(MAP_SIDE))
    save_grey(tmp_path / "in" / "maps" / "smp_cpa_old.jpeg", np.eye(MAP_SIDE))
    result = run_script(
        "--inputs", str(tmp_path / "in"), "--outputs", str(tmp_path / "in" / "maps"), "--dpi", "100"
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "in" / "maps").iterdir()) == [
        "smp_cpa_grain.jpeg",
        "smp_cpa_old.jpeg",
    ]


def test_empty_folder_is_one_error_line(tmp_path):
    """A folder without images ends the run with one 'error:' line and exit status 1."""
    result = run_script("--inputs", str(tmp_path), "--outputs", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: no images in {tmp_path} or its subfolders "
        "(looked for .png, .jpg, .jpeg, .tif, .tiff, .bmp, .npy)"
    ]


def test_default_inputs_without_maps_point_to_stage_2(tmp_path):
    """Run with the default inputs before stage 2, the script says in one line that stage 2
    writes the maps it reads, naming stage 2's script, and writes nothing."""
    (tmp_path / "contour_outputs" / "all").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "codes" / "generate_heatmaps.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no attribution maps in contour_outputs/all, where stage 2 writes them: run "
        "python codes/obtain_attribution_contours.py first, or pass --inputs with a folder of maps"
    ]
    assert result.stdout == ""
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == [
        "contour_outputs",
        "contour_outputs/all",
    ]


@pytest.mark.parametrize(
    "arguments",
    [
        ("--sigma", "-1"),
        ("--vmin", "0.5", "--vmax", "0.4"),
        ("--cmap", "no-such-map"),
        ("--dpi", "0"),
    ],
    ids=["negative-sigma", "vmin-above-vmax", "unknown-cmap", "zero-dpi"],
)
def test_invalid_request_is_one_error_line(tmp_path, arguments):
    """A bad setting ends the run with one 'error:' line and exit status 1, writing nothing."""
    save_grey(tmp_path / "in" / "grain.png", np.eye(4))
    outputs = tmp_path / "out"
    result = run_script("--inputs", str(tmp_path / "in"), "--outputs", str(outputs), *arguments)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert not outputs.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--dpi", "abc"), "argument --dpi: expected a number, got 'abc'"),
        (("--dpi", "0"), "argument --dpi: must be from 25 to 2400, got 0"),
        (("--vmin", "low"), "argument --vmin: expected a number or 'auto', not 'low'"),
    ],
    ids=["malformed-dpi", "zero-dpi", "malformed-vmin"],
)
def test_malformed_value_is_one_argument_error_line(tmp_path, arguments, message):
    """A value of the wrong form names its flag on one 'error:' line, with no usage text."""
    save_grey(tmp_path / "in" / "grain.png", np.eye(4))
    outputs = tmp_path / "out"
    result = run_script("--inputs", str(tmp_path / "in"), "--outputs", str(outputs), *arguments)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {message}"]
    assert result.stdout == ""
    assert not outputs.exists()


def test_help_explains_every_flag():
    """--help lists every flag the stage offers."""
    result = run_script("--help")
    assert result.returncode == 0
    for flag in (
        "--inputs",
        "--outputs",
        "--sigma",
        "--cmap",
        "--vmin",
        "--vmax",
        "--dpi",
        "--overlay",
        "--panel",
        "--micrographs",
        "--per-level",
        "--pixel-size",
    ):
        assert flag in result.stdout


def test_stage_does_not_import_tensorflow():
    """Loading the script brings in neither TensorFlow nor Keras, which would slow its start."""
    assert scripts.keras_modules_after_help("generate_heatmaps.py") == []


def test_wavelet_maps_alone_are_drawn_as_layouts_scales_and_shares(tmp_path):
    """A folder of wavelet maps only is drawn as layouts, scales over the micrographs and shares,
    with --per-level and a pixel size, and a pixel size that is not positive is one error line."""
    inputs = tmp_path / "maps"
    inputs.mkdir()
    save_wavelet_map(inputs, "a", sample_wavelet_map())
    # The micrograph the 32x48 map explains, of its size: a map is never stretched onto another.
    save_grey(tmp_path / "micrographs" / "a.png", unit_map(48)[:32])
    common = ["--inputs", str(inputs), "--outputs", str(tmp_path / "out")]
    result = run_script(
        *common,
        "--micrographs",
        str(tmp_path / "micrographs"),
        "--per-level",
        "--pixel-size",
        "0.25",
        "--dpi",
        "100",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "scales_a.png",
        "shares_a.png",
        "wavelet_a.png",
    ]
    assert "1 wavelet map drawn as layout, scales and shares" in result.stdout
    refused = run_script(*common, "--pixel-size", "-1")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("error: argument --pixel-size")
