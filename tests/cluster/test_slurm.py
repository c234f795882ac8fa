"""Stage 2 on a real single-node SLURM: the docs' job-array recipe, and dask-jobqueue's
SLURMCluster where it is installed. Run by ``make test-slurm``, which installs SLURM and munge
(as root, with apt-get) and sets COMPLEXSTEP_SLURM=1; skipped otherwise.

The fixture writes a minimal ``slurm.conf`` into a temporary folder and starts ``munged``,
``slurmctld`` and ``slurmd`` for this machine alone, and stops them afterwards."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_helpers import assert_same_maps
from complexstep import api
from complexstep.folders import attribution as attribution_folder
from complexstep.folders import loop

pytestmark = pytest.mark.skipif(
    os.environ.get("COMPLEXSTEP_SLURM") != "1",
    reason="needs a SLURM started by make test-slurm (COMPLEXSTEP_SLURM=1)",
)

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS = REPOSITORY / "docs" / "many-micrographs.md"
STARTED_WITHIN = 60.0
"""Seconds SLURM's daemons get to show the node idle, and a job's workers to start."""
JOBS_WITHIN = 600
"""Seconds the job array gets; each task imports TensorFlow."""
SHARDS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path) -> str:
    """A slurm.conf for one node, this machine, with root running the daemons and the jobs."""
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"""
ClusterName=complexstep
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """munged, slurmctld and slurmd, started for this module; SLURM_CONF names their conf."""
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    conf = folder / "slurm.conf"
    conf.write_text(slurm_conf(folder))
    environment = {**os.environ, "SLURM_CONF": str(conf)}
    started = []
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0:
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        subprocess.run(["munged", "--force"], check=True)
        started.append(Path("/run/munge/munged.pid"))
    daemons = [
        subprocess.Popen(
            [name, "-D", "-f", str(conf)],
            env=environment,
            stderr=subprocess.STDOUT,
            stdout=(folder / f"{name}.out").open("wb"),
        )
        for name in ("slurmctld", "slurmd")
    ]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        deadline = time.monotonic() + STARTED_WITHIN
        state = ""
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        assert state == "idle", f"the SLURM node is {state!r}; see the logs in {folder}"
        yield folder
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True)
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=30)
        for pid_file in started:
            if pid_file.is_file():
                os.kill(int(pid_file.read_text()), 15)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


def docs_job_array() -> str:
    """The sbatch script of the docs' job array, as a user copies it."""
    text = DOCS.read_text()
    scripts = re.findall(r"```sh\n(#!/bin/bash\n.*?)```", text, flags=re.DOTALL)
    (script,) = [script for script in scripts if "--array" in script]
    return script


def test_the_docs_job_array_covers_the_folder_once(
    slurm, micrographs, in_process, saved_model, tmp_path
):
    """The docs' sbatch script, with this folder, model and 3 shards in place of 100, run as a
    SLURM job array: every task explains its shard, and together they wrote exactly the maps of
    the in-process run."""
    script = docs_job_array()
    for archived, here in [
        ("/archive/frames", str(micrographs)),
        ("/archive/maps", str(tmp_path / "maps")),
        ("--model pretrained", f"--model {saved_model}"),
        ("--array=0-99", f"--array=0-{SHARDS - 1}"),
        ("/100", f"/{SHARDS}"),
        ("--cpus-per-task=4", "--cpus-per-task=1"),
        ("--mem=8G", "--mem=1G"),
        ("source .venv/bin/activate", f"source {Path(sys.executable).parent / 'activate'}"),
    ]:
        assert archived in script, f"the docs' job array no longer has {archived}"
        script = script.replace(archived, here)
    (tmp_path / "maps.sh").write_text(script)
    (tmp_path / "logs").mkdir()
    (tmp_path / "codes").symlink_to(REPOSITORY / "codes")
    submitted = subprocess.run(
        ["sbatch", "--wait", "maps.sh"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY / "codes")},
        capture_output=True,
        text=True,
        timeout=JOBS_WITHIN,
    )
    logs = {path.name: path.read_text() for path in sorted((tmp_path / "logs").glob("*.out"))}
    assert submitted.returncode == 0, (submitted.stdout, submitted.stderr, logs)
    assert len(logs) == SHARDS
    for name, log in logs.items():
        index = int(re.search(r"_(\d+)\.out$", name).group(1))
        wanted = sum(
            loop.in_shard(path.relative_to(micrographs), (index, SHARDS))
            for path in micrographs.rglob("*.png")
        )
        assert f"wrote the attribution maps of {wanted} image(s)" in log, log
    assert_same_maps(tmp_path / "maps", in_process)


def test_a_slurm_cluster_of_dask_workers_gives_the_in_process_maps(
    slurm, micrographs, in_process, saved_model, tmp_path
):
    """dask-jobqueue's SLURMCluster submits two one-core jobs of a worker each (4 GB, for
    TensorFlow); stage 2 on them writes the in-process maps."""
    jobqueue = pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is not installed")
    import distributed

    cluster = jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="4GB",
        walltime="00:10:00",
        python=sys.executable,
        job_script_prologue=[f"export PYTHONPATH={REPOSITORY / 'codes'}"],
        scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
        worker_extra_args=["--host", "127.0.0.1"],
        log_directory=str(tmp_path / "logs"),
    )
    with cluster, distributed.Client(cluster) as client:
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=JOBS_WITHIN)
        assert "#SBATCH" in cluster.job_script()
        report = attribution_folder.attribute_folder(
            micrographs, tmp_path / "maps", api.Explainer(saved_model), resize=None, client=client
        )
    assert len(report.written) == 6 and not report.failed
    assert_same_maps(tmp_path / "maps", in_process)
