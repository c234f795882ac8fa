"""The explorer's folder driver as a library: what it writes, reports and refuses."""

import numpy as np
import pytest
from PIL import Image

import explorer_helpers
from complexstep.errors import ImageSizeError, SettingError
from complexstep.explorer import page as explorer
from complexstep.folders import explorer as explorer_folder
from complexstep.io import images


@pytest.fixture(scope="module")
def small_explorer():
    return explorer.Explorer(explorer_helpers.small_autoencoder(seed=13))


@pytest.fixture
def inputs(tmp_path):
    """A 70x40 micrograph in a subfolder, a 64x64 one, two of one stem, and a broken file."""
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for path, shape in [("sub/a.png", (70, 40)), ("big.png", (64, 64)), ("twin.png", (8, 8))]:
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "twin.jpg")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_report_says_what_was_written_cropped_left_out_and_failed(
    small_explorer, inputs, tmp_path, capsys
):
    """Each outcome is listed, the page is the cropped micrograph's, nothing is printed, and
    progress reaches its total."""
    heard = []
    outputs = tmp_path / "outputs"
    report = explorer_folder.explore_folder(
        inputs,
        outputs,
        small_explorer,
        resize=None,
        max_pixels=3000,
        bits=8,
        on_progress=lambda done, total, path: heard.append((done, total, path.name)),
    )
    page = outputs / "sub" / "explore_a.html"
    assert report.written == [inputs / "sub" / "a.png", inputs / "twin.jpg"]
    assert report.outputs == [
        page,
        outputs / "sub" / "activations_a.png",
        outputs / "explore_twin.html",
        outputs / "activations_twin.png",
    ]
    assert report.cropped == [(inputs / "sub" / "a.png", (70, 40), (68, 40))]
    assert len(report.failed) == 3
    assert report.failed[0] == (
        f"left out {inputs / 'big.png'}: 64x64 is 4,096 pixels, more than the 3,000 a page holds; "
        "crop the region to explore, or resize it"
    )
    assert report.failed[1].startswith(f"cannot read {inputs / 'broken.png'}")
    assert report.failed[2] == (
        f"skipped {inputs / 'twin.png'}: its page would overwrite that of {inputs / 'twin.jpg'}"
    )
    data = explorer_helpers.page_data(page)
    assert data["bits"] == 8 and data["name"] == "a"
    expected = images.read_image(inputs / "sub" / "a.png", size=None)[:68, :40]
    np.testing.assert_array_equal(explorer_helpers.unpack(data["arrays"]["micrograph"]), expected)
    assert heard == [(1, 2, "a.png"), (2, 2, "twin.jpg")]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"bits": 12}, SettingError, "8 or 16 bits"),
        ({"max_pixels": 0}, SettingError, "max_pixels must be at least 1"),
        ({"resize": 30}, ImageSizeError, "multiples of 4"),
    ],
)
def test_impossible_settings_are_refused_before_any_work(
    small_explorer, inputs, tmp_path, settings, error, message
):
    """A setting that cannot work stops the run before anything is written."""
    with pytest.raises(error, match=message):
        explorer_folder.explore_folder(inputs, tmp_path / "outputs", small_explorer, **settings)
    assert not (tmp_path / "outputs").exists()
