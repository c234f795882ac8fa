"""The wavelet bases: PyWavelets' layout, basis images as products of 1-D functions, Parseval,
canvases of tiles, shares, and the settings refused."""

import numpy as np
import pytest
import pywt

import wavelet_reference
from complexstep.engines import wavelet_basis as wavelets
from complexstep.errors import SettingError

ORTHOGONAL = ["haar", "db2", "db4", "sym4", "coif1"]


@pytest.mark.parametrize("wavelet", ["haar", "db2"])
def test_transform_is_pywavelets_layout_and_blocks_name_its_slices(wavelet):
    """The transform is coeffs_to_array of wavedec2 with periodization, and each block is the
    slice PyWavelets gives its level and key."""
    image = np.random.default_rng(0).random((32, 48))
    basis = wavelets.WaveletBasis(wavelet, 3, (32, 48))
    coefficients = pywt.wavedec2(image, wavelet, mode="periodization", level=3)
    expected, slices = pywt.coeffs_to_array(coefficients)
    np.testing.assert_array_equal(basis.transform(image), expected)
    assert [(block.level, block.orientation) for block in basis.blocks] == [
        (3, "approximation"),
        *[(level, name) for level in (3, 2, 1) for name in ("horizontal", "vertical", "diagonal")],
    ]
    np.testing.assert_array_equal(basis.transform(image)[basis.blocks[0].region], coefficients[0])
    for block in basis.blocks[1:]:
        detail = coefficients[1 + 3 - block.level]["da ad dd".split().index(block.key)]
        np.testing.assert_array_equal(basis.transform(image)[block.region], detail)


@pytest.mark.parametrize("wavelet", ORTHOGONAL)
def test_basis_images_are_products_of_the_functions_and_stay_on_their_arcs(wavelet):
    """Every block's basis images, near both ends of each axis too, are the products of the 1-D
    functions, and each function is zero off its arc."""
    shape, levels = (64, 96), 2
    basis = wavelets.WaveletBasis(wavelet, levels, shape)
    for block in basis.blocks:
        row_functions = basis.functions(0, block.level, block.key[0])
        column_functions = basis.functions(1, block.level, block.key[1])
        rows = row_functions.values(0, shape[0])
        columns = column_functions.values(0, shape[1])
        for m, n in [(0, 0), (row_functions.count - 1, 1), (2, column_functions.count - 1)]:
            index = (block.rows.start + m, block.columns.start + n)
            expected = wavelet_reference.basis_image(wavelet, levels, shape, index)
            np.testing.assert_allclose(np.outer(rows[m], columns[n]), expected, atol=1e-12)
            np.testing.assert_allclose(basis.basis_image(index), expected, atol=1e-12)
        for functions, values in ((row_functions, rows), (column_functions, columns)):
            off_arc = np.ones(values.shape, bool)
            np.put_along_axis(off_arc, functions.arcs(), False, axis=1)
            assert np.all(values[off_arc] == 0)


@pytest.mark.parametrize("wavelet", ORTHOGONAL)
def test_orthonormal_transform_keeps_the_sum_of_squares(wavelet):
    """With an orthogonal wavelet and periodization, the coefficients' squares add up to the
    image's, to 1e-12 relative (Parseval)."""
    image = np.random.default_rng(1).random((64, 64))
    basis = wavelets.WaveletBasis(wavelet, 2, image.shape)
    np.testing.assert_allclose(np.sum(basis.transform(image) ** 2), np.sum(image**2), rtol=1e-12)


@pytest.mark.parametrize("wavelet", ["haar", "db2", "sym4"])
@pytest.mark.parametrize(
    "rows, columns", [((0, 64), (448, 512)), ((96, 160), (200, 264)), ((192, 256), (0, 64))]
)
def test_a_tiles_canvas_gives_the_images_coefficients(wavelet, rows, columns):
    """Transformed on its canvas and added where the canvas lies, anything inside a tile has the
    image's squared coefficients, at the image's edges (where both wrap) as inside."""
    basis = wavelets.WaveletBasis(wavelet, 3, (256, 512))
    rows, columns = slice(*rows), slice(*columns)
    image = np.zeros(basis.shape)
    image[rows, columns] = np.random.default_rng(2).random((64, 64))
    canvas = basis.canvas(rows, columns)
    assert canvas.basis.shape[0] < 256 and canvas.basis.shape[1] < 512
    top, left = canvas.offset(rows, columns)
    part = np.zeros(canvas.basis.shape)
    part[top : top + 64, left : left + 64] = image[rows, columns]
    total = np.zeros(basis.shape)
    canvas.add_to(total, canvas.basis.transform(part) ** 2)
    np.testing.assert_allclose(total, basis.transform(image) ** 2, atol=1e-12)


def test_shares_are_each_blocks_part_of_the_squares_and_add_up_to_one():
    """Each block's share is its squares' sum over the whole map's, and the summary carries the
    transform and the sum itself."""
    basis = wavelets.WaveletBasis("db2", 2, (32, 32))
    attribution = np.random.default_rng(3).random((32, 32))
    summary = basis.summary(attribution)
    shares = summary["shares"]
    assert sum(share["share"] for share in shares) == pytest.approx(1.0, abs=1e-12)
    assert shares[1] == {
        "level": 2,
        "orientation": "horizontal",
        "share": pytest.approx(np.sum(attribution[8:16, :8] ** 2) / np.sum(attribution**2)),
    }
    assert summary["squared_norm"] == pytest.approx(np.sum(attribution**2))
    assert (summary["wavelet"], summary["levels"], summary["mode"], summary["shape"]) == (
        "db2",
        2,
        "periodization",
        [32, 32],
    )


@pytest.mark.parametrize(
    "wavelet, levels, shape, message",
    [
        ("haar2", 3, (64, 64), "unknown wavelet 'haar2'"),
        ("morl", 3, (64, 64), "unknown wavelet 'morl'"),
        ("bior2.2", 3, (64, 64), "wavelet 'bior2.2' is not orthogonal"),
        ("haar", 0, (64, 64), "levels must be a whole number >= 1, not 0"),
        (
            "haar",
            5,
            (48, 64),
            "5 levels are too many for a 48x64 image with haar: it takes at most 4",
        ),
        (
            "db4",
            4,
            (64, 64),
            "4 levels are too many for a 64x64 image with db4: it takes at most 3",
        ),
    ],
)
def test_bad_settings_are_refused_saying_what_is_allowed(wavelet, levels, shape, message):
    """Unknown and non-orthogonal wavelets and levels the image cannot take are setting errors."""
    with pytest.raises(SettingError, match=message.replace(".", r"\.")):
        wavelets.WaveletBasis(wavelet, levels, shape)


def test_level_periods_double_from_level_to_level():
    """Level l's details hold periods of 2**l to 2**(l+1) pixels."""
    assert [wavelets.level_periods(level) for level in (1, 2, 3)] == [(2, 4), (4, 8), (8, 16)]
