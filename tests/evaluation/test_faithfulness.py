"""The faithfulness metrics against models whose answers are known in closed form."""

import numpy as np
import pytest

from complexstep.errors import SettingError
from complexstep.evaluation import faithfulness

SHAPE = (8, 8)


def linear_model(weights: np.ndarray, bias: np.ndarray):
    """``f(x) = W x + c`` over the flattened image, in float64."""

    def encode(batch):
        return np.asarray(batch, np.float64).reshape(len(batch), -1) @ weights.T + bias

    return encode


def relu_model(weights: np.ndarray, bias: np.ndarray):
    """``f(x) = relu(W x + c)``: piecewise linear, as the autoencoder's layers are."""

    def encode(batch):
        return np.maximum(linear_model(weights, bias)(batch), 0.0)

    return encode


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_deletion_and_insertion_curves_of_a_linear_model_match_the_closed_form(rng):
    """Deleting the top pixels moves a linear model's output by the sum of their columns times
    their change, and inserting them moves it back by the same."""
    weights, bias = rng.normal(size=(5, 64)), rng.normal(size=5)
    image = rng.random(SHAPE).astype(np.float32)
    baseline = rng.random(SHAPE).astype(np.float32)
    attribution = rng.random(SHAPE)
    encode = linear_model(weights, bias)
    deletion = faithfulness.deletion_curve(encode, image, baseline, attribution, steps=16)
    insertion = faithfulness.insertion_curve(encode, image, baseline, attribution, steps=16)

    order = np.argsort(-attribution.ravel())
    contributions = weights[:, order] * (baseline.ravel() - image.ravel())[order].astype(float)
    moved = np.concatenate([np.zeros((5, 1)), np.cumsum(contributions, axis=1)], axis=1)
    norm = np.linalg.norm(weights @ image.ravel() + bias)
    counts = np.arange(17) * 4
    np.testing.assert_allclose(deletion.fractions, np.arange(17) / 16)
    np.testing.assert_allclose(
        deletion.shifts, np.linalg.norm(moved[:, counts], axis=0) / norm, atol=1e-12
    )
    np.testing.assert_allclose(
        insertion.shifts,
        np.linalg.norm(moved[:, -1:] - moved[:, counts], axis=0) / norm,
        atol=1e-12,
    )


def test_areas_are_trapezoid_means_and_counts_round_up():
    """With every pixel moving a sum by one, the shift after k pixels is k/N: at 16 steps of 64
    pixels the curve is the diagonal, of area 1/2; at 3 steps the counts round up, 22 and 43."""
    encode = linear_model(np.ones((1, 64)), np.zeros(1))
    image, baseline = np.ones(SHAPE, np.float32), np.zeros(SHAPE, np.float32)
    attribution = np.arange(64.0).reshape(SHAPE)
    diagonal = faithfulness.deletion_curve(encode, image, baseline, attribution, steps=16)
    assert diagonal.area == pytest.approx(0.5)
    assert faithfulness.insertion_curve(encode, image, baseline, attribution, 16).area == (
        pytest.approx(0.5)
    )
    coarse = faithfulness.deletion_curve(encode, image, baseline, attribution, steps=3)
    np.testing.assert_allclose(coarse.shifts, [0, 22 / 64, 43 / 64, 1])
    trapezoids = (0 + 22 / 64) / 2 + (22 / 64 + 43 / 64) / 2 + (43 / 64 + 1) / 2
    assert coarse.area == pytest.approx(trapezoids / 3)


def test_ties_are_ranked_in_reading_order():
    """The ranking is a stable sort on descending values."""
    np.testing.assert_array_equal(faithfulness.ranking(np.zeros((2, 3))), np.arange(6))
    np.testing.assert_array_equal(faithfulness.ranking([[1, 3], [3, 0]]), [1, 2, 0, 3])


def test_an_oracle_map_beats_random_maps(rng):
    """For a scalar linear model whose pixels all push one way, ranking pixels by their exact
    contribution deletes fastest at every fraction and inserts fastest, beating random rankings."""
    weights = rng.random((1, 64))
    image = (0.5 + 0.5 * rng.random(SHAPE)).astype(np.float32)
    baseline = (0.5 * rng.random(SHAPE)).astype(np.float32)
    encode = linear_model(weights, np.zeros(1))
    oracle = weights.reshape(SHAPE) * (image - baseline)
    best = faithfulness.deletion_curve(encode, image, baseline, oracle)
    best_insertion = faithfulness.insertion_curve(encode, image, baseline, oracle)
    for seed in range(5):
        noise = np.random.default_rng(seed).random(SHAPE)
        curve = faithfulness.deletion_curve(encode, image, baseline, noise)
        assert np.all(best.shifts >= curve.shifts - 1e-12)
        assert best.area > curve.area
        assert (
            best_insertion.area < faithfulness.insertion_curve(encode, image, baseline, noise).area
        )


