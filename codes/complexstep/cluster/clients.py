"""Clients of Dask clusters: an existing scheduler's, or a ``LocalCluster`` started here."""

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from complexstep import defaults
from complexstep.errors import ClusterError

if TYPE_CHECKING:
    import distributed

LOCAL = "local:"
"""The prefix of a cluster address that asks for a ``LocalCluster``: ``local:N``."""


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
        ClusterError: if Dask's distributed package is missing, the address is not one, or no
            scheduler answers there within ``timeout``.
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
        yield client
