"""The evaluation of a folder: the tables a user opens, its pictures, the sample, the failures."""

import csv

import numpy as np
import pytest
from PIL import Image

from complexstep.errors import FolderError, SettingError
from complexstep.evaluation.measure import METRICS, EvaluationSettings
from complexstep.evaluation.methods import AttributionMethods
from complexstep.folders import evaluation as evaluation_folder
from models import grains, small_autoencoder

NAMES = ["complex-step", "edges", "random"]
SETTINGS = EvaluationSettings(steps=4, blur_sigma=2.0)


@pytest.fixture(scope="module")
def methods():
    return AttributionMethods(small_autoencoder(4), layer="pool2")


def write_micrographs(folder, count: int, size: int = 40) -> list:
    """Grey micrographs of blobs on a gradient, ``sample_<i>.png``, one in a subfolder."""
    rng = np.random.default_rng(3)
    paths = []
    for index in range(count):
        values = np.round(255 * grains(rng, size, size)).astype(np.uint8)
        path = folder / ("deep" if index == 0 else "") / f"sample_{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(values).save(path)
        paths.append(path)
    return paths


def read_rows(path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_a_folder_gives_its_tables_summary_curves_and_panels(tmp_path, methods):
    """Every method of every micrograph has a row of numbers and its curves; the summary has a
    row per method; the figures are pictures of the size their layout gives."""
    inputs, outputs = tmp_path / "micrographs", tmp_path / "evaluation"
    write_micrographs(inputs, 2)
    heard = []
    report = evaluation_folder.evaluate_folder(
        inputs,
        outputs,
        methods,
        names=NAMES,
        settings=SETTINGS,
        resize=32,
        on_progress=lambda done, total, detail: heard.append((done, total, detail)),
    )
    assert report.failed == []
    assert heard[-1] == (6, 6, "sample_1.png: random") and len(heard) == 6

    rows = read_rows(outputs / "metrics.csv")
    assert list(rows[0]) == ["method", "image", *METRICS]
    assert [(row["method"], row["image"]) for row in rows] == [
        (method, image) for image in ("deep/sample_0.png", "sample_1.png") for method in NAMES
    ]
    for row, measured in zip(rows, report.rows, strict=True):
        assert float(row["deletion_auc"]) == pytest.approx(measured["deletion_auc"], rel=1e-5)
        assert all(np.isfinite(float(row[metric])) for metric in METRICS)

    curves = read_rows(outputs / "curves.csv")
    assert len(curves) == 2 * 3 * 2 * 5
    deletion = [
        float(row["shift"])
        for row in curves
        if row["curve"] == "deletion"
        and row["method"] == "edges"
        and row["image"] == "sample_1.png"
    ]
    assert deletion[0] == 0.0 and len(deletion) == 5

    summary = (outputs / "summary.md").read_text()
    assert "2 of 2 micrograph(s) evaluated; layer `pool2`; baseline `blur`" in summary
    for method in NAMES:
        assert f"\n| {method} | " in summary
    assert report.summary in summary

    with Image.open(outputs / "curves.png") as picture:
        assert picture.format == "PNG" and picture.width > 1000
    for panel in (outputs / "deep" / "panel_sample_0.png", outputs / "panel_sample_1.png"):
        with Image.open(panel) as picture:
            # The micrograph and three maps make one row of four square views.
            assert picture.width > 2.5 * picture.height
    assert not list(outputs.rglob(".*partial*"))


def test_a_sample_is_drawn_with_the_seed(tmp_path, methods):
    """--sample evaluates that many micrographs, the same ones for the same seed."""
    inputs = tmp_path / "micrographs"
    paths = write_micrographs(inputs, 5)
    first = evaluation_folder.choose(paths, 2, seed=0)
    assert first == evaluation_folder.choose(paths, 2, seed=0)
    assert first == sorted(first) and len(set(first)) == 2
    assert {tuple(evaluation_folder.choose(paths, 2, seed=s)) for s in range(6)} != {tuple(first)}
    assert evaluation_folder.choose(paths, 9, seed=0) == paths
    report = evaluation_folder.evaluate_folder(
        inputs, tmp_path / "out", methods, names=["darkness"], resize=32, sample=2
    )
    assert report.written == first
    with pytest.raises(SettingError, match="at least 1"):
        evaluation_folder.choose(paths, 0, seed=0)


def test_unreadable_micrographs_are_reported_and_the_rest_evaluated(tmp_path, methods):
    inputs = tmp_path / "micrographs"
    write_micrographs(inputs, 1)
    (inputs / "broken.png").write_bytes(b"not an image")
    report = evaluation_folder.evaluate_folder(
        inputs, tmp_path / "out", methods, names=["edges"], resize=32
    )
    assert len(report.written) == 1
    assert report.failed == [f"cannot read {inputs / 'broken.png'}: not an image PIL can decode"]


def test_an_interrupted_run_keeps_the_micrographs_it_finished(tmp_path, methods):
    """The tables are rewritten after every micrograph, so stopping during the second leaves the
    first one's rows, and no half-written file."""
    inputs, outputs = tmp_path / "micrographs", tmp_path / "out"
    write_micrographs(inputs, 2)

    def interrupt(done, total, detail):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluation_folder.evaluate_folder(
            inputs, outputs, methods, names=["edges", "darkness"], resize=32, on_progress=interrupt
        )
    assert [row["image"] for row in read_rows(outputs / "metrics.csv")] == [
        "deep/sample_0.png",
        "deep/sample_0.png",
    ]
    assert not (outputs / "summary.md").exists()
    assert not list(outputs.rglob(".*partial*"))


def test_refusals_before_any_work(tmp_path, methods):
    with pytest.raises(FolderError, match="folder not found"):
        evaluation_folder.evaluate_folder(tmp_path / "none", tmp_path, methods, names=["edges"])
    write_micrographs(tmp_path / "in", 1)
    with pytest.raises(SettingError, match="unknown method"):
        evaluation_folder.evaluate_folder(tmp_path / "in", tmp_path, methods, names=["gradcam"])


def test_the_tables_of_a_folder_are_written_in_time_linear_in_its_micrographs(
    tmp_path, methods, monkeypatch
):
    """Eight micrographs write at most three times their rows in all, not a table rewritten
    after each one (36 times their rows), and the last table holds them all."""
    inputs, outputs = tmp_path / "micrographs", tmp_path / "evaluation"
    write_micrographs(inputs, 8, size=32)
    written = []
    write_metrics = evaluation_folder._write_metrics

    def counting(target, rows):
        written.append(len(rows))
        write_metrics(target, rows)

    monkeypatch.setattr(evaluation_folder, "_write_metrics", counting)
    report = evaluation_folder.evaluate_folder(
        inputs, outputs, methods, names=["random"], settings=SETTINGS, resize=32
    )
    assert report.failed == [] and len(report.written) == 8
    assert sum(written) <= 3 * 8 and written[-1] == 8
    assert len(read_rows(outputs / "metrics.csv")) == 8
