"""The public API: attribution maps and Jacobians of any size, from a model or its file."""

import dataclasses
import os
import pickle
import pydoc
import subprocess
import sys

import numpy as np
import pytest

import complexstep
import models
import reference
import wavelet_reference
from complexstep import api, defaults
from complexstep.engines import ENGINES
from complexstep.explain import cache
from complexstep.model import architecture


@pytest.fixture(scope="module")
def image():
    return models.smooth_images(np.random.default_rng(21), 1)[0, :, :, 0]


@pytest.fixture(scope="module")
def tall_image():
    """A 160x96 image, larger than the 64-pixel tiles the tests split it into."""
    return np.random.default_rng(22).random((160, 96)).astype(np.float32)


@pytest.fixture(scope="module")
def model_path(random_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "autoencoder.keras"
    random_model.save(path)
    return path


def test_one_image_gives_one_map_and_a_batch_gives_a_batch(random_model, image, model_path):
    """Shapes follow the input, the model may be a file, and every form gives the same map."""
    single = complexstep.attribute(random_model, image)
    assert single.shape == (256, 256) and single.dtype == np.float32
    batch = complexstep.attribute(str(model_path), np.stack([image, image[::-1]])[..., None])
    assert batch.shape == (2, 256, 256) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], single)
    flipped = complexstep.attribute(model_path, image[::-1][None])
    np.testing.assert_array_equal(flipped[0], batch[1])


def test_both_engines_give_the_literal_step(random_model, image):
    """Both engines give one complex pass per pixel, within 1e-5 relative."""
    pixels = [(0, 0), (255, 255), (100, 37)]
    literal = reference.literal_attribution(random_model, "code", image, pixels)
    for engine in ("jacobian", "complex-step"):
        values = complexstep.attribute(random_model, image, engine=engine, h=1e-3)
        np.testing.assert_allclose([values[pixel] for pixel in pixels], literal, rtol=1e-5)


@pytest.mark.parametrize("engine", ["jacobian", "complex-step"])
def test_tiles_change_nothing_and_large_images_are_exact(random_model, tall_image, engine):
    """A 160x96 image split into 64-pixel tiles gets the map it gets whole, which is the literal
    step's."""
    whole = api.Explainer(random_model, engine=engine).attribute(tall_image)
    explainer = api.Explainer(random_model, engine=engine, tile_size=64)
    assert len(explainer.tiling.plan(160, 96)) > 4
    tiled = explainer.attribute(tall_image)
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-7 * whole.max())
    pixels = [(0, 0), (159, 95), (80, 47), (33, 90)]
    literal = reference.literal_attribution(random_model, "code", tall_image, pixels)
    np.testing.assert_allclose([tiled[pixel] for pixel in pixels], literal, rtol=1e-5)


def test_images_larger_than_256_are_exact_on_the_seams_of_their_tiles(random_model):
    """A 288x320 image in four tiles gets, from both engines, the literal step's values at its
    corners and on both sides of the seams between its tiles, within 1e-5 relative."""
    rng = np.random.default_rng(25)
    large_image = models.grains(rng, 288, 320)
    # A code cell answers for 16x16 pixels, so the tiles meet at row 144 and column 160: pixels
    # where the four meet, along each seam, and where the seams reach the image's edges.
    pixels = [(0, 0), (0, 319), (287, 0), (287, 319)]
    pixels += [(143, 159), (143, 160), (144, 159), (144, 160)]
    pixels += [(143, 70), (144, 250), (60, 159), (230, 160)]
    pixels += [(0, 160), (287, 159), (144, 0), (143, 319)]
    literal = reference.literal_attribution(random_model, "code", large_image, pixels)
    for engine in ("jacobian", "complex-step"):
        explainer = api.Explainer(random_model, engine=engine, tile_size=192)
        tiles = explainer.tiling.plan(288, 320)
        assert sorted({tile.rows.cells.start for tile in tiles}) == [0, 9]
        assert sorted({tile.columns.cells.start for tile in tiles}) == [0, 10]
        values = explainer.attribute(large_image)
        np.testing.assert_allclose([values[pixel] for pixel in pixels], literal, rtol=1e-5)


