"""Stage 3 and the evaluation's flags, given files and values no stage 2 would write.

One run of codes/generate_heatmaps.py over a folder that holds every hostile map of the folder
next to good ones: each bad file gets one line, each good one its pictures, and the run goes on.
The hostile files are made here, a few bytes each, rather than kept in the repository.
"""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import scripts
from complexstep import defaults
from complexstep.errors import ImageSizeError, SettingError, UnreadableImageError
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.io import maps
from complexstep.rendering import heatmaps as rendering
from rendering_helpers import (
    WAVELET_BASIS,
    sample_map,
    sample_wavelet_map,
    save_grey,
    save_wavelet_map,
)

run_heatmaps = scripts.runner("generate_heatmaps.py")
run_evaluation = scripts.runner("evaluate_attributions.py")


def write_header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> None:
    """A .npy file whose header declares an array of ``shape`` and which holds no values."""
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": descr, "fortran_order": False, "shape": shape}
        )


def save_pixel_map(folder: Path, stem: str, values: np.ndarray) -> None:
    """A pixel map as stage 2 writes it: the grey picture and the raw values beside it."""
    save_grey(folder / f"{stem}.png", np.eye(8))
    np.save(folder / f"{stem}.npy", values)


def save_summary(folder: Path, stem: str, summary: dict) -> None:
    (folder / f"{stem}.wavelet.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A folder of good and hostile pixel and wavelet maps, and an empty micrograph folder."""
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    (root / "micrographs").mkdir()
    save_pixel_map(inputs, "good", sample_map(16, 16))
    save_grey(inputs / "huge.png", np.eye(8))
    write_header_only(inputs / "huge.npy", (200000, 200000))
    save_grey(inputs / "truncated.png", np.eye(8))
    write_header_only(inputs / "truncated.npy", (1000, 1000))
    save_pixel_map(inputs, "overflow", np.array([[-1e308, 1e308], [0.0, 1.0]]))
    save_pixel_map(inputs, "complex", sample_map(8, 8) + 1j)
    save_pixel_map(inputs, "boolean", np.eye(8, dtype=bool))

    summary = WAVELET_BASIS.summary(sample_wavelet_map())
    save_wavelet_map(inputs, "wgood", sample_wavelet_map())
    for stem, values in (
        ("wstrings", np.full(WAVELET_BASIS.shape, "abc")),
        ("wcomplex", sample_wavelet_map() + 1j),
        ("wboolean", np.ones(WAVELET_BASIS.shape, dtype=bool)),
        ("woverflow", np.where(sample_wavelet_map() > 0.5, 1e308, -1e308)),
    ):
        np.save(inputs / f"{stem}.wavelet.npy", values)
        save_summary(inputs, stem, summary)
    np.save(inputs / "wnegative.wavelet.npy", sample_wavelet_map())
    save_summary(inputs, "wnegative", {**summary, "shape": [-32, 48]})
    np.save(inputs / "wnoshares.wavelet.npy", sample_wavelet_map())
    save_summary(inputs, "wnoshares", {key: summary[key] for key in summary if key != "shares"})
    write_header_only(inputs / "whuge.wavelet.npy", (200000, 200000))
    save_summary(inputs, "whuge", summary)
    return root


@pytest.fixture(scope="module")
def run(hostile) -> subprocess.CompletedProcess:
    return run_heatmaps(
        "--inputs",
        str(hostile / "in"),
        "--outputs",
        str(hostile / "out"),
        "--micrographs",
        str(hostile / "micrographs"),
        "--dpi",
        "100",
    )


def problem_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("heatmaps [")]


def line_about(result: subprocess.CompletedProcess, name: str) -> str:
    """The one line of standard error about the file ``name``."""
    lines = [line for line in problem_lines(result) if f"/{name}" in line]
    assert len(lines) == 1, problem_lines(result)
    return lines[0]


