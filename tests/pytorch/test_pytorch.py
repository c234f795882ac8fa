"""PyTorch encoders, exactly: the graph's maps against ``torch.func.jacrev``'s dense Jacobians,
archives loaded without unpickling, and the shipped model's maps from a PyTorch port of it."""

import functools
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

import complexstep  # noqa: E402
import scripts  # noqa: E402
from complexstep import defaults  # noqa: E402
from complexstep.errors import ImageSizeError, ModelError, UnsupportedLayerError  # noqa: E402
from complexstep.io.images import read_image  # noqa: E402
from torch_zoo import ZOO, build, dense_column_norms, image, output_of  # noqa: E402

CODES = Path(__file__).resolve().parents[2] / "codes"
MICROGRAPHS = Path("/work/shared/data/micrographs/test")

# Larger batches than the default: the zoo's images are small, and each pass is a Python loop
# over the graph's nodes.
BATCH = 64


@functools.cache
def _expected(family: str) -> np.ndarray:
    encoder = build(family)
    return dense_column_norms(encoder, image(encoder))


@functools.cache
def _built(family: str):
    """A zoo member built once, so that both engines share its export."""
    return build(family)


@pytest.mark.parametrize("engine", defaults.ENGINES)
@pytest.mark.parametrize("family", list(ZOO))
def test_every_family_matches_jacrev(family, engine):
    """Both engines give the norms of jacrev's Jacobian columns, to 1e-5 of the map's maximum,
    for every encoder of the zoo."""
    encoder = _built(family)
    x = image(encoder)
    expected = _expected(family)
    maps = complexstep.attribute(
        encoder.module, x, layer=encoder.layer, engine=engine, batch_size=BATCH
    )
    assert maps.shape == encoder.sides
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5 * expected.max())


def test_the_jacobian_pullback_and_code_of_a_module():
    """The Jacobian's column norms are the map, its pullback is one reverse pass's, and the code
    is the submodule's output laid out channels-last. Nothing is written onto the module."""
    encoder = build("denoising_autoencoder")
    x = image(encoder)
    attributes = set(vars(encoder.module))
    jacobian = complexstep.jacobian(encoder.module, x, layer="encoder")
    maps = complexstep.attribute(encoder.module, x, layer="encoder")
    np.testing.assert_allclose(jacobian.column_norms(), maps, rtol=0, atol=1e-5 * maps.max())
    u = np.random.default_rng(2).standard_normal(jacobian.output_shape).astype(np.float32)
    explainer = complexstep.Explainer(encoder.module, layer="encoder")
    np.testing.assert_allclose(explainer.vjp(x, u), jacobian.vjp(u), rtol=0, atol=1e-5)
    code = complexstep.encode(encoder.module, x, layer="encoder")
    nchw = torch.from_numpy(x[None, None])
    with torch.no_grad():
        expected = output_of(encoder.module, "encoder", nchw)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(code, expected, rtol=0, atol=1e-6)
    assert set(vars(encoder.module)) == attributes


def test_the_default_layer_is_the_output_and_one_of_two_outputs_must_be_named():
    """Without a submodule named "code" the module's output is explained; a module of two
    outputs asks for the submodule, and an unknown one is named with the module's list."""
    encoder = build("unet")
    x = image(encoder)
    assert complexstep.attribute(encoder.module, x).shape == encoder.sides
    vae = build("vae_mean")
    with pytest.raises(ModelError, match="returns 2 tensors; name the submodule"):
        complexstep.attribute(vae.module, image(vae))
    with pytest.raises(ModelError, match="no submodule 'encoder.layer9'.*log_variance"):
        complexstep.Explainer(vae.module, layer="encoder.layer9")


class Attention(torch.nn.Module):
    """Self-attention over positions: a product of two matrices that depend on the image."""

    def forward(self, x):
        flat = x.flatten(2)
        return torch.matmul(flat.transpose(1, 2), flat)


def test_an_operation_outside_the_twins_is_named_with_its_submodule():
    """An operation without a twin is refused in one line that names it and the submodule it is
    called in."""
    module = torch.nn.Sequential(
        OrderedDict(conv=torch.nn.Conv2d(1, 2, 3), attention=Attention())
    ).eval()
    with pytest.raises(UnsupportedLayerError) as refusal:
        complexstep.attribute(module, np.zeros((8, 8), np.float32))
    message = str(refusal.value)
    assert "\n" not in message
    assert "matmul in 'attention' (Attention)" in message


def test_a_module_in_training_mode_is_refused():
    """Batch statistics and dropout would make the map another function's: train mode is
    refused before anything is captured."""
    encoder = build("denoising_autoencoder")
    with pytest.raises(ModelError, match=r"training mode; call .eval\(\)"):
        complexstep.Explainer(encoder.module.train())


def test_an_archive_gives_the_module_s_maps_and_only_its_own_size(tmp_path):
    """A torch.export archive explains as its module does, for the size it was exported at;
    other sizes are refused saying so."""
    encoder = build("resnet18_head")
    x = image(encoder)
    program = torch.export.export(encoder.module, (torch.zeros(1, 1, *encoder.sides),))
    path = tmp_path / "encoder.pt2"
    torch.export.save(program, path)
    maps = complexstep.attribute(path, x, batch_size=BATCH)
    expected = _expected("resnet18_head")
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5 * expected.max())
    with pytest.raises(ImageSizeError, match="exported for 32x32 images, not 64x64"):
        complexstep.attribute(path, np.zeros((64, 64), np.float32))