def test_progress_counts_every_pass_of_every_image(random_model, image):
    """The callback hears a rising count of passes that ends at the total for both images."""
    heard = []
    complexstep.attribute(
        random_model, np.stack([image, image]), on_progress=lambda *pair: heard.append(pair)
    )
    done = [count for count, _ in heard]
    assert done == sorted(done) and heard[0] == (0, 144) and heard[-1] == (144, 144)


def test_a_first_calls_bar_opens_before_the_twin_is_built(image, capsys):
    """show_progress=True on a model's first call draws its bar at 0 with what is being done,
    before the twin is built and compiled, and ends at every pass counted."""
    pytest.importorskip("tqdm")
    complexstep.attribute(models.random_autoencoder(7), image, show_progress=True)
    bar = capsys.readouterr().err
    opening = bar.index(f"0/72 [00:00<?, ?passes/s, {api.STARTING}]")
    assert opening < bar.index("72/72")
    assert "passes/s" in bar[bar.index("72/72") :]


@pytest.mark.parametrize(
    "images, error, message",
    [
        (np.zeros((256, 256), np.uint8), complexstep.ImageError, "not uint8; divide 8-bit"),
        (np.full((256, 256), 1.5), complexstep.ImageError, "range from 1.5 to 1.5"),
        (np.full((256, 256), np.nan), complexstep.ImageError, "must lie in"),
        (np.zeros((2, 256, 256, 3)), complexstep.ImageError, r"not an array of shape \(2, 256"),
        (np.zeros((250, 256)), complexstep.ImageSizeError, "height 240 or 256"),
    ],
)
def test_bad_images_are_refused_in_one_line(random_model, images, error, message):
    """Each problem with the images raises the library's own error, naming what to change."""
    with pytest.raises(error, match=message) as raised:
        complexstep.attribute(random_model, images)
    assert isinstance(raised.value, complexstep.ComplexStepError)
    assert "\n" not in str(raised.value)


def test_bad_settings_and_models_are_refused_in_one_line(random_model, image, tmp_path):
    """An unknown engine, a step that is not positive and a missing model are each named."""
    with pytest.raises(complexstep.SettingError, match="unknown engine 'adjoint'"):
        complexstep.attribute(random_model, image, engine="adjoint")
    with pytest.raises(complexstep.SettingError, match="h must be a number from 1e-20 to 1e"):
        complexstep.attribute(random_model, image, h=0)
    with pytest.raises(complexstep.SettingError, match="not 1e-30: float32 passes cannot"):
        complexstep.attribute(random_model, image, h=1e-30)
    with pytest.raises(complexstep.ModelError, match="no model file at .*missing.keras"):
        complexstep.attribute(tmp_path / "missing.keras", image)
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    with pytest.raises(complexstep.ModelError, match=f"^cannot load the model at {broken}: "):
        complexstep.load_model(broken)


@pytest.fixture(scope="module")
def tall_jacobian(random_model, tall_image):
    """The Jacobian of the code of the tall image, assembled from 64-pixel tiles."""
    return api.Explainer(random_model, tile_size=64).jacobian(tall_image)


