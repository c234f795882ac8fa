"""The evaluation script as a user runs it: its summary, its files and its one-line errors."""

import csv

import pytest

import explorer_helpers
import models
import scripts

run_evaluation = scripts.runner("evaluate_attributions.py")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return explorer_helpers.saved_small_autoencoder(tmp_path_factory.mktemp("models"), seed=21)


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Three grey micrographs of blobs on noise, 48x40."""
    return models.write_grain_folder(tmp_path_factory.mktemp("micrographs"), 3, 48, 40, seed=11)


def test_evaluates_a_sample_and_prints_the_summary(saved_model, micrographs, tmp_path):
    """Two of three micrographs at their own size, three methods, the mean baseline: the summary
    is printed as summary.md holds it, progress goes to standard error, and the tables are
    written."""
    outputs = tmp_path / "evaluation"
    result = run_evaluation(
        *("--inputs", str(micrographs), "--model", str(saved_model), "--outputs", str(outputs)),
        *("--methods", "complex-step", "occlusion", "darkness", "--baseline", "mean"),
        *("--steps", "5", "--stride", "4", "--sample", "2", "--resize", "none"),
    )
    assert result.returncode == 0, result.stderr
    assert "evaluated 3 method(s) on 2 micrograph(s) in " in result.stdout
    summary = (outputs / "summary.md").read_text()
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 5 and "\n".join(table) in summary
    assert "baseline `mean`; 5 steps per curve; seed 0" in summary
    assert "evaluation [" in result.stderr and "6/6 maps" in result.stderr
    with open(outputs / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted({row["method"] for row in rows}) == ["complex-step", "darkness", "occlusion"]
    assert len({row["image"] for row in rows}) == 2
    assert (outputs / "curves.png").is_file() and len(list(outputs.glob("panel_*.png"))) == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--model", "nowhere/model.keras"],
            "no model at nowhere/model.keras: run python codes/build_convolutional_autoencoder.py "
            "first (stage 1), or pass --model pretrained",
        ),
        (["--methods", "gradcam"], "argument --methods: invalid choice: 'gradcam'"),
        (["--baseline", "zero"], "argument --baseline: invalid choice: 'zero'"),
        (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (["--stride", "9"], "argument --stride: must be at most the patch's 8, so that every"),
        (["--sample", "none"], "argument --sample: expected a whole number, got 'none'"),
        (["--inputs", "{empty}"], "no images in"),
        (["--shard", "2/2"], "argument --shard: K/N needs 0 <= K < N, got 2/2"),
        (["--cluster", "local:0"], "argument --cluster: a local cluster is local:N with N worker"),
    ],
)
def test_bad_input_is_one_clear_line(arguments, message, saved_model, micrographs, tmp_path):
    """Each mistake is one 'error:' line, found before Keras starts, and nothing is written."""
    valid = ["--inputs", str(micrographs), "--model", str(saved_model)]
    scripts.assert_mistake_is_one_line(run_evaluation, valid, arguments, message, tmp_path)


def test_help_explains_every_flag_without_starting_keras():
    """--help lists every flag and every method, and answering it imports neither Keras nor
    TensorFlow."""
    result = run_evaluation("--help")
    assert result.returncode == 0
    for flag in (
        "--inputs",
        "--model",
        "--resize",
        "--layer",
        "--outputs",
        "--methods",
        "--baseline {blur,mean}",
        "--steps",
        "--stride",
        "--sample",
        "--seed",
    ):
        assert flag in result.stdout
    assert "integrated-complex-step" in result.stdout
    assert scripts.keras_modules_after_help("evaluate_attributions.py") == []
