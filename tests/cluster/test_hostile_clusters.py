"""--cluster pointed at what is not a usable Dask cluster: a port that takes the connection and
never answers, a server of another protocol, a scheduler whose workers lack this package. Each is
one ClusterError line within the timeout, never a hang or Dask's traceback."""

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest

from complexstep.cluster import clients
from complexstep.errors import ClusterError

STARTED_WITHIN = 60.0
"""Seconds the scheduler and its worker get to start."""


def _connect(address: str, timeout: float) -> tuple[str, float]:
    """The one-line error of connecting, and the seconds it took."""
    start = time.monotonic()
    with pytest.raises(ClusterError) as raised:
        with clients.connect(address, timeout=timeout):
            pass
    return str(raised.value), time.monotonic() - start


@pytest.fixture
def silent():
    """A port on 127.0.0.1 that accepts every connection and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


def test_a_port_that_never_answers_is_one_line_within_the_timeout(silent):
    message, seconds = _connect(silent, timeout=1)
    assert message == (
        f"no Dask scheduler answers at {silent}: something there took the connection but said "
        "nothing within 1 s"
    )
    assert seconds < 5


def test_a_web_server_is_one_line_within_the_timeout():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        message, seconds = _connect(address, timeout=1)
    finally:
        server.shutdown()
        server.server_close()
    assert message.startswith(f"no Dask scheduler answers at {address}: ") and seconds < 5


def test_a_server_of_another_protocol_is_one_line():
    """A server that greets first, as SSH and mail servers do, is not taken for Dask."""
    server = socket.create_server(("127.0.0.1", 0))

    def greet():
        connection, _ = server.accept()
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        time.sleep(2)
        connection.close()

    threading.Thread(target=greet, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    try:
        message, seconds = _connect(address, timeout=1)
    finally:
        server.close()
    assert message == (
        f"no Dask scheduler answers at {address}: what answers there is not a Dask scheduler"
    )


WITHOUT_PACKAGE = (
    "import runpy, sys\n"
    "sys.modules['complexstep'] = None\n"
    "sys.argv = ['dask-worker', *sys.argv[1:]]\n"
    "runpy.run_module('distributed.cli.dask_worker', run_name='__main__')\n"
)
"""A ``dask worker`` in a Python that cannot import complexstep."""


def test_workers_that_cannot_import_the_package_are_one_line(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler"]
            + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(scheduler_file)],
            stdout=(tmp_path / "scheduler.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", WITHOUT_PACKAGE]
                + ["--scheduler-file", str(scheduler_file), "--no-nanny", "--no-dashboard"]
                + ["--nthreads", "1", "--host", "127.0.0.1"],
                stdout=(tmp_path / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
        address = _wait_for_worker(scheduler_file)
        message, _ = _connect(address, timeout=10)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert message.startswith(f"1 of the 1 workers at {address} cannot import complexstep (tcp://")
    assert message.endswith(
        "): install complexstep where they run, with the cluster extra, as here"
    )


def _wait_for_worker(scheduler_file: Path) -> str:
    """Waits for the scheduler of the file to have a worker; its address."""
    deadline = time.monotonic() + STARTED_WITHIN
    while not scheduler_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    with distributed.Client(scheduler_file=str(scheduler_file), timeout=STARTED_WITHIN) as client:
        client.wait_for_workers(1, timeout=STARTED_WITHIN)
        return client.scheduler.address
