"""Tests of codes/measure_regions.py, run as a user runs it: a subprocess from the repo root."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import scripts
from rendering_helpers import save_grey

HEIGHT, WIDTH, SPLIT = 16, 20, 8

run_script = scripts.runner("measure_regions.py")


def make_tree(root) -> list[str]:
    """Two micrographs, dark left of column 8, and their maps, 3 on dark and 1 on light; returns
    the flags that point the script at them."""
    (root / "maps").mkdir()
    for stem in ("a", "b"):
        micrograph = np.full((HEIGHT, WIDTH), 0.8)
        micrograph[:, :SPLIT] = 0.2
        save_grey(root / "micrographs" / f"{stem}.png", micrograph)
        np.save(root / "maps" / f"{stem}.npy", np.where(micrograph < 0.5, 3.0, 1.0))
    return ["--inputs", str(root / "maps"), "--micrographs", str(root / "micrographs")]


def test_help_lists_the_flags_shared_with_stage_3():
    """--help exits 0 and names every flag, those stage 3 has with the same names."""
    result = run_script("--help")
    assert result.returncode == 0
    for flag in (
        "--inputs",
        "--micrographs",
        "--outputs",
        "--labels",
        "--classes",
        "--boundary-width",
        "--pixel-size",
        "--seed",
        "--kind",
    ):
        assert flag in result.stdout


def test_a_run_writes_the_four_kinds_of_output(tmp_path):
    """A run exits 0, says what it wrote in its last line, and writes the table, the summary,
    the figure and one outline picture per micrograph; a boundary of 1 µm at 0.5 µm a pixel
    takes 4 of 20 columns."""
    flags = make_tree(tmp_path)
    result = run_script(
        *flags,
        "--outputs",
        str(tmp_path / "out"),
        "--boundary-width",
        "1",
        "--pixel-size",
        "0.5",
        "--dpi",
        "100",
        "--samples",
        "100",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "measured 3 regions of 2 complex-step maps; wrote regions.csv, regions_summary.md, "
        f"regions_enrichment.png and 2 outline pictures to {tmp_path / 'out'}"
    )
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "regions.csv",
        "regions_a.png",
        "regions_b.png",
        "regions_enrichment.png",
        "regions_summary.md",
    ]
    with open(tmp_path / "out" / "regions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    boundary = [row for row in rows if row["region"] == "boundary"]
    assert [float(row["area_fraction"]) for row in boundary] == [4 / WIDTH, 4 / WIDTH]
    assert "| dark − light | 2 of 2 |" in (tmp_path / "out" / "regions_summary.md").read_text()
    # Two micrographs make rough intervals, which the run says.
    assert result.stderr.strip().splitlines()[-1] == (
        "caution: the bootstrap intervals are over 2 micrographs; below 20 they are rough, "
        "narrower than the spread between micrographs they stand for"
    )


def test_the_complexstep_command_runs_the_same(tmp_path):
    """``python -m complexstep regions`` takes the same flags and writes the same table."""
    flags = make_tree(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "complexstep",
            "regions",
            *flags,
            "--outputs",
            str(tmp_path / "out"),
            "--dpi",
            "100",
            "--samples",
            "50",
        ],
        cwd=scripts.REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(scripts.REPOSITORY / "codes")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "regions.csv").is_file()


def test_a_folder_without_maps_is_one_error_line(tmp_path):
    """An empty maps folder ends the run with one 'error:' line and writes nothing."""
    flags = make_tree(tmp_path)
    scripts.assert_mistake_is_one_line(
        run_script, flags, ["--inputs", "{empty}"], "no maps in", tmp_path
    )


def test_a_negative_boundary_width_is_one_error_line(tmp_path):
    """A boundary width below 0 is refused in one line before anything is read."""
    flags = make_tree(tmp_path)
    scripts.assert_mistake_is_one_line(
        run_script, flags, ["--boundary-width", "-1"], "--boundary-width", tmp_path
    )


@pytest.mark.parametrize("dpi", ["1", "100000"])
def test_a_dpi_out_of_stage_3s_range_is_one_error_line(tmp_path, dpi):
    """The outline pictures take the dpi range of stage 3's heatmaps, whose pictures they are."""
    flags = make_tree(tmp_path)
    scripts.assert_mistake_is_one_line(
        run_script,
        flags,
        ["--dpi", dpi],
        f"argument --dpi: must be from 25 to 2400, got {dpi}",
        tmp_path,
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--shard", "1/1"], "argument --shard: K/N needs 0 <= K < N, got 1/1"),
        (["--shard", "a/b"], "argument --shard: expected K/N such as 0/100, got 'a/b'"),
        (["--cluster", "local:x"], "argument --cluster: a local cluster is local:N with N worker"),
        (["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    ],
)
def test_a_bad_shard_or_cluster_is_one_error_line(tmp_path, arguments, message):
    """--shard and --cluster are checked as stage 2 checks them, in one line before any work."""
    flags = make_tree(tmp_path)
    scripts.assert_mistake_is_one_line(run_script, flags, arguments, message, tmp_path)
