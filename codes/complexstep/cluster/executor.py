"""Explaining chunks of read micrographs as Dask tasks, for the folder drivers.

The client reads every micrograph and writes every result, as in process, so that the report's
crops and failures and the atomic writes are the same, and the workers need neither the inputs
nor the outputs folder. Each task carries its images; the model is one more task, whose result
(the model's bytes) each worker fetches once and keeps. A bounded number of tasks is in flight,
so that the client holds few images however large the folder. Dask runs the tasks of a worker
that is lost again on another; a map does not depend on where it was computed.
"""

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import distributed
import numpy as np

from complexstep import defaults
from complexstep.cluster import workers


def model_bytes(model) -> tuple[bytes, str]:
    """A Keras model as the bytes of its ``.keras`` file, and their SHA-256."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / defaults.MODEL_FILE
        model.save(path)
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


class DaskExecutor:
    """Explains chunks on the Dask cluster of a client, one task a chunk.

    Args:
        client: the ``distributed.Client`` of the cluster.
        explainer: the ``Explainer`` whose model and settings the workers explain with, or
            another object with a ``model``, the ``settings`` its task takes and ``passes``.
        per_call: micrographs a task holds (of one size). One balances the work best; several
            let a GPU worker on JAX explain them in one compiled call.
        task: what a task runs on a worker, ``task(model bytes, their SHA-256, settings,
            images)``, giving one result for each image: ``workers.attribute``'s maps by default.
    """

    def __init__(
        self,
        client: distributed.Client,
        explainer,
        per_call: int = 1,
        task: Callable = workers.attribute,
    ):
        self.client = client
        self.explainer = explainer
        self.per_call = per_call
        self.task = task

    def map(self, chunks: Iterable[list], on_pass) -> Iterator[tuple[list, np.ndarray]]:
        """Yields each chunk (``(item, micrograph)`` pairs, as ``folders.loop`` reads them) with its
        task's results, by default maps, float32 ``(len(chunk), height, width)``, in the order
        they come back; ``on_pass`` hears of a chunk's passes when its results arrive."""
        data, sha256 = model_bytes(self.explainer.model)
        model = self.client.submit(workers.hold, data, key=f"complexstep-model-{sha256}")
        settings = self.explainer.settings
        chunks = iter(chunks)
        pending: dict[distributed.Future, list] = {}
        completed = distributed.as_completed()

        def submit_next() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            images = np.stack([micrograph.pixels for _, micrograph in chunk])
            future = self.client.submit(
                self.task,
                model,
                sha256,
                settings,
                images,
                key=f"complexstep-attribute-{uuid.uuid4().hex}",
            )
            pending[future] = chunk
            completed.add(future)
            return True

        try:
            limit = self._in_flight()
            while len(pending) < limit and submit_next():
                pass
            for future in completed:
                chunk = pending.pop(future)
                maps = future.result()
                on_pass(self.explainer.passes(*chunk[0][0].size) * len(chunk), chunk)
                yield chunk, maps
                limit = self._in_flight()
                while len(pending) < limit and submit_next():
                    pass
        finally:
            self.client.cancel([*pending, model])

    def _in_flight(self) -> int:
        """How many tasks to keep submitted: enough that no worker thread waits for the client,
        few enough that the client holds few images."""
        threads = sum(self.client.nthreads().values())
        return defaults.TASKS_PER_WORKER_THREAD * max(threads, 1)
