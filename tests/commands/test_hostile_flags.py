"""Settings a hostile user gives the commands and the API that once took minutes, gave a wrong
interval, or ended in numpy's or Keras's traceback: each is one line now."""

import keras
import numpy as np
import pytest

import complexstep
import scripts
from complexstep.errors import ImageError, ModelError, SettingError
from complexstep.regions import sources, statistics
from models import small_autoencoder


@pytest.mark.parametrize(
    "script, arguments, message",
    [
        (
            "measure_regions.py",
            ["--classes", "6"],
            "error: argument --classes: must be from 2 to 4, got 6",
        ),
        (
            "measure_regions.py",
            ["--samples", "1"],
            "error: argument --samples: must be at least 20, got 1",
        ),
        (
            "generate_heatmaps.py",
            ["--sigma", "1e9"],
            "error: argument --sigma: must be from 0 to 100, got 1e9",
        ),
    ],
)
def test_a_setting_that_would_take_minutes_or_lie_is_one_line(tmp_path, script, arguments, message):
    result = scripts.run(
        script, "--inputs", str(tmp_path), "--outputs", str(tmp_path / "out"), *arguments
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]


def test_the_library_refuses_classes_that_take_minutes():
    with pytest.raises(SettingError, match="whole number from 2 to 4, not 6"):
        sources.otsu_phases(np.random.default_rng(0).random((32, 32)), classes=6)


def test_the_library_refuses_too_few_bootstrap_resamples():
    with pytest.raises(SettingError, match="whole number >= 20, not 1"):
        statistics.summarise([], samples=1)


@pytest.fixture(scope="module")
def model():
    return small_autoencoder(2)


@pytest.mark.parametrize(
    "images, message",
    [
        (
            [np.zeros((32, 32)), np.zeros((16, 16))],
            "the images of a batch must be of one shape, not (16, 16), (32, 32): call once for "
            "each size",
        ),
        (
            np.zeros((32, 32, 1)),
            "one image is (height, width), not (32, 32, 1): give image[..., 0], or image[None] "
            "for a batch of one",
        ),
    ],
)
def test_images_the_api_cannot_take_are_one_line(model, images, message):
    with pytest.raises(ImageError) as raised:
        complexstep.attribute(model, images, layer="pool2")
    assert str(raised.value) == message


def test_a_batch_of_one_channel_images_is_still_taken(model):
    maps = complexstep.attribute(model, np.zeros((2, 32, 32, 1), np.float32), layer="pool2")
    assert maps.shape == (2, 32, 32)


def test_no_model_is_one_line():
    with pytest.raises(ModelError) as raised:
        complexstep.attribute(None, np.zeros((32, 32)))
    assert str(raised.value) == (
        "model must be a keras.Model, a torch.nn.Module, the path of a .keras or .pt2 file or "
        "'pretrained', not NoneType"
    )


def test_an_unbuilt_sequential_model_is_one_line():
    unbuilt = keras.Sequential([keras.layers.Conv2D(2, 3, padding="same", name="conv")])
    with pytest.raises(ModelError, match="has no input shape yet: build it"):
        complexstep.attribute(unbuilt, np.zeros((32, 32)), layer="conv")
