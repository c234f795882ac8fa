"""--shard K/N: disjoint parts of a folder that together are the folder, from the library and
from stage 2 as a user runs it, without Dask; the evaluation's and the regions' shards."""

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scripts
from complexstep.errors import SettingError
from complexstep.evaluation.measure import EvaluationSettings
from complexstep.evaluation.methods import AttributionMethods
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import evaluation as evaluation_folder
from complexstep.folders import loop
from complexstep.folders import regions as regions_folder
from complexstep.rendering.heatmaps import HeatmapStyle

run_stage_2 = scripts.runner("obtain_attribution_contours.py")


def make_folder(folder: Path, names) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")


def planned(inputs: Path, outputs: Path, shard) -> tuple[list[Path], loop.FolderReport]:
    """The micrographs ``loop.plan`` gives a shard, with targets ``<outputs>/<stem>.npy``."""
    report = loop.FolderReport()
    work = loop.plan(
        inputs,
        outputs,
        lambda path: [outputs / path.relative_to(inputs).with_suffix(".npy")],
        report,
        size_of=lambda path: (16, 16),
        noun="map",
        shard=shard,
    )
    return [item.path for item in work], report


@pytest.fixture
def folder(tmp_path):
    """39 micrographs in three folders, a.png, and a.tif, whose map is a.png's."""
    names = [f"{sub}m{index:02d}.png" for sub in ("", "x/", "x/y/") for index in range(13)]
    make_folder(tmp_path / "in", [*names, "a.png", "a.tif"])
    return tmp_path / "in"


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_are_disjoint_and_together_the_folder(folder, tmp_path, count):
    """The N shards' work shares no micrograph and is, together, the whole folder's; the clash
    of a.png and a.tif is reported once, in the shard that holds both."""
    everything, whole = planned(folder, tmp_path / "out", None)
    parts = [planned(folder, tmp_path / "out", (index, count)) for index in range(count)]
    for (first, _), (second, _) in itertools.combinations(parts, 2):
        assert not set(first) & set(second)
    assert sorted(path for work, _ in parts for path in work) == sorted(everything)
    assert len(everything) == 40
    assert [line for _, report in parts for line in report.failed] == whole.failed
    assert len(whole.failed) == 1 and "a.tif" in whole.failed[0]
    if count > 1:
        assert all(work for work, _ in parts), "a shard of 40 micrographs in 3 or 7 is empty"


def test_adding_micrographs_moves_none_to_another_shard(folder, tmp_path):
    """A micrograph's shard depends on its own path, so new files change no other's shard."""
    before = [set(planned(folder, tmp_path / "out", (index, 7))[0]) for index in range(7)]
    make_folder(folder, [f"new/n{index}.png" for index in range(10)])
    after = [set(planned(folder, tmp_path / "out", (index, 7))[0]) for index in range(7)]
    for old, new in zip(before, after, strict=True):
        assert old <= new