def test_jacobian_columns_are_the_literal_complex_step(random_model, tall_image, tall_jacobian):
    """Column (y, x) is Im f(x + i*h*e_k) / h, and the output is the code itself."""
    for y, x in [(0, 0), (159, 95), (70, 50)]:
        z = tall_image.astype(np.complex128)
        z[y, x] += 0.1j
        expected = reference.complex_forward(random_model, "code", z).imag / 0.1
        column = tall_jacobian.column(y, x)
        assert column.shape == (10, 6, 8)
        np.testing.assert_allclose(column, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    code = reference.complex_forward(random_model, "code", tall_image.astype(np.complex128)).real
    np.testing.assert_allclose(tall_jacobian.output, code, rtol=1e-5, atol=1e-6)


def test_jacobian_rows_and_products_agree_with_the_dense_matrix(tall_jacobian, tall_image):
    """Rows, columns, column norms and both products are read from one dense Jacobian."""
    dense = tall_jacobian.to_dense()
    assert dense.shape == (10, 6, 8, 160, 96) == tall_jacobian.shape
    np.testing.assert_array_equal(tall_jacobian.row(4, 2, 7), dense[4, 2, 7])
    np.testing.assert_array_equal(tall_jacobian.column(31, 64), dense[..., 31, 64])
    rng = np.random.default_rng(23)
    tangent, cotangent = rng.random((160, 96)), rng.random((10, 6, 8))
    forward = np.einsum("ijcyx,yx->ijc", dense, tangent)
    np.testing.assert_allclose(
        tall_jacobian.jvp(tangent), forward, rtol=1e-5, atol=1e-6 * np.abs(forward).max()
    )
    backward = np.einsum("ijcyx,ijc->yx", dense, cotangent)
    np.testing.assert_allclose(
        tall_jacobian.vjp(cotangent), backward, rtol=1e-5, atol=1e-6 * np.abs(backward).max()
    )
    norms = np.sqrt(np.sum(dense.astype(np.float64) ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(tall_jacobian.column_norms(), norms, rtol=1e-5)


def test_jacobian_column_norms_are_the_attribution_map(random_model, image):
    """For the paper's image size, the column norms are attribute's map, and the sparse storage
    of the code's Jacobian takes about 17 MB."""
    jacobian = complexstep.jacobian(random_model, image)
    np.testing.assert_allclose(
        jacobian.column_norms(), complexstep.attribute(random_model, image), rtol=1e-5
    )
    assert 17e6 < jacobian.values.nbytes < 18e6


def test_jacobian_refuses_what_it_cannot_give(random_model, image, tall_jacobian):
    """A batch, a dense matrix over the limit, and rows or columns outside the shapes."""
    with pytest.raises(complexstep.ImageError, match="takes one image"):
        complexstep.jacobian(random_model, np.stack([image, image]))
    with pytest.raises(complexstep.SettingError, match="more than max_bytes"):
        tall_jacobian.to_dense(max_bytes=2**20)
    with pytest.raises(complexstep.SettingError, match=r"output \(10, 0, 0\) is outside"):
        tall_jacobian.row(10, 0, 0)
    with pytest.raises(complexstep.SettingError, match=r"pixel \(0, 96\) is outside"):
        tall_jacobian.column(0, 96)


def test_encode_gives_the_layers_output_at_any_size(random_model, image, tall_image):
    """The code of the paper's image is the model's own; other sizes get theirs."""
    import keras

    submodel = keras.Model(random_model.input, random_model.get_layer("code").output)
    expected = keras.ops.convert_to_numpy(submodel(image[None, ..., None]))[0]
    np.testing.assert_allclose(complexstep.encode(random_model, image), expected, rtol=1e-6)
    code = reference.complex_forward(random_model, "code", tall_image.astype(np.complex128)).real
    np.testing.assert_allclose(
        complexstep.encode(random_model, tall_image[None])[0], code, rtol=1e-5, atol=1e-6
    )


def test_jacobian_reports_the_passes_it_announces(random_model, tall_image):
    """The passes jacobian reports add up to jacobian_passes, for shallow and deep layers alike,
    and complexstep.jacobian tells its callback a rising count that ends at that total."""
    for layer in ("encoder_conv1", "code"):
        explainer = api.Explainer(random_model, layer=layer, tile_size=64)
        heard = []
        explainer.jacobian(tall_image, heard.append)
        assert sum(heard) == explainer.jacobian_passes(160, 96) > 1
    reports = []
    complexstep.jacobian(random_model, tall_image, on_progress=lambda *pair: reports.append(pair))
    total = api.Explainer(random_model).jacobian_passes(160, 96)
    assert reports[-1] == (total, total)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_an_explainer_is_built_from_one_frozen_value_that_pickles(random_model):
    """Keywords and an ``ExplainerSettings`` build the same explainer, whose settings are that
    value: frozen, hashable and equal to itself after pickling, as Dask workers receive it."""
    settings = complexstep.ExplainerSettings(engine="complex-step", kind="gradient-input")
    explainer = api.Explainer(random_model, settings)
    assert explainer.settings is settings
    assert api.Explainer(random_model, engine="complex-step", kind="gradient-input").settings == (
        settings
    )
    assert (explainer.engine, explainer.kind.name, explainer.layer) == (
        "complex-step",
        "gradient-input",
        "code",
    )
    copied = pickle.loads(pickle.dumps(settings))
    assert copied == settings and hash(copied) == hash(settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.engine = "jacobian"
    replaced = api.Explainer(random_model, settings, layer="encoder_pool1").settings
    assert replaced == dataclasses.replace(settings, layer="encoder_pool1")
    with pytest.raises(complexstep.SettingError, match="unknown engine 'adjoint'"):
        complexstep.ExplainerSettings(engine="adjoint")


def test_the_engines_former_name_still_chooses_it_with_a_warning(random_model, image):
    """``method=``, the engine's name before it was called so, chooses the engine and warns."""
    with pytest.warns(DeprecationWarning, match="method= is now engine="):
        explainer = api.Explainer(random_model, method="complex-step")
    assert explainer.engine == "complex-step"
    with pytest.warns(DeprecationWarning, match="method= is now engine="):
        maps = complexstep.attribute(random_model, image, method="complex-step")
    expected = complexstep.attribute(random_model, image, engine="complex-step")
    np.testing.assert_array_equal(maps, expected)


@pytest.fixture(scope="module")
def tall_wavelet_map(random_model, tall_image):
    """The db2 wavelet map of the tall image's code, whole."""
    explainer = api.Explainer(random_model, domain="wavelet", wavelet="db2", levels=3)
    return explainer.attribute(tall_image)


def test_wavelet_maps_are_exact_in_tiles_and_with_both_engines(
    random_model, tall_image, tall_wavelet_map
):
    """Explained in 64-pixel tiles on canvases, or by complex-step passes, the wavelet map is the
    whole image's, and equals one complex pass per coefficient, within 1e-5."""
    explainer = api.Explainer(random_model, domain="wavelet", wavelet="db2", levels=3, tile_size=64)
    assert len(explainer.tiling.plan(160, 96, engine=ENGINES[explainer.engine].wavelet)) > 1
    tiled = explainer.attribute(tall_image)
    complex_step = complexstep.attribute(
        random_model, tall_image, engine="complex-step", domain="wavelet", wavelet="db2"
    )
    for other in (tiled, complex_step):
        np.testing.assert_allclose(
            other, tall_wavelet_map, rtol=1e-5, atol=1e-6 * tall_wavelet_map.max()
        )
    indices = [(0, 0), (25, 7), (159, 95)]
    literal = wavelet_reference.literal_wavelet_attribution(
        random_model, "code", tall_image, "db2", 3, indices
    )
    np.testing.assert_allclose([tall_wavelet_map[index] for index in indices], literal, rtol=1e-5)


def test_wavelet_maps_square_to_the_pixel_maps_sum(random_model, tall_image, tall_wavelet_map):
    """The squared wavelet map sums to the squared pixel map's sum, within 1e-5 (Parseval)."""
    pixel = complexstep.attribute(random_model, tall_image)
    np.testing.assert_allclose(
        np.sum(tall_wavelet_map.astype(np.float64) ** 2),
        np.sum(pixel.astype(np.float64) ** 2),
        rtol=1e-5,
    )


def test_wavelet_batches_report_every_pass(random_model, tall_image):
    """A batch gives a batch of wavelet maps, and progress ends at the passes announced."""
    heard = []
    maps = complexstep.attribute(
        random_model,
        np.stack([tall_image, tall_image[::-1]]),
        domain="wavelet",
        on_progress=lambda done, total: heard.append((done, total)),
    )
    assert maps.shape == (2, 160, 96) and maps.dtype == np.float32
    passes = api.Explainer(random_model, domain="wavelet").passes(160, 96)
    assert heard[-1] == (2 * passes, 2 * passes)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"domain": "fourier"}, "unknown domain 'fourier'; choose one of pixel, wavelet"),
        ({"domain": "wavelet", "wavelet": "bior2.2"}, "wavelet 'bior2.2' is not orthogonal"),
        ({"domain": "wavelet", "levels": 6}, "6 levels are too many for a 160x96 image"),
    ],
)
def test_bad_wavelet_settings_are_refused_in_one_line(random_model, tall_image, settings, message):
    """An unknown domain, a wavelet that is not orthogonal and too many levels are refused."""
    with pytest.raises(complexstep.SettingError, match=f"^{message}"):
        complexstep.attribute(random_model, tall_image, **settings)


