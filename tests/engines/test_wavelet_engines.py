"""The two wavelet engines against one complex pass per coefficient, each other and Parseval."""

import numpy as np
import pytest

import models
import wavelet_reference
from complexstep import engines
from complexstep.engines import wavelet as wavelet_engines
from complexstep.engines.wavelet_basis import WaveletBasis
from complexstep.twin import building as twin


def sample_coefficients(basis: WaveletBasis) -> list[tuple[int, int]]:
    """In every block, the first and last coefficient (whose basis images wrap for long
    filters) and one inside."""
    chosen = []
    for block in basis.blocks:
        height = block.rows.stop - block.rows.start
        width = block.columns.stop - block.columns.start
        for m, n in [(0, 0), (height - 1, width - 1), (height // 2, 1)]:
            chosen.append((block.rows.start + m, block.columns.start + n))
    return chosen


@pytest.fixture(scope="module")
def small_twin(small_model):
    return twin.build_complex_twin(small_model, "out")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(9).random((32, 32)).astype(np.float32)


@pytest.fixture(scope="module", params=["haar", "db2"])
def small_maps(request, small_model, small_twin, image):
    """Both engines' wavelet maps of the small network, the literal step at sampled
    coefficients, and the pixel map."""
    basis = WaveletBasis(request.param, 2, (32, 32))
    complex_step = wavelet_engines.WaveletComplexStep(small_twin, h=0.1)
    jacobian = wavelet_engines.WaveletJacobian(small_twin)
    indices = sample_coefficients(basis)
    literal = wavelet_reference.literal_wavelet_attribution(
        small_model, "out", image, request.param, 2, indices
    )
    return {
        "complex-step": np.sqrt(complex_step.coefficient_squares(image, basis)),
        "jacobian": np.sqrt(jacobian.coefficient_squares(image, basis)),
        "indices": indices,
        "literal": literal,
        "pixel": engines.JacobianAttribution(small_twin)(image),
    }


@pytest.mark.parametrize("engine", ["complex-step", "jacobian"])
def test_engines_match_one_complex_pass_per_coefficient(small_maps, engine):
    """Each engine equals the literal step along each sampled basis image, within 1e-5."""
    values = [small_maps[engine][index] for index in small_maps["indices"]]
    np.testing.assert_allclose(values, small_maps["literal"], rtol=1e-5)


def test_engines_agree_on_every_coefficient(small_maps):
    """Both engines give the same wavelet map, coefficient for coefficient, within 1e-5."""
    complex_step, jacobian = small_maps["complex-step"], small_maps["jacobian"]
    assert complex_step.shape == jacobian.shape == (32, 32)
    assert np.all(jacobian > 0)
    np.testing.assert_allclose(complex_step, jacobian, rtol=1e-5)


@pytest.mark.parametrize("engine", ["complex-step", "jacobian"])
def test_squares_add_up_to_the_pixel_maps(small_maps, engine):
    """The squared wavelet map sums to the squared pixel map's sum, ||J||_F**2, within 1e-5."""
    wavelet_total = np.sum(small_maps[engine].astype(np.float64) ** 2)
    pixel_total = np.sum(small_maps["pixel"].astype(np.float64) ** 2)
    np.testing.assert_allclose(wavelet_total, pixel_total, rtol=1e-5)


def test_paper_network_engines_match_the_literal_step(random_model):
    """On the paper's network at 256x256, both engines equal the literal step at sampled
    coefficients and each other everywhere, within 1e-5, and their squares sum to the pixel
    map's."""
    image = models.smooth_images(np.random.default_rng(7), 1)[0, :, :, 0]
    made = twin.build_complex_twin(random_model, "code")
    basis = WaveletBasis("haar", 3, (256, 256))
    complex_step = np.sqrt(
        wavelet_engines.WaveletComplexStep(made, batch_size=32).coefficient_squares(image, basis)
    )
    jacobian = np.sqrt(wavelet_engines.WaveletJacobian(made).coefficient_squares(image, basis))
    np.testing.assert_allclose(complex_step, jacobian, rtol=1e-5, atol=1e-6 * jacobian.max())
    indices = [(0, 0), (40, 3), (255, 255)]
    literal = wavelet_reference.literal_wavelet_attribution(
        random_model, "code", image, "haar", 3, indices
    )
    np.testing.assert_allclose([jacobian[index] for index in indices], literal, rtol=1e-5)
    pixel = engines.JacobianAttribution(made)(image)
    np.testing.assert_allclose(
        np.sum(jacobian.astype(np.float64) ** 2), np.sum(pixel.astype(np.float64) ** 2), rtol=1e-5
    )


@pytest.mark.parametrize("kind", ["WaveletComplexStep", "WaveletJacobian"])
def test_every_pass_is_reported_once(small_twin, image, kind):
    """The passes an engine reports add up to the passes it announces for the canvas."""
    engine = getattr(wavelet_engines, kind)(small_twin)
    basis = WaveletBasis("db2", 2, (32, 32))
    reported = []
    engine.coefficient_squares(image, basis, on_pass=reported.append)
    assert sum(reported) == engine.coefficient_passes(basis, (0, 0)) > 0


def test_wider_wavelets_split_the_jacobians_sums_further(small_twin):
    """Sums of rows are split into sparser lattices only as far as longer filters need."""
    engine = wavelet_engines.WaveletJacobian(small_twin)
    periods = [
        engine._sublattices(WaveletBasis(wavelet, 2, (32, 32)), (0, 0))[0]
        for wavelet in ("haar", "db2", "db4")
    ]
    assert periods[0] <= periods[1] <= periods[2]
    assert all(period % base == 0 for pair in periods for period, base in zip(pair, engine.periods))


def test_overlap_distances_are_those_of_every_pair_sharing_a_column():
    """The distances found are exactly those of the pairs of rows that share a column."""
    rng = np.random.default_rng(4)
    for _ in range(10):
        touches = rng.random((25, 30)) < 0.1
        expected = {
            j - i for i in range(25) for j in range(i + 1, 25) if np.any(touches[i] & touches[j])
        }
        assert set(wavelet_engines.overlap_distances(touches).tolist()) == expected


def test_safe_period_separates_at_every_period_above_it():
    """Footprints that wrap around (first and last overlap) need a period at and above which
    all periods separate, not only the smallest that does."""
    footprint = np.zeros((10, 12), bool)
    for item in range(10):
        footprint[item, item : item + 3] = True
    footprint[9, :2] = True
    period = wavelet_engines.safe_period(footprint)
    for candidate in range(period, 11):
        residues = np.arange(10) % candidate
        for residue in range(candidate):
            assert np.max(np.sum(footprint[residues == residue], axis=0), initial=0) <= 1
    residues = np.arange(10) % (period - 1)
    assert any(
        np.max(np.sum(footprint[residues == residue], axis=0)) > 1 for residue in range(period - 1)
    )