def test_the_unchanged_image_shifts_by_exactly_nothing_whatever_the_batch(rng):
    """Deleting nothing and inserting everything give 0 exactly, even where a batch's kernels
    round the same image differently from the reference's batch of one."""
    linear = linear_model(rng.normal(size=(6, 64)), rng.normal(size=6))

    def batch_dependent(batch):
        return linear(batch) * (1.0 + 1e-7 * len(batch))

    image, baseline, attribution = rng.random(SHAPE), rng.random(SHAPE), rng.random(SHAPE)
    deletion = faithfulness.deletion_curve(batch_dependent, image, baseline, attribution, steps=4)
    insertion = faithfulness.insertion_curve(batch_dependent, image, baseline, attribution, 4)
    assert deletion.shifts[0] == 0.0 and insertion.shifts[-1] == 0.0
    assert np.all(deletion.shifts[1:] > 0) and np.all(insertion.shifts[:-1] > 0)
    shifts = faithfulness.representation_shifts(batch_dependent, image, baseline, attribution, [0])
    assert shifts[0] == 0.0


def test_representation_shifts_are_deletions_of_those_fractions(rng):
    """5, 10, 20 and 50 % are points 1, 2, 4 and 10 of a 20-step deletion curve."""
    encode = relu_model(rng.normal(size=(6, 64)), rng.normal(size=6))
    image, baseline = rng.random(SHAPE), rng.random(SHAPE)
    attribution = rng.random(SHAPE)
    curve = faithfulness.deletion_curve(encode, image, baseline, attribution, steps=20)
    shifts = faithfulness.representation_shifts(encode, image, baseline, attribution)
    np.testing.assert_allclose(shifts, curve.shifts[[1, 2, 4, 10]])


def test_fidelity_checks_pass_for_the_true_map_and_fail_for_a_shuffled_one(rng):
    """A ReLU model's derivative map, ||D W e_k|| with D its mask at x, matches single-pixel steps
    and small noise; a shuffled copy misses the steps, and a doubled one misses the noise. The
    noise check sees only a map's sum of squares, so the shuffled copy passes it."""
    # Pixels of very different weight, so that a shuffled map is far from the true one.
    weights = rng.normal(size=(40, 64)) * np.geomspace(0.05, 5, 64)
    bias = rng.normal(size=40)
    image = rng.random(SHAPE).astype(np.float32)
    encode = relu_model(weights, bias)
    active = (weights @ image.ravel().astype(float) + bias) > 0
    true_map = np.linalg.norm(weights * active[:, None], axis=0).reshape(SHAPE)
    shuffled = rng.permutation(true_map.ravel()).reshape(SHAPE)

    steps = faithfulness.probe_steps(encode, image, rng, pixels=32)
    assert len(set(steps.pixels)) == 32
    assert faithfulness.step_error(true_map, steps) < 1e-3
    assert faithfulness.step_error(shuffled, steps) > 0.2

    estimate = faithfulness.probe_noise(encode, image, rng)
    assert faithfulness.noise_error(true_map, estimate) < 0.15
    assert faithfulness.noise_error(shuffled, estimate) == pytest.approx(
        faithfulness.noise_error(true_map, estimate), rel=1e-9
    )
    assert faithfulness.noise_error(2 * true_map, estimate) > 2.5


def test_a_step_of_no_response_is_matched_only_by_a_zero_attribution():
    """A pixel the model ignores has response zero: an attribution of zero matches it, any
    other misses it entirely."""
    probe = faithfulness.StepProbe(np.array([0, 1, 2]), np.array([0.0, 0.0, 2.0]))
    assert faithfulness.step_error(np.array([0.0, 0.0, 2.0]), probe) == 0.0
    assert faithfulness.step_error(np.array([0.0, 1.0, 3.0]), probe) == 0.5
    assert faithfulness.step_error(np.array([1.0, 1.0, 2.0]), probe) == np.inf


def test_sensitivity_max_is_the_largest_relative_change_under_the_same_noise(rng):
    """For the darkness map 1 - x, each noisy copy changes the map by the clipped noise itself."""
    image = rng.random(SHAPE).astype(np.float32)
    found = faithfulness.sensitivity_max(
        lambda x: 1.0 - x, image, np.random.default_rng(7), samples=4, radius=0.3
    )
    draws = np.random.default_rng(7)
    expected = max(
        np.linalg.norm(np.clip(image + draws.uniform(-0.3, 0.3, SHAPE), 0, 1) - image)
        for _ in range(4)
    ) / np.linalg.norm(1.0 - image)
    assert found == pytest.approx(expected, rel=1e-5)
    assert faithfulness.sensitivity_max(lambda x: np.ones(SHAPE), image, rng) == 0.0
    assert faithfulness.sensitivity_max(lambda x: np.zeros(SHAPE), image, rng) == 0.0


def test_refusals_say_what_is_wrong(rng):
    """Mismatched shapes, steps below one, fractions outside [0, 1] and a zero output are
    refused with messages that name them."""
    encode = linear_model(np.ones((1, 64)), np.zeros(1))
    image = np.ones(SHAPE)
    with pytest.raises(SettingError, match="one shape"):
        faithfulness.deletion_curve(encode, image, np.zeros((4, 4)), image)
    with pytest.raises(SettingError, match="steps must be"):
        faithfulness.insertion_curve(encode, image, image, image, steps=0)
    with pytest.raises(SettingError, match="fractions"):
        faithfulness.representation_shifts(encode, image, image, image, fractions=[1.5])
    with pytest.raises(SettingError, match="output is zero"):
        faithfulness.deletion_curve(encode, np.zeros(SHAPE), image, image)
