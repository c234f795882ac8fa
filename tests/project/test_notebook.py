"""examples/quickstart.ipynb is stored run, runs from top to bottom as a user runs it, and shows
what it says."""

import base64
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import scripts

NOTEBOOK = scripts.REPOSITORY / "examples" / "quickstart.ipynb"
CELL_TIMEOUT = 300
INLINE_PAD = 10


def printed(cell) -> str:
    """What a code cell printed to standard output; a stored notebook keeps it as a list of
    lines, a run one as a string."""
    return "".join(
        "".join(output["text"])
        for output in cell["outputs"]
        if output["output_type"] == "stream" and output["name"] == "stdout"
    )


def test_the_notebook_is_stored_executed_and_says_which_micrograph():
    """The repository holds the notebook run from top to bottom, so that the site and a forge show
    its pictures: every code cell but the imports has run and shown something, none failed or
    shows TensorFlow's start-up notices, and it says it explains the synthetic micrograph."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert all(cell["outputs"] for cell in code[1:])
    outputs = [output for cell in code for output in cell["outputs"]]
    assert not [output for output in outputs if output["output_type"] == "error"]
    assert "absl" not in json.dumps(outputs)
    assert printed(code[1]).startswith("micrograph: synthetic ferrite-pearlite, seed 0")
    assert "a synthetic ferrite-pearlite micrograph" in "".join(cells[0]["source"])


def test_the_notebook_runs_and_shows_the_heatmap_and_the_explorer_link(tmp_path, monkeypatch):
    """Executed in a fresh kernel without the study's micrographs, every cell runs without error,
    the heatmap cell shows a 256x256 picture in the paper's blue and red, and the explorer's page
    the last cell links to is written."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    folder = tmp_path / "examples"
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder)
    monkeypatch.delenv("MICROGRAPHS", raising=False)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert errors == []

    heatmap_cell = next(cell for cell in code if "heatmap_figure" in cell.source)
    (figure,) = [output for output in heatmap_cell.outputs if "image/png" in output.get("data", {})]
    png = base64.b64decode(figure["data"]["image/png"])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    # The inline backend draws at 100 dpi, a map pixel to a pixel, and pads a tenth of an inch;
    # the colour bar stands at the map's right.
    height, width = pixels.shape[:2]
    assert 256 <= height <= 256 + 2 * INLINE_PAD + 2 and width > 256 + 2 * INLINE_PAD + 30
    red, green, blue = (pixels[:, : 256 + INLINE_PAD, channel] for channel in range(3))
    assert np.mean((blue > 200) & (red < 60) & (green < 60)) > 0.05  # bwr's blue end
    assert np.mean((red > 200) & (blue < 60) & (green < 60)) > 0.01  # and its red end

    stored = [
        cell for cell in json.loads(NOTEBOOK.read_text())["cells"] if cell["cell_type"] == "code"
    ]
    # What the stored run printed is what the notebook prints now, so that its outputs are current.
    assert [printed(cell) for cell in code] == [printed(cell) for cell in stored]

    link_cell = code[-1]
    (link,) = [output for output in link_cell.outputs if output.output_type == "execute_result"]
    assert "quickstart_outputs/explore_synthetic.html" in link["data"]["text/plain"]
    page = folder / "quickstart_outputs" / "explore_synthetic.html"
    assert page.stat().st_size > 100_000
