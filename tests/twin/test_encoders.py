"""Any encoder, exactly: the graph twin's maps against the backend's own dense Jacobians."""

import re

import keras
import numpy as np
import pytest
from keras import layers

import complexstep
import scripts
from complexstep import defaults
from complexstep.errors import ImageSizeError, ModelError, UnsupportedLayerError
from complexstep.twin import graph_layers
from encoder_zoo import ZOO, build, dense_column_norms, image


@pytest.mark.parametrize("engine", defaults.ENGINES)
@pytest.mark.parametrize("family", list(ZOO))
def test_every_family_matches_the_dense_jacobian(family, engine):
    """Both engines give the norms of the dense Jacobian's columns, to 1e-5 of the map's
    maximum, for every family of the zoo."""
    encoder = build(family)
    x = image(encoder)
    expected = dense_column_norms(encoder, x)
    maps = complexstep.attribute(encoder.model, x, layer=encoder.layer, engine=engine)
    assert maps.shape == encoder.sides
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5 * expected.max())


def test_colour_maps_per_channel_add_up_to_the_pixel_map():
    """With per_channel, each channel's map is the norm of its own columns, and their squares
    add up to the pixel's map."""
    encoder = build("rgb_input")
    x = image(encoder)
    both = complexstep.attribute(encoder.model, x, layer=encoder.layer)
    each = complexstep.attribute(encoder.model, x, layer=encoder.layer, per_channel=True)
    assert each.shape == (*encoder.sides, 3)
    np.testing.assert_allclose(np.sqrt(np.sum(each**2, axis=-1)), both, rtol=1e-5)


def test_a_dense_latent_goes_backward_and_a_local_code_forward():
    """Where the code reads the whole image, the jacobian engine takes one reverse pass per code
    value; where it is local, the complex-step engine's lattices are far fewer than the pixels."""
    vae = build("vae_encoder")
    explainer = complexstep.Explainer(vae.model, layer=vae.layer)
    assert explainer.tiling.pixel_passes(*vae.sides) == 4
    assert "reverse passes" in explainer.describe_passes(*vae.sides)
    dae = build("denoising_autoencoder")
    explainer = complexstep.Explainer(dae.model, layer=dae.layer, engine="complex-step")
    assert explainer.tiling.pixel_passes(*dae.sides) < 16 * 16
    assert "forward passes" in explainer.describe_passes(*dae.sides)


# Families whose code cells read a window of the image, not all of it: their images are tiled.
LOCAL = (
    "denoising_autoencoder",
    "unet_bottleneck",
    "residual_encoder",
    "smooth_activations",
    "batchnorm_leaky",
    "strided_valid",
    "dilated",
    "depthwise_separable",
    "grouped",
    "rgb_input",
    "nested_sequential",
    "gated_attention",
    "volume_encoder",
)


@pytest.mark.parametrize("family", list(ZOO))
def test_tiles_of_any_graph_give_the_whole_image_s_map(family):
    """An image larger than the tile size is explained in overlapping tiles wherever the code's
    cells read windows of it, and in one piece where they read all of it; either way the map is
    the one the whole image gives, to 1e-5 of its maximum."""
    # The volume family takes volumes of half the side it is built for. Each tile takes as many
    # passes as the whole, so the volume's are two a side, not three.
    volume = family == "volume_encoder"
    encoder = build(family, side=48 if volume else 56)
    tile_size = encoder.sides[0] - 2 if volume else encoder.sides[0] * 2 // 3
    tiled = complexstep.Explainer(encoder.model, layer=encoder.layer, tile_size=tile_size)
    tiles = tiled.tiling.plan(*encoder.sides)
    assert (len(tiles) > 1) == (family in LOCAL)
    if family not in LOCAL:
        # One tile is the whole image, whose map the zoo's test checks.
        return
    assert f"in {len(tiles)} tiles" in tiled.describe_passes(*encoder.sides)
    x = image(encoder)
    whole = complexstep.Explainer(encoder.model, layer=encoder.layer)
    assert len(whole.tiling.plan(*encoder.sides)) == 1
    expected = whole.attribute(x)
    np.testing.assert_allclose(tiled.attribute(x), expected, rtol=0, atol=1e-5 * expected.max())


def test_a_unet_is_cut_before_its_concatenations_are_seen():
    """A U-Net's bottleneck is explained although its decoder concatenates; the Jacobian's rows
    and its pullback agree with the map."""
    encoder = build("unet_bottleneck")
    x = image(encoder)
    jacobian = complexstep.jacobian(encoder.model, x, layer=encoder.layer)
    maps = complexstep.attribute(encoder.model, x, layer=encoder.layer)
    np.testing.assert_allclose(jacobian.column_norms(), maps, rtol=0, atol=1e-5 * maps.max())
    u = np.random.default_rng(2).standard_normal(jacobian.output_shape).astype(np.float32)
    explainer = complexstep.Explainer(encoder.model, layer=encoder.layer)
    np.testing.assert_allclose(explainer.vjp(x, u), jacobian.vjp(u), rtol=0, atol=1e-5)