def test_sizes_the_network_refuses_are_named_before_the_wavelet_levels(random_model):
    """A 250x256 image in the wavelet domain is refused for the network's multiples of 16."""
    with pytest.raises(complexstep.ImageSizeError, match="multiples of 16, not a 250x256 image"):
        complexstep.attribute(random_model, np.zeros((250, 256), np.float32), domain="wavelet")


def test_pretrained_model_comes_with_its_training_history():
    """ "pretrained" is the paper's network after 50 epochs, its history and curves beside it, and
    it reconstructs a synthetic micrograph it never saw far better than untrained weights."""
    import csv

    import keras

    from complexstep.model import architecture, synthetic

    model = complexstep.load_model(complexstep.PRETRAINED)
    assert model.count_params() == 50_353
    assert model.get_layer("code").output.shape == (None, 16, 16, 8)
    folder = api.PRETRAINED_PATH.parent
    with open(folder / "training_history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in history] == list(range(1, 51))
    assert float(history[-1]["val_loss"]) < 0.007 < float(history[0]["val_loss"])
    assert (folder / "loss_curves.png").stat().st_size > 10_000
    micrograph = synthetic.generate_micrograph(np.random.default_rng(5))[None, ..., None] / 255.0
    keras.utils.set_random_seed(0)
    untrained = architecture.build_autoencoder()
    errors = [
        float(np.mean((keras.ops.convert_to_numpy(network(micrograph)) - micrograph) ** 2))
        for network in (model, untrained)
    ]
    assert errors[0] < errors[1] / 5


def test_vector_jacobian_products_from_reverse_passes_match_the_jacobian(
    random_model, tall_image, tall_jacobian
):
    """Explainer.vjp pulls a cotangent back tile by tile as Jacobian.vjp multiplies by the whole
    Jacobian, and refuses a cotangent of another shape."""
    explainer = api.Explainer(random_model, tile_size=64)
    cotangent = np.random.default_rng(3).normal(size=tall_jacobian.output_shape)
    expected = tall_jacobian.vjp(cotangent)
    found = explainer.vjp(tall_image, cotangent)
    assert found.shape == (160, 96) and found.dtype == np.float32
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    with pytest.raises(complexstep.SettingError, match=r"shape, \(10, 6, 8\), not \(10, 6\)"):
        explainer.vjp(tall_image, cotangent[..., 0])


@pytest.mark.parametrize("tile_size", [None, 64])
def test_the_attribution_of_a_mean_jacobian_is_its_column_norms(
    random_model, tall_image, tile_size
):
    """mean_attribution gives ||(1/n) sum_i J(x_i) e_k||, as the Jacobians themselves give it,
    whole or in tiles; for one image it is the attribution map."""
    explainer = api.Explainer(random_model, tile_size=tile_size)
    images = np.stack([tall_image, tall_image**2, 1 - tall_image])
    values = np.mean([explainer.jacobian(image).values for image in images], axis=0)
    expected = dataclasses.replace(explainer.jacobian(tall_image), values=values).column_norms()
    found = explainer.mean_attribution(images)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6 * expected.max())
    single = explainer.mean_attribution(tall_image[None])
    np.testing.assert_allclose(single, explainer.attribute(tall_image), rtol=1e-5, atol=1e-7)


