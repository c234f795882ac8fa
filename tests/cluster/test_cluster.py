"""Stage 2 on Dask: a real scheduler and workers as separate processes on 127.0.0.1, one worker
killed during the run, and a ``local:2`` cluster; every map against the in-process run. The
evaluation and the region statistics on ``local:2`` against theirs."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import pytest

from cluster_helpers import assert_same_maps
from complexstep.cluster import clients
from complexstep.errors import ClusterError
from complexstep.evaluation.measure import EvaluationSettings
from complexstep.evaluation.methods import AttributionMethods
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import evaluation as evaluation_folder
from complexstep.folders import regions as regions_folder
from complexstep.rendering.heatmaps import HeatmapStyle

CODES = Path(__file__).resolve().parents[2] / "codes"
STARTED_WITHIN = 60.0
"""Seconds the scheduler and workers get to start; workers import TensorFlow."""
EVALUATED = ["gradient-input", "edges"]
"""Methods the evaluation's test runs: one of the model, one control."""


def start(module: str, *arguments: str, log: Path) -> subprocess.Popen:
    """Starts ``python -m distributed.cli.<module>`` with this package importable."""
    path = os.pathsep.join(filter(None, [str(CODES), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", f"distributed.cli.{module}", *arguments],
        env={**os.environ, "PYTHONPATH": path},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def scheduler(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes (no nanny, so that killing one
    kills the worker), one thread each, on 127.0.0.1; their addresses and processes."""
    scheduler_file = tmp_path / "scheduler.json"
    processes = []
    try:
        processes.append(
            start(
                "dask_scheduler",
                *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
                *("--scheduler-file", str(scheduler_file)),
                log=tmp_path / "scheduler.log",
            )
        )
        workers = {}
        for name in ("w0", "w1"):
            workers[name] = start(
                "dask_worker",
                *("--scheduler-file", str(scheduler_file), "--name", name),
                *("--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"),
                log=tmp_path / f"{name}.log",
            )
            processes.append(workers[name])
        deadline = time.monotonic() + STARTED_WITHIN
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout=STARTED_WITHIN)
        client.wait_for_workers(2, timeout=STARTED_WITHIN)
        yield client, workers
        client.close()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def test_a_worker_killed_mid_run_loses_no_map(
    scheduler, micrographs, in_process, explainer, tmp_path
):
    """One of two worker processes is killed while it explains: its tasks run again on the other,
    every map equals the in-process map, and a rerun with skip_existing explains nothing."""
    client, workers = scheduler
    names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
    killed = []
    heard = []

    def on_progress(done: int, total: int, name: str) -> None:
        heard.append((done, total))
        if killed:
            return
        busy = [names[address] for address, keys in client.processing().items() if keys]
        if busy:
            workers[busy[0]].send_signal(signal.SIGKILL)
            workers[busy[0]].wait()
            killed.append((busy[0], done, total))

    outputs = tmp_path / "out"
    report = attribution_folder.attribute_folder(
        micrographs, outputs, explainer, resize=None, on_progress=on_progress, client=client
    )
    assert killed and killed[0][1] < killed[0][2], "no worker was killed while it worked"
    assert workers[killed[0][0]].returncode == -signal.SIGKILL
    assert len(report.written) == 6 and not report.failed
    assert heard[-1][0] == heard[-1][1]
    assert_same_maps(outputs, in_process, pictures=True)

    again = attribution_folder.attribute_folder(
        micrographs, outputs, explainer, resize=None, skip_existing=True, client=client
    )
    assert again.written == [] and len(again.existing) == 6


def test_a_local_cluster_gives_the_in_process_maps(micrographs, in_process, explainer, tmp_path):
    """local:2 starts two worker processes, and their maps are the in-process maps."""
    with clients.connect("local:2") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        report = attribution_folder.attribute_folder(
            micrographs, tmp_path / "out", explainer, resize=None, client=client
        )
    assert len(report.written) == 6 and not report.failed
    assert_same_maps(tmp_path / "out", in_process, pictures=True)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("local:0", "a local cluster is local:N with N worker processes, N >= 1, not 'local:0'"),
        ("tcp://127.0.0.1:9", "cannot reach a Dask scheduler at tcp://127.0.0.1:9"),
    ],
)
def test_a_cluster_that_cannot_be_had_is_one_clear_error(address, message):
    """A bad local:N and a scheduler that does not answer are each one ClusterError line."""
    with pytest.raises(ClusterError) as raised:
        with clients.connect(address, timeout=1):
            pass
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def evaluation_rows(outputs: Path) -> list[dict]:
    """metrics.csv's rows without the seconds, which depend on where a method ran."""
    with open(outputs / "metrics.csv", newline="") as file:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(file)]


def test_the_evaluation_and_the_regions_on_a_local_cluster_give_the_in_process_tables(
    micrographs, random_model, tmp_path
):
    """On local:2 the evaluation's metrics.csv (but for the seconds) and the regions' regions.csv
    are those of the in-process runs, in the folder's order, and every panel and outline picture
    is written."""
    methods = AttributionMethods(random_model)
    maps = tmp_path / "maps"
    attribution_folder.attribute_folder(micrographs, maps, methods.explainer, resize=None)

    def evaluate(outputs: Path, client=None):
        return evaluation_folder.evaluate_folder(
            micrographs,
            outputs,
            methods,
            names=EVALUATED,
            settings=EvaluationSettings(steps=3, blur_sigma=2.0),
            resize=None,
            client=client,
        )

    def measure(outputs: Path, client=None):
        short = regions_folder.Bootstrap(samples=50)
        return regions_folder.measure_folder(
            maps, outputs, micrographs, style=HeatmapStyle(dpi=100), bootstrap=short, client=client
        )

    here, regions_here = evaluate(tmp_path / "here"), measure(tmp_path / "regions-here")
    with clients.connect("local:2") as client:
        there = evaluate(tmp_path / "there", client)
        regions_there = measure(tmp_path / "regions-there", client)
    assert not here.failed and not there.failed and sorted(there.written) == sorted(here.written)
    assert evaluation_rows(tmp_path / "there") == evaluation_rows(tmp_path / "here")
    assert len(evaluation_rows(tmp_path / "here")) == 6 * len(EVALUATED)
    panels = [
        sorted(p.name for p in (tmp_path / o).rglob("panel_*.png")) for o in ("here", "there")
    ]
    assert panels[0] == panels[1] and len(panels[0]) == 6
    assert not regions_there.failed and regions_there.rows == regions_here.rows
    assert (tmp_path / "regions-there" / "regions.csv").read_text() == (
        tmp_path / "regions-here" / "regions.csv"
    ).read_text()
    assert len(list((tmp_path / "regions-there").rglob("regions_m*.png"))) == 6