@pytest.mark.parametrize("shard", [(3, 3), (-1, 2), (0, 0), (1.0, 2)])
def test_a_shard_out_of_range_is_refused(folder, tmp_path, shard):
    """A shard that is not 0 <= k < n is a SettingError, raised before anything is written."""
    with pytest.raises(SettingError, match=r"a shard is \(k, n\) with 0 <= k < n"):
        planned(folder, tmp_path / "out", shard)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Six 32x32 micrographs."""
    folder = tmp_path_factory.mktemp("micrographs")
    rng = np.random.default_rng(5)
    for index in range(6):
        values = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(values).save(folder / f"m{index}.png")
    return folder


def test_stage_2_explains_its_shard_only_and_never_imports_dask(saved_model, micrographs, tmp_path):
    """Stage 2 with --shard 1/3 writes the maps of that shard's micrographs and of no other, and
    neither it nor --help loads Dask."""
    arguments = ["--inputs", str(micrographs), "--outputs", str(tmp_path / "out")]
    arguments += ["--model", str(saved_model), "--resize", "none", "--shard", "1/3"]
    returncode, stderr, loaded = scripts.run_watching_imports(
        "obtain_attribution_contours.py", arguments
    )
    assert returncode == 0, stderr
    assert loaded == []
    wanted = sorted(
        path.stem for path in micrographs.glob("*.png") if loop.in_shard(Path(path.name), (1, 3))
    )
    assert 0 < len(wanted) < 6
    assert sorted(path.stem for path in (tmp_path / "out").glob("*.npy")) == wanted
    assert sorted(path.stem for path in (tmp_path / "out").glob("*.png")) == wanted
    assert scripts.run_watching_imports("obtain_attribution_contours.py", ["--help"])[2] == []


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--shard", "3/3"], "argument --shard: K/N needs 0 <= K < N, got 3/3"),
        (["--shard", "half"], "argument --shard: expected K/N such as 0/100, got 'half'"),
        (
            ["--cluster", "local:none"],
            "argument --cluster: a local cluster is local:N with N worker processes, N >= 1",
        ),
    ],
)
def test_a_bad_shard_or_cluster_is_one_clear_line(
    arguments, message, saved_model, micrographs, tmp_path
):
    """Each mistake is reported as one 'error:' line with no traceback and a non-zero exit."""
    valid = ["--inputs", str(micrographs), "--model", str(saved_model)]
    scripts.assert_mistake_is_one_line(run_stage_2, valid, arguments, message, tmp_path)


def csv_rows(path: Path, leave_out: str | None = None) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return [{k: v for k, v in row.items() if k != leave_out} for row in csv.DictReader(file)]


def test_the_shards_of_the_evaluation_and_the_regions_are_their_whole_runs(
    micrographs, random_model, tmp_path
):
    """Three shards of the evaluation and of the region statistics, into one outputs folder each,
    write their tables under the shard's name; their rows are disjoint and together the rows of
    the whole run (but for the seconds a method took), and no shard writes the whole run's
    files."""
    methods = AttributionMethods(random_model)
    maps = tmp_path / "maps"
    attribution_folder.attribute_folder(micrographs, maps, methods.explainer, resize=None)

    def evaluate(outputs: Path, shard=None):
        settings = EvaluationSettings(steps=3, blur_sigma=2.0)
        return evaluation_folder.evaluate_folder(
            micrographs,
            outputs,
            methods,
            names=["edges"],
            settings=settings,
            resize=None,
            shard=shard,
        )

    def measure(outputs: Path, shard=None):
        short = regions_folder.Bootstrap(samples=20)
        return regions_folder.measure_folder(
            maps, outputs, micrographs, style=HeatmapStyle(dpi=100), bootstrap=short, shard=shard
        )

    evaluate(tmp_path / "whole")
    measure(tmp_path / "regions-whole")
    for index in range(3):
        assert evaluate(tmp_path / "parts", (index, 3)).failed == []
        assert measure(tmp_path / "regions-parts", (index, 3)).failed == []
    assert not (tmp_path / "parts" / "metrics.csv").exists()
    assert not (tmp_path / "regions-parts" / "regions.csv").exists()
    for whole, parts, name, leave_out in [
        ("whole", "parts", "metrics", "seconds"),
        ("regions-whole", "regions-parts", "regions", None),
    ]:
        tables = [tmp_path / parts / f"{name}.shard-{index}-of-3.csv" for index in range(3)]
        # A shard without a micrograph measures nothing and writes no table.
        held = [
            any(loop.in_shard(Path(p.name), (index, 3)) for p in micrographs.glob("*.png"))
            for index in range(3)
        ]
        assert [table.is_file() for table in tables] == held and sum(held) >= 2
        shards = [csv_rows(table, leave_out) if table.is_file() else [] for table in tables]
        key = "image" if name == "metrics" else "micrograph"
        images = [{row[key] for row in rows} for rows in shards]
        assert not (images[0] & images[1] or images[0] & images[2] or images[1] & images[2])
        together = sorted((row for rows in shards for row in rows), key=lambda row: row[key])
        assert together == sorted(
            csv_rows(tmp_path / whole / f"{name}.csv", leave_out), key=lambda row: row[key]
        )
    assert len(list((tmp_path / "parts").glob("panel_*.png"))) == 6


def test_the_regions_script_shards_without_dask(micrographs, saved_model, tmp_path):
    """measure_regions.py --shard 0/2 measures that shard's maps alone, and loads no Dask."""
    from complexstep import api

    attribution_folder.attribute_folder(
        micrographs, tmp_path / "maps", api.Explainer(saved_model), resize=None
    )
    arguments = ["--inputs", str(tmp_path / "maps"), "--micrographs", str(micrographs)]
    arguments += ["--outputs", str(tmp_path / "out"), "--shard", "0/2", "--samples", "20"]
    status, stderr, loaded = scripts.run_watching_imports(
        "measure_regions.py", [*arguments, "--dpi", "100"]
    )
    assert (status, loaded) == (0, []), stderr
    wanted = sorted(
        f"regions_{path.stem}.png"
        for path in (tmp_path / "maps").glob("*.npy")
        if loop.in_shard(Path(path.name), (0, 2))
    )
    assert sorted(path.name for path in (tmp_path / "out").glob("regions_m*.png")) == wanted
    assert (tmp_path / "out" / "regions.shard-0-of-2.csv").is_file()
