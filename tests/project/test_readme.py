"""The README is short, and the Python examples of the README and the API page run as written and
say what they claim. (tests/project/test_docs.py checks the commands, flags and pictures of
both.)"""

import re

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

import encoder_zoo
import scripts
from complexstep.io.images import save_figure
from complexstep.model import synthetic
from complexstep.rendering import heatmaps

README_MOST_LINES = 200


def python_blocks(document: str) -> list[str]:
    """The Python code blocks of a Markdown file of the repository, in order."""
    text = (scripts.REPOSITORY / document).read_text()
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_the_readme_reads_in_five_minutes():
    """The README holds at most 200 lines; the rest is in docs/."""
    lines = (scripts.REPOSITORY / "README.md").read_text().splitlines()
    assert len(lines) <= README_MOST_LINES


def test_readme_example_explains_a_micrograph_at_its_own_resolution(tmp_path, monkeypatch):
    """The README's example reads a 100x90 micrograph, explains its top-left 96x80 with the shipped
    model and returns a heatmap Figure of its height, with a colour bar."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_micrographs").mkdir()
    pixels = synthetic.generate_micrograph(np.random.default_rng(1), 128)[:100, :90]
    Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "my_micrographs" / "sample.png")
    namespace = {}
    example = python_blocks("README.md")[0]
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["maps"].shape == (96, 80)
    # The map fills the figure's height, 100 map pixels to the inch, with its colour bar beside.
    figure = namespace["figure"]
    width, height = figure.get_size_inches() * 100
    assert round(height) == 96 and round(width) > 80 and len(figure.axes) == 2


def test_api_page_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """The API page's examples explain a 512x384 micrograph with the shipped model, their checks
    hold, they print the size error, and the notebook example gives three figures."""
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for example in python_blocks("docs/api.md"):
        exec(compile(example, "docs/api.md", "exec"), namespace)
    assert namespace["maps"].shape == (512, 384)
    assert namespace["batch"].shape == (2, 512, 384)
    assert namespace["row"].shape == (512, 384)
    assert namespace["column"].shape == (32, 24, 8)
    assert 50e6 < namespace["jacobian"].values.nbytes < 60e6
    assert all(isinstance(namespace[name], Figure) for name in ("heatmap", "overlay", "panel"))
    printed = capsys.readouterr().out
    assert (
        "multiples of 16, not a 250x256 image; the nearest it takes: height 240 or 256" in printed
    )


def test_the_readme_figure_is_drawn_as_the_tool_draws_a_panel_now(tmp_path):
    """figures/pretrained_panel.png has the size of the panel stage 3 draws now for a 256x256 map
    and its micrograph, and the heatmap's colour bar under its right half: a drawing changed
    without make figures run again fails here."""
    rng = np.random.default_rng(0)
    raw = rng.random((256, 256))
    values, _ = heatmaps.heatmap_values(raw, sigma=1.0)
    figure = heatmaps.panel_figure("image_1018", raw, values, heatmaps.HeatmapStyle(), raw)
    path = save_figure(figure, tmp_path / "panel.png", heatmaps.PANEL_MAXIMUM_DPI)
    with Image.open(scripts.REPOSITORY / "figures" / "pretrained_panel.png") as shipped:
        shipped_pixels = np.asarray(shipped.convert("RGB"), dtype=int)
    with Image.open(path) as drawn:
        assert drawn.size == shipped.size
    # The colour bar's row: its blue end left of the middle, its red end at the right.
    rows = shipped_pixels[int(0.8 * shipped.size[1]) : int(0.86 * shipped.size[1])]
    pure_red = (rows[..., 0] > 230) & (rows[..., 1] < 30) & (rows[..., 2] < 30)
    pure_blue = (rows[..., 2] > 230) & (rows[..., 0] < 30) & (rows[..., 1] < 30)
    assert pure_red.any() and pure_blue.any()
    assert np.flatnonzero(pure_blue.any(axis=0)).min() < np.flatnonzero(pure_red.any(axis=0)).min()


def test_readme_explains_a_users_own_encoder_in_three_lines(tmp_path, monkeypatch):
    """The README's own-encoder lines explain a VAE saved as my_vae.keras at its z_mean, as the
    backend's dense Jacobian says."""
    monkeypatch.chdir(tmp_path)
    encoder = encoder_zoo.build("vae_encoder")
    encoder.model.save(tmp_path / "my_vae.keras")
    micrograph = encoder_zoo.image(encoder)
    namespace = {"micrograph": micrograph}
    exec(compile(python_blocks("README.md")[1], "README.md", "exec"), namespace)
    expected = encoder_zoo.dense_column_norms(encoder, micrograph)
    np.testing.assert_allclose(namespace["maps"], expected, atol=1e-5 * expected.max())
