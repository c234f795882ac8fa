"""examples/quickstart.ipynb runs from top to bottom as a user runs it, and shows what it says."""

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


def test_the_notebook_is_stored_without_outputs():
    """The repository holds the notebook's code, not a run of it, so that diffs stay readable."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)


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
    # The inline backend draws at 100 dpi, a map pixel to a pixel, and pads a tenth of an inch.
    assert all(256 <= side <= 256 + 2 * INLINE_PAD + 2 for side in pixels.shape[:2])
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    assert np.mean((blue > 200) & (red < 60) & (green < 60)) > 0.05  # bwr's blue end
    assert np.mean((red > 200) & (blue < 60) & (green < 60)) > 0.01  # and its red end

    link_cell = code[-1]
    (link,) = [output for output in link_cell.outputs if output.output_type == "execute_result"]
    assert "quickstart_outputs/explore_synthetic.html" in link["data"]["text/plain"]
    page = folder / "quickstart_outputs" / "explore_synthetic.html"
    assert page.stat().st_size > 100_000