class Planted:
    """What a malicious checkpoint holds: unpickling it writes a file."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "unpickled"))


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_a_pickled_checkpoint_is_refused_unread(tmp_path, suffix):
    """A pickled checkpoint is never unpickled: the refusal says how to export the module."""
    planted = tmp_path / "planted.txt"
    path = tmp_path / f"encoder{suffix}"
    path.write_bytes(pickle.dumps(Planted(planted)))
    with pytest.raises(ModelError, match=r"never unpickled.*torch\.export\.export\(module\.eval"):
        complexstep.attribute(str(path), np.zeros((16, 16), np.float32))
    assert not planted.exists()


def test_an_object_that_is_no_model_is_refused_in_one_line():
    """Neither a Keras nor a PyTorch model nor a path: one ModelError naming its type."""
    with pytest.raises(ModelError, match="model must be a keras.Model, .* not dict$"):
        complexstep.attribute({}, np.zeros((16, 16), np.float32))


def test_no_keras_or_tensorflow_is_imported_for_a_module():
    """A fresh interpreter explains a module with neither Keras nor TensorFlow imported."""
    script = (
        "import sys, numpy as np, torch\n"
        "sys.path.insert(0, 'tests')\n"
        "import complexstep\n"
        "from torch_zoo import build, image\n"
        "encoder = build('vae_mean')\n"
        "complexstep.attribute(encoder.module, image(encoder), layer='mean')\n"
        "print(sorted({'keras', 'tensorflow'} & set(sys.modules)))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(CODES)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=CODES.parent,
        env=environment,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.skipif(not MICROGRAPHS.is_dir(), reason="the study's test micrographs are absent")
def test_a_port_of_the_shipped_model_gives_its_maps():
    """A PyTorch port of the shipped Keras model, its weights copied, gives the shipped model's
    maps on the study's test micrographs: a whole one by the jacobian engine, and a corner of
    another by the complex step, whose forward passes at 256x256 are too many for the tests."""
    model = complexstep.load_model("pretrained")
    port = port_of(model)
    paths = sorted(MICROGRAPHS.glob("*.jpg"))[:2]
    micrographs = np.stack([read_image(path) for path in paths])
    for engine, images in (
        ("jacobian", micrographs[:1]),
        ("complex-step", micrographs[1:, :64, :64]),
    ):
        expected = complexstep.attribute(model, images)
        maps = complexstep.attribute(port, images, engine=engine, batch_size=256)
        errors = np.max(np.abs(maps - expected), axis=(1, 2))
        assert np.all(errors <= 1e-5 * np.max(expected, axis=(1, 2))), (engine, errors)


def port_of(model) -> torch.nn.Module:
    """The shipped Keras model as a PyTorch module of the same layers and weights, its code
    layer a submodule named "code"."""
    from complexstep.model.architecture import ENCODER

    layers = OrderedDict()
    inputs = 1
    for spec in ENCODER:
        if spec.kind == "conv":
            conv = torch.nn.Conv2d(inputs, spec.filters, 3, padding=1)
            kernel, bias = model.get_layer(spec.name).get_weights()
            conv.weight.data = torch.from_numpy(np.transpose(kernel, (3, 2, 0, 1)).copy())
            conv.bias.data = torch.from_numpy(bias.copy())
            layers[spec.name] = conv
            layers[f"{spec.name}_relu"] = torch.nn.ReLU()
            inputs = spec.filters
        else:
            layers[spec.name] = torch.nn.MaxPool2d(2)
    return torch.nn.Sequential(layers).eval()


def test_stage_2_explains_an_archive(tmp_path):
    """Stage 2 takes --model encoder.pt2 and writes the maps the API gives for the micrographs
    as it reads them, without starting Keras."""
    encoder = build("denoising_autoencoder")
    program = torch.export.export(encoder.module, (torch.zeros(1, 1, *encoder.sides),))
    archive = tmp_path / "encoder.pt2"
    torch.export.save(program, archive)
    inputs, outputs = tmp_path / "micrographs", tmp_path / "maps"
    inputs.mkdir()
    rng = np.random.default_rng(4)
    for name in ("ferrite", "pearlite"):
        pixels = (rng.random(encoder.sides) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(inputs / f"{name}.png")
    status, stderr, loaded = scripts.run_watching_imports(
        "obtain_attribution_contours.py",
        [
            *("--inputs", str(inputs), "--outputs", str(outputs), "--model", str(archive)),
            *("--layer", "encoder", "--resize", "none"),
        ],
        {"keras", "tensorflow"},
    )
    assert status == 0, stderr
    assert loaded == []
    for name in ("ferrite", "pearlite"):
        micrograph = read_image(inputs / f"{name}.png", size=None)
        expected = complexstep.attribute(encoder.module, micrograph, layer="encoder")
        np.testing.assert_allclose(
            np.load(outputs / f"{name}.npy"), expected, rtol=0, atol=1e-5 * expected.max()
        )