def test_encoding_past_the_unit_range_is_allowed_only_when_asked(random_model, image):
    """Probes that step a pixel past 1 get the network's output; users get the range check."""
    stepped = image.copy()
    stepped[0, 0] = 1.001
    explainer = api.Explainer(random_model)
    with pytest.raises(complexstep.ImageError, match="must lie in"):
        explainer.encode(stepped)
    found = explainer.encode(stepped, unit_range=False)
    np.testing.assert_allclose(
        found[0],
        reference.complex_forward(random_model, "code", stepped).real,
        rtol=1e-4,
        atol=1e-5,
    )
    with pytest.raises(complexstep.ImageError, match="must be finite"):
        explainer.encode(np.full((256, 256), np.inf), unit_range=False)


def test_repeated_calls_reuse_what_was_built_and_write_nothing_on_the_model(image):
    """A loop of attribute calls builds one Explainer per model and settings, kept in the cache
    and not on the model, which clearing the cache lets go."""
    import gc
    import weakref

    model = architecture.build_autoencoder()
    attributes = set(vars(model))
    first = complexstep.attribute(model, image)
    assert set(vars(model)) == attributes
    kept = cache.explainer(model, layer="code")
    assert cache.explainer(model, layer="code") is kept
    assert cache.explainer(model, layer="encoder_pool1") is not kept
    np.testing.assert_array_equal(complexstep.attribute(model, image), first)
    freed = weakref.ref(model)
    del model, kept
    gc.collect()
    assert freed() is not None
    cache.clear()
    gc.collect()
    assert freed() is None