def test_a_volume_is_explained_voxel_by_voxel():
    """A Conv3D encoder takes a (depth, height, width) volume and gives a map of its voxels."""
    encoder = build("volume_encoder")
    x = image(encoder)
    maps = complexstep.attribute(encoder.model, np.stack([x, x[::-1]]), layer=encoder.layer)
    assert maps.shape == (2, *encoder.sides)
    np.testing.assert_allclose(
        maps[1], dense_column_norms(encoder, x[::-1]), atol=1e-5 * maps[1].max()
    )


class Shift(layers.Layer):
    """A layer of a user's own: adds a learnt offset, so its derivative is the identity."""

    def build(self, shape):
        self.offset = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x + self.offset


class Lambda(graph_layers.LayerTwin):
    """A twin of a layer of one's own: a real function, and the identity as its linear map."""

    def __init__(self, layer):
        self.layer = layer

    def real(self, inputs):
        return self.layer(inputs[0]), None

    def linear(self, tangents, state):
        return tangents[0]

    def adjoint(self, cotangent, state, inputs):
        return [cotangent]


def test_an_unknown_layer_is_refused_until_its_twin_is_registered():
    """Every layer without a twin is named in one line with its reason; once the user registers
    a twin for their layer, the model is explained exactly."""
    inputs = keras.Input((12, 12, 1))
    x = Shift(name="shift")(inputs)
    x = layers.Conv2D(3, 3, padding="same", data_format="channels_first", name="backwards")(x)
    x = layers.Conv2D(3, 3, padding="same", activation=lambda v: v * v, name="squared")(x)
    model = keras.Model(inputs, x)
    with pytest.raises(UnsupportedLayerError) as raised:
        complexstep.Explainer(model, layer="squared")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("the twin cannot mirror 3 layers up to 'squared': 'shift' (Shift)")
    assert "'backwards' (Conv2D): it is channels_first (nearest supported: " in message
    assert "'squared' (Conv2D): its activation" in message

    graph_layers.register_twin(Shift, "none: the identity")(Lambda)
    try:
        inputs = keras.Input((12, 12, 1))
        code = layers.Conv2D(2, 3, activation="tanh", name="code")(Shift()(inputs))
        model = keras.Model(inputs, code)
        x = np.random.default_rng(3).random((12, 12)).astype(np.float32)
        maps = complexstep.attribute(model, x)
        reference = keras.Model(inputs, code)
        encoder = type("Encoder", (), {"sides": (12, 12), "channels": 1, "reference": reference})
        expected = dense_column_norms(encoder, x)
        np.testing.assert_allclose(maps, expected, atol=1e-5 * expected.max())
    finally:
        del graph_layers.TWINS[Shift]


def test_models_the_twin_cannot_read_are_refused_in_one_line():
    """An unbuilt Sequential model, a layer called twice and a size a dense latent cannot take
    are each one line."""
    with pytest.raises(ModelError, match="is not built"):
        complexstep.Explainer(keras.Sequential([layers.Conv2D(2, 3, name="code")]))
    inputs = keras.Input((8, 8, 1))
    shared = layers.Conv2D(1, 3, padding="same", name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ModelError, match="'shared' is called 2 times"):
        complexstep.Explainer(model, layer="shared")
    logits = build("classifier_logits")
    with pytest.raises(ImageSizeError, match="cannot take a 16x16 image"):
        complexstep.attribute(logits.model, np.zeros((16, 16), np.float32), layer="logits")


def test_the_documentation_lists_every_layer_the_registry_mirrors():
    """docs/encoders.md's table names every Keras layer class the registry has a twin for, and
    no other, so that the page and the code cannot drift apart."""
    page = (scripts.REPOSITORY / "docs" / "encoders.md").read_text()
    # The layer table is the first of the page's section on layers; later sections have theirs.
    section = page.split("## Every layer the twin mirrors", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| "))
    named = set()
    for cell in (line.split(" | ")[0].strip("| ") for line in table.splitlines()[1:]):
        for base in re.sub(r"\s*\([^)]*\)", "", cell).split(", "):
            if base.endswith("1D/2D/3D"):
                named |= {base[:-8] + f"{rank}D" for rank in (1, 2, 3)}
            else:
                named.add(base)
    # Twins a user registered (the page's worked example, run by the docs' test in this process)
    # are not the package's.
    registered = {cls.__name__ for cls in graph_layers.TWINS if cls.__module__.startswith("keras.")}
    assert named == registered
