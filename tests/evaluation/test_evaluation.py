"""One micrograph's evaluation, and the summary over many, on a small network."""

import math

import numpy as np
import pytest

from complexstep.errors import SettingError
from complexstep.evaluation import faithfulness
from complexstep.evaluation.measure import (
    METRICS,
    EvaluationSettings,
    Spread,
    evaluate_image,
    generator,
    summarise,
    summary_table,
)
from complexstep.evaluation.methods import AttributionMethods, MethodSettings
from complexstep.explain.kinds import baseline_of
from models import grains, small_autoencoder

CHEAP = ["complex-step", "gradient-input", "edges", "shuffled", "random"]
SETTINGS = EvaluationSettings(steps=8, blur_sigma=2.0)


@pytest.fixture(scope="module")
def methods():
    return AttributionMethods(
        small_autoencoder(1),
        layer="pool2",
        settings=MethodSettings(integration_steps=2, smoothgrad_samples=2, occlusion_stride=8),
    )


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(2)
    return grains(rng, 32, 32, block=4)


@pytest.fixture(scope="module")
def results(methods, image):
    return evaluate_image(methods, image, "micrograph.png", CHEAP, SETTINGS)


def test_every_metric_is_measured_for_every_method(results, methods, image):
    """Each method's map has the image's shape, and its metrics are the faithfulness measures
    of that map with the baseline asked for."""
    assert list(results) == CHEAP
    for result in results.values():
        assert list(result.metrics) == list(METRICS)
        assert result.attribution.shape == image.shape
        assert result.metrics["seconds"] > 0
    complex_step = results["complex-step"]
    baseline = baseline_of(image, "blur", 2.0)
    curve = faithfulness.deletion_curve(
        methods.encode, image, baseline, complex_step.attribution, steps=8
    )
    np.testing.assert_allclose(complex_step.deletion.shifts, curve.shifts)
    assert complex_step.metrics["deletion_auc"] == pytest.approx(curve.area)
    assert complex_step.metrics["shift_50"] == pytest.approx(curve.shifts[4])


def test_the_derivative_map_passes_the_fidelity_checks_that_the_controls_fail(results):
    """The complex-step map is the derivative: its step and noise errors are small. A random map,
    the edges of the micrograph and the shuffled map are not; the shuffled map has the derivative's
    sum of squares, which is all the noise check sees."""
    exact = results["complex-step"].metrics
    assert exact["step_error"] < 0.05
    assert exact["noise_error"] < 0.1
    for control in ("random", "edges", "shuffled"):
        assert results[control].metrics["step_error"] > 0.3
    assert results["shuffled"].metrics["noise_error"] == pytest.approx(exact["noise_error"])


def test_results_do_not_depend_on_the_other_methods_evaluated(methods, image, results):
    """Each method's randomness is seeded by the seed, the image and the method alone."""
    alone = evaluate_image(methods, image, "micrograph.png", ["random"], SETTINGS)["random"]
    np.testing.assert_array_equal(alone.attribution, results["random"].attribution)
    for metric in METRICS[:-1]:
        assert alone.metrics[metric] == results["random"].metrics[metric]
    other = evaluate_image(methods, image, "another.png", ["random"], SETTINGS)["random"]
    assert not np.array_equal(other.attribution, alone.attribution)


def test_the_mean_baseline_changes_what_is_deleted(methods, image):
    """With the mean baseline, deletion replaces pixels by the image's mean grey value."""
    settings = EvaluationSettings(baseline="mean", steps=4)
    result = evaluate_image(methods, image, "m", ["darkness"], settings)["darkness"]
    flat = np.full(image.shape, image.mean(), np.float32)
    curve = faithfulness.deletion_curve(methods.encode, image, flat, 1 - image, steps=4)
    np.testing.assert_allclose(result.deletion.shifts, curve.shifts)


def test_the_callback_hears_every_method(methods, image):
    heard = []
    evaluate_image(
        methods, image, "m", ["edges", "darkness"], SETTINGS, lambda *told: heard.append(told)
    )
    assert heard == [(1, 2, "edges"), (2, 2, "darkness")]


def test_spreads_and_the_summary_table():
    """Means and sample standard deviations per method and metric, infinite values kept."""
    rows = [
        {"method": "a", "image": "1", **{metric: 1.0 for metric in METRICS}},
        {"method": "a", "image": "2", **{metric: 3.0 for metric in METRICS}},
        {"method": "b", "image": "1", **{metric: math.inf for metric in METRICS}},
    ]
    summary = summarise(rows)
    assert list(summary) == ["a", "b"]
    assert summary["a"]["deletion_auc"] == Spread(2.0, math.sqrt(2.0), 2)
    assert summary["b"]["step_error"].mean == math.inf
    table = summary_table(summary).splitlines()
    assert table[0].startswith("| method | deletion_auc ↑ | insertion_auc ↓ | shift_5 ↑")
    assert table[2] == "| a | " + " | ".join(["2 ± 1.4"] * len(METRICS)) + " |"
    assert table[3] == "| b | " + " | ".join(["inf"] * len(METRICS)) + " |"


def test_generators_are_seeded_by_their_names():
    draw = generator(0, "image", "method").random()
    assert draw == generator(0, "image", "method").random()
    assert draw != generator(1, "image", "method").random()
    assert draw != generator(0, "image", "other").random()


def test_settings_out_of_range_are_refused():
    with pytest.raises(SettingError, match="unknown baseline 'zero'; choose one of blur, mean"):
        EvaluationSettings(baseline="zero")
    with pytest.raises(SettingError, match="steps must be"):
        EvaluationSettings(steps=0)
