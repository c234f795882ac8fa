"""Clients of Dask clusters: an existing scheduler's, or a ``LocalCluster`` started here."""

import contextlib
import importlib.util
import os
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from complexstep import defaults
from complexstep.errors import ClusterError

if TYPE_CHECKING:
    import distributed

LOCAL = "local:"
"""The prefix of a cluster address that asks for a ``LocalCluster``: ``local:N``."""

_HANDSHAKE = b"pickle-protocol"
"""A key of the handshake a Dask scheduler sends first on every connection it accepts."""

_HANDSHAKE_BYTES = 256
"""Bytes of a handshake within which ``_HANDSHAKE`` lies."""

WORKERS_NEED = ("complexstep", "keras")
"""What every worker imports to explain: a worker that lacks one fails every task it takes."""


def local_workers(address: str) -> int | None:
    """How many worker processes ``local:N`` asks for, or None for a scheduler's address.

    Raises:
        ClusterError: for ``local:`` followed by anything but a whole number of at least 1.
    """
    if not address.startswith(LOCAL):
        return None
    count = address[len(LOCAL) :]
    if not (count.isdigit() and int(count) >= 1):
        raise ClusterError(
            f"a local cluster is local:N with N worker processes, N >= 1, not {address!r}"
        )
    return int(count)


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@contextlib.contextmanager
def connect(
    address: str, timeout: float = defaults.CLUSTER_CONNECT_SECONDS
) -> Iterator["distributed.Client"]:
    """A client of the Dask scheduler at ``address``, or for ``local:N`` of a new
    ``distributed.LocalCluster`` of N worker processes on this machine, bound to 127.0.0.1 and
    sharing its cores; the client, and a local cluster, are closed on leaving.

    Args:
        address: ``tcp://host:port`` (or any address ``distributed.Client`` takes), or ``local:N``.
        timeout: seconds to wait for a scheduler to answer.

    Raises:
        ClusterError: if Dask's distributed package is missing, the address is not one, no
            scheduler answers there within ``timeout``, or its workers cannot import what
            explaining needs.
    """
    workers = local_workers(address)
    try:
        import distributed
    except ImportError:
        raise ClusterError(
            'running on a Dask cluster needs Dask: pip install "complexstep[cluster]"'
        ) from None
    with contextlib.ExitStack() as stack:
        try:
            if workers is None:
                probe(address, timeout)
                client = distributed.Client(address, timeout=timeout)
            else:
                cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=max(1, cores() // workers),
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
                stack.enter_context(cluster)
                client = distributed.Client(cluster)
        except (OSError, ValueError, TypeError) as error:
            raise ClusterError(f"cannot reach a Dask scheduler at {address}: {error}") from None
        stack.enter_context(client)
        check_workers(client, address)
        yield client


def probe(address: str, timeout: float) -> None:
    """Checks that a Dask scheduler answers at a TCP address within ``timeout`` seconds, before
    Dask's client waits on it: Dask's own connection waits for a handshake without a limit, so
    that a server that accepts and never answers would hold it for minutes.

    Addresses of other protocols (TLS, UCX) are left to Dask.

    Raises:
        ClusterError: if nothing listens there, nothing answers within ``timeout``, or what
            answers is not a Dask scheduler.
    """
    from distributed.comm import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location)
    deadline = time.monotonic() + timeout
    received = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            while _HANDSHAKE not in received and len(received) < _HANDSHAKE_BYTES:
                connection.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = connection.recv(_HANDSHAKE_BYTES)
                if not chunk:
                    break
                received += chunk
    except TimeoutError:
        raise ClusterError(
            f"no Dask scheduler answers at {address}: "
            + (
                f"something there took the connection but said nothing within {timeout:g} s"
                if not received
                else "what answers there is not a Dask scheduler"
            )
        ) from None
    except OSError as error:
        raise ClusterError(
            f"cannot reach a Dask scheduler at {address}: {error.strerror or error}"
        ) from None
    if _HANDSHAKE not in received:
        raise ClusterError(
            f"no Dask scheduler answers at {address}: what answers there is not a Dask scheduler"
        )


def check_workers(client: "distributed.Client", address: str) -> None:
    """Checks that every worker of a cluster can import what explaining needs.

    Raises:
        ClusterError: naming what the workers lack and how many lack it.
    """
    workers = client.scheduler_info()["workers"]
    if not workers:
        return
    for module in WORKERS_NEED:
        found = client.run(importlib.util.find_spec, module)
        lacking = sorted(worker for worker, spec in found.items() if spec is None)
        if lacking:
            raise ClusterError(
                f"{len(lacking)} of the {len(found)} workers at {address} cannot import "
                f"{module} ({', '.join(lacking[:3])}{', ...' if len(lacking) > 3 else ''}): "
                "install complexstep where they run, with the cluster extra, as here"
            )