def test_the_cache_lets_go_of_the_oldest_model_and_of_a_file_trained_anew(tmp_path, monkeypatch):
    """Beyond the models it keeps, the cache lets the least recently used go; a model file saved
    anew is loaded anew."""
    import gc
    import weakref

    monkeypatch.setattr(cache, "KEPT_MODELS", 2)
    cache.clear()
    first, second, third = (architecture.build_autoencoder() for _ in range(3))
    freed = weakref.ref(first)
    cache.explainer(first, layer="code")
    kept = cache.explainer(second, layer="code")
    cache.explainer(first, layer="code")
    cache.explainer(third, layer="code")
    del first
    gc.collect()
    assert freed() is not None
    assert cache.explainer(second, layer="code") is not kept
    del second, third, kept
    gc.collect()
    assert freed() is None

    path = tmp_path / "autoencoder.keras"
    model = architecture.build_autoencoder()
    model.save(path)
    before = cache.explainer(path, layer="code")
    assert cache.explainer(str(path), layer="code") is before
    model.set_weights([weights + 1 for weights in model.get_weights()])
    model.save(path)
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))
    after = cache.explainer(path, layer="code")
    assert after is not before
    assert not np.array_equal(after.model.get_weights()[0], before.model.get_weights()[0])
    assert cache.explainer(path, layer="code") is after
    cache.clear()


@pytest.mark.parametrize("h", [1e-20, 1e20])
def test_every_step_the_api_takes_gives_the_same_map(random_model, image, h):
    """The textbook step 1e-20 and the largest accepted one give the map of the default step:
    the imaginary part is divided by h before it is squared, so nothing underflows."""
    expected = complexstep.attribute(random_model, image, engine="complex-step")
    maps = complexstep.attribute(random_model, image, engine="complex-step", h=h)
    assert np.all(np.isfinite(maps)) and maps.max() > 0
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5 * expected.max())


def test_the_library_holds_back_tensorflows_start_up_notices(tmp_path):
    """A script that imports the library, one of its modules that imports Keras, and explains an
    image writes nothing to standard error: TensorFlow's absl, CUDA and oneDNN notices are held
    back, as the commands hold them back, and Keras works as imported."""
    script = (
        "import numpy as np, complexstep\n"
        "from complexstep.explorer import page\n"
        "import keras\n"
        "assert keras.ops.convert_to_numpy(keras.ops.ones(2)).sum() == 2\n"
        "complexstep.encode('pretrained', np.zeros((32, 32), np.float32))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("declining", "expected"),
    [(None, ["3", "true", "True"]), ("0", ["3", "true", "True"]), ("1", ["None", "None", "False"])],
)
def test_importing_the_package_makes_its_process_settings_unless_declined(declining, expected):
    """Importing the package sets TensorFlow's log level and CPU allocator and installs the finder
    that starts Keras quietly; COMPLEXSTEP_NO_PROCESS_SETTINGS=1 declines all three."""
    script = (
        "import os, sys, complexstep\n"
        "from complexstep import quiet\n"
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'),\n"
        "      os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'),\n"
        "      any(isinstance(finder, quiet._KerasFinder) for finder in sys.meta_path))\n"
    )
    made = ("TF_CPP_MIN_LOG_LEVEL", "TF_CPU_ALLOCATOR_USE_BFC", defaults.NO_PROCESS_SETTINGS)
    environment = {key: value for key, value in os.environ.items() if key not in made}
    if declining is not None:
        environment[defaults.NO_PROCESS_SETTINGS] = declining
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_help_of_the_package_shows_the_api_not_the_exceptions_inherited_members():
    """help(complexstep) starts with an example, documents attribute, jacobian, encode and the
    Explainer, and is not pages of what every exception inherits from Exception."""
    text = pydoc.render_doc(complexstep, renderer=pydoc.plaintext)
    assert 'complexstep.attribute("pretrained"' in text
    for name in ("attribute(model", "jacobian(model", "encode(model", "class Explainer"):
        assert name in text
    assert "with_traceback" not in text and "ComplexStepError" in text
