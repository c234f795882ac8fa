"""The explorer on Dask: a real ``local:2`` cluster through the library and ``--cluster local:1``
through the script, each page against the page written in process."""

import numpy as np
import pytest
from PIL import Image

import explorer_helpers
import scripts
from complexstep.cluster import clients
from complexstep.explorer import page as explorer
from complexstep.folders import explorer as explorer_folder

run_explorer = scripts.runner("explore_attributions.py")
PAGES = 5


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return explorer_helpers.saved_small_autoencoder(tmp_path_factory.mktemp("models"), seed=15)


@pytest.fixture(scope="module")
def small_explorer(saved_model):
    return explorer.Explorer(saved_model)


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Five micrographs of two sizes and contrasts, two in a subfolder."""
    folder = tmp_path_factory.mktemp("micrographs")
    (folder / "sub").mkdir()
    rng = np.random.default_rng(22)
    for index in range(PAGES):
        where = folder / "sub" if index >= 3 else folder
        side = 16 if index % 2 else 20
        values = rng.random((side, side)) * (0.3 + 0.7 * index / (PAGES - 1))
        Image.fromarray((values * 255).astype(np.uint8)).save(where / f"m{index}.png")
    return folder


@pytest.fixture(scope="module")
def in_process(small_explorer, micrographs, tmp_path_factory):
    """The pages written in this process, by scale, then by path relative to the outputs."""
    pages = {}
    for scale in ("map", "folder"):
        outputs = tmp_path_factory.mktemp(f"in_process_{scale}")
        report = explorer_folder.explore_folder(
            micrographs, outputs, small_explorer, resize=None, scale=scale
        )
        assert len(report.written) == PAGES and not report.failed
        pages[scale] = pages_of(outputs)
    return pages


def pages_of(outputs):
    return {
        str(path.relative_to(outputs)): explorer_helpers.page_data(path)
        for path in sorted(outputs.rglob("explore_*.html"))
    }


def assert_same_pages(outputs, expected):
    """Every page under ``outputs`` shows what the in-process page shows, to 1e-6 (the Jacobian
    to within its quantisation), with its activation figure beside it, and none is missing."""
    found = pages_of(outputs)
    assert sorted(found) == sorted(expected)
    for name, data in expected.items():
        page = found[name]
        arrays = {key: explorer_helpers.unpack(packed) for key, packed in page["arrays"].items()}
        for key, packed in data["arrays"].items():
            values = explorer_helpers.unpack(packed)
            if key == "jacobian":
                # A value on the edge between two integers may round either way.
                assert np.abs(arrays[key].astype(int) - values).max() <= 1, name
            else:
                np.testing.assert_allclose(arrays[key], values, rtol=1e-6, atol=1e-7, err_msg=name)
        if data["heatmap"]["range"] is not None:
            assert page["heatmap"]["range"] == pytest.approx(data["heatmap"]["range"], rel=1e-6)
        assert page["heatmap"]["scale"] == data["heatmap"]["scale"]
        figure = (outputs / name).with_name(
            (outputs / name).name.replace("explore_", "activations_")
        )
        assert figure.with_suffix(".png").is_file()


def test_a_local_cluster_writes_the_in_process_pages_at_both_scales(
    small_explorer, micrographs, in_process, tmp_path
):
    """local:2 starts two worker processes, and the pages they explore, per map or on one range
    for the folder, are the pages written in process."""
    with clients.connect("local:2") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        for scale in ("map", "folder"):
            heard = []
            report = explorer_folder.explore_folder(
                micrographs,
                tmp_path / scale,
                small_explorer,
                resize=None,
                scale=scale,
                client=client,
                on_progress=lambda done, total, name, heard=heard: heard.append((done, total)),
            )
            assert len(report.written) == PAGES and not report.failed
            assert heard == [(done, PAGES) for done in range(1, PAGES + 1)]
            assert_same_pages(tmp_path / scale, in_process[scale])


def test_the_script_on_a_cluster_says_where_its_dashboard_is_and_writes_the_same_pages(
    saved_model, micrographs, in_process, tmp_path
):
    """--cluster local:1 prints the cluster's dashboard once and writes the in-process pages."""
    outputs = tmp_path / "out"
    result = run_explorer(
        *("--inputs", str(micrographs), "--outputs", str(outputs), "--model", str(saved_model)),
        *("--resize", "none", "--scale", "folder", "--cluster", "local:1"),
    )
    assert result.returncode == 0, result.stderr
    dashboards = [line for line in result.stderr.splitlines() if line.startswith("Dask cluster")]
    assert (
        len(dashboards) == 1
        and "local:1: 1 worker(s), dashboard http://127.0.0.1:" in (dashboards[0])
    )
    assert_same_pages(outputs, in_process["folder"])