def test_the_run_fails_without_a_traceback_and_draws_the_good_maps(hostile, run):
    """Bad maps make the run fail with exit status 1, while every good map is drawn."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    outputs = hostile / "out"
    assert (outputs / "smp_cpa_good.jpeg").is_file()
    for prefix in ("wavelet_", "scales_", "shares_"):
        assert (outputs / f"{prefix}wgood.png").is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("huge.npy", "declares a 200000x200000 map, larger than any micrograph gives"),
        ("whuge.wavelet.npy", "declares a 200000x200000 map, larger than any micrograph gives"),
        ("truncated.npy", "holds 0 of the 8000000 bytes its header declares"),
        ("overflow.npy", "too wide a range to scale"),
        ("woverflow.wavelet.npy", "too wide a range to scale"),
        ("complex.npy", "values of type complex128, not real numbers"),
        ("wcomplex.wavelet.npy", "values of type complex128, not real numbers"),
        ("boolean.npy", "values of type bool, not real numbers"),
        ("wboolean.wavelet.npy", "values of type bool, not real numbers"),
        ("wstrings.wavelet.npy", "values of type <U3, not real numbers"),
        ("wnegative.wavelet.json", "'shape' must be two whole numbers above 0, not [-32, 48]"),
        ("wnoshares.wavelet.json", "it has no 'shares'"),
    ],
)
def test_each_bad_map_is_one_line_and_draws_nothing(hostile, run, name, message):
    """A map stage 2 could not have written is refused on one line naming it, and not drawn."""
    line = line_about(run, name)
    assert line.startswith("cannot read ") and message in line, line
    stem = name.split(".")[0]
    written = [path.name for path in (hostile / "out").iterdir()]
    for prefix in ("smp_cpa_", "wavelet_", "scales_", "shares_"):
        assert not [other for other in written if other.startswith(f"{prefix}{stem}.")]


def test_a_micrograph_named_like_a_wavelet_map_is_drawn_as_a_pixel_map(tmp_path):
    """Stage 2's pixel map of foo.wavelet.png (foo.wavelet.npy beside foo.wavelet.png, and no
    foo.wavelet.json) is drawn as a heatmap, not refused as a broken wavelet map."""
    save_pixel_map(tmp_path / "in", "foo.wavelet", sample_map(16, 16))
    result = run_heatmaps(
        "--inputs", str(tmp_path / "in"), "--outputs", str(tmp_path / "out"), "--dpi", "100"
    )
    assert result.returncode == 0, result.stderr
    assert problem_lines(result) == []
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "smp_cpa_foo.wavelet.jpeg"
    ]


def test_a_header_is_refused_before_its_values_are_read(tmp_path):
    """A map too large is refused from its header alone: the file holds no values to read."""
    write_header_only(tmp_path / "huge.npy", (2, defaults.MAP_MAX_SIDE + 1))
    with pytest.raises(UnreadableImageError, match=f"at most {defaults.MAP_MAX_SIDE} pixels"):
        maps.read_map(tmp_path / "huge.npy")


def test_a_map_of_the_largest_side_is_read(tmp_path):
    """A strip as long as the bound allows is read, value for value."""
    values = np.arange(2 * defaults.MAP_MAX_SIDE, dtype=np.float32).reshape(2, -1)
    np.save(tmp_path / "strip.npy", values)
    np.testing.assert_array_equal(maps.read_map(tmp_path / "strip.npy"), values)


def test_a_map_too_large_for_its_dpi_is_refused_before_drawing(tmp_path):
    """A map whose heatmap would pass matplotlib's 65535 pixels a side is refused with the dpi
    that would fit, instead of failing inside the drawing."""
    values = np.zeros((4, 20000))
    with pytest.raises(
        ImageSizeError, match=r"4x20000 map at 400 dpi .* 80000 pixels wide.* at most 327 dpi"
    ):
        rendering.heatmap_figure(values, rendering.HeatmapStyle(dpi=400, look="paper"))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("dpi", "message"),
    [
        ("1", "argument --dpi: must be from {:g} to {:g}, got 1".format(*defaults.DPI_RANGE)),
        (
            "100000",
            "argument --dpi: must be from {:g} to {:g}, got 100000".format(*defaults.DPI_RANGE),
        ),
    ],
)
def test_a_dpi_out_of_bounds_is_a_usage_line(tmp_path, dpi, message):
    """--dpi below a visible picture or above what can be drawn is one usage line, nothing
    written."""
    save_pixel_map(tmp_path / "in", "good", sample_map(16, 16))
    scripts.assert_mistake_is_one_line(
        run_heatmaps, ["--inputs", str(tmp_path / "in")], ["--dpi", dpi], message, tmp_path
    )


def test_help_gives_the_dpi_bounds_and_why():
    """--help says how far --dpi goes, and why it stops there."""
    text = " ".join(run_heatmaps("--help").stdout.split())
    low, high = defaults.DPI_RANGE
    assert f"from {low:g} to {high:g} dpi" in text
    assert "65535 pixels a side" in text


def test_a_negative_seed_of_the_evaluation_is_a_usage_line(tmp_path):
    """evaluate_attributions.py --seed -1 is one usage line, as stage 1 gives it."""
    save_grey(tmp_path / "in" / "a.png", np.eye(16))
    scripts.assert_mistake_is_one_line(
        run_evaluation,
        ["--inputs", str(tmp_path / "in"), "--model", "pretrained"],
        ["--seed", "-1"],
        "argument --seed: must be at least 0, got -1",
        tmp_path,
    )


def test_a_map_too_large_for_the_dpi_is_one_problem_and_the_others_are_drawn(tmp_path):
    """In a folder, the map too large for the dpi is one problem line, and the good map beside it
    is drawn."""
    save_pixel_map(tmp_path / "in", "wide", np.zeros((4, 20000)))
    save_pixel_map(tmp_path / "in", "good", sample_map(16, 16))
    report = heatmap_folder.render_folder(
        tmp_path / "in", tmp_path / "out", rendering.HeatmapStyle(dpi=400, look="paper")
    )
    assert heatmap_folder.written_counts(report)["heatmap"] == 1
    assert (tmp_path / "out" / "smp_cpa_good.jpeg").is_file()
    assert len(report.failed) == 1
    assert report.failed[0].startswith(f"cannot write {tmp_path / 'out' / 'smp_cpa_wide.jpeg'}")
    assert "at most 327 dpi fit" in report.failed[0]


@pytest.mark.parametrize("dpi", [1.0, 100000.0])
def test_a_style_out_of_the_dpi_range_is_refused(dpi):
    """The library refuses the dpi the flag refuses, saying why."""
    with pytest.raises(SettingError, match="dpi must be from 25 to 2400.*matplotlib draws"):
        rendering.HeatmapStyle(dpi=dpi)
