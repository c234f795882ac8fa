"""Explaining chunks of read micrographs as Dask tasks, for the folder drivers.

The client reads every micrograph and writes every result, as in process, so that the report's
crops and failures and the atomic writes are the same, and the workers need neither the inputs
nor the outputs folder. Each task carries its images; the model is one more task, whose result
(the model's bytes) each worker fetches once and keeps. ``run`` does this for any function of
a chunk, which each folder driver's step gives (``folders.runner``). A bounded number of tasks is in
flight, so that the client holds few images however large the folder. Dask runs the tasks of a
worker that is lost again on another; a map does not depend on where it was computed.
"""

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import distributed

from complexstep import defaults
from complexstep.cluster import workers


def model_bytes(model) -> tuple[bytes, str]:
    """A Keras model as the bytes of its ``.keras`` file, and their SHA-256."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / defaults.MODEL_FILE
        model.save(path)
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def run(
    client: distributed.Client,
    function: Callable,
    chunks: Iterable,
    arguments_of: Callable[[object], tuple],
    *,
    model=None,
) -> Iterator[tuple[object, object]]:
    """Runs ``function`` on the cluster once a chunk and yields each chunk with its result, in
    the order they come back.

    A bounded number of tasks is in flight (``defaults.TASKS_PER_WORKER_THREAD`` a worker thread),
    so that the client takes a chunk, and holds its images, only when there is room for it.

    Args:
        client: the ``distributed.Client`` of the cluster.
        function: a module-level function, which the workers import; called with the model's
            bytes and SHA-256 first where there is a model, then with ``arguments_of(chunk)``.
        chunks: what the tasks are made from, taken one at a time.
        arguments_of: a chunk's arguments to ``function``, which travel with its task.
        model: a Keras model every task needs, sent once as the bytes of its ``.keras`` file.
    """
    shared = []
    if model is not None:
        data, sha256 = model_bytes(model)
        shared = [client.submit(workers.hold, data, key=f"complexstep-model-{sha256}"), sha256]
    chunks = iter(chunks)
    pending: dict[distributed.Future, object] = {}
    completed = distributed.as_completed()

    def submit_next() -> bool:
        chunk = next(chunks, None)
        if chunk is None:
            return False
        future = client.submit(
            function,
            *shared,
            *arguments_of(chunk),
            key=f"complexstep-{function.__name__}-{uuid.uuid4().hex}",
        )
        pending[future] = chunk
        completed.add(future)
        return True

    def fill() -> None:
        threads = sum(client.nthreads().values())
        while len(pending) < defaults.TASKS_PER_WORKER_THREAD * max(threads, 1) and submit_next():
            pass

    try:
        fill()
        for future in completed:
            chunk = pending.pop(future)
            result = future.result()
            yield chunk, result
            fill()
    finally:
        client.cancel([*pending, *shared[:1]])
