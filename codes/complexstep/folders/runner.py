"""The one runner of every folder driver: read ahead, compute here or on Dask, count, write.

A driver plans its work with ``loop.plan`` and then states three things: how it reads one
micrograph (``read``), what one task computes from a chunk of what it read (a ``Step``), and what
it writes of each result (``write``). ``run`` does the rest the same way for every stage:

- a thread reads the next chunks while the current one is computed (``read_chunks``), a bounded
  number ahead, so that the engines wait for no file and few images are held;
- in this process the step computes in a thread of its own while the caller writes the results
  before (``ahead``), unless the step measures its own time (the evaluation's seconds), where a
  write beside it would skew them; on a Dask cluster (``client``) each chunk is one task, carrying
  the step's settings, a bounded number in flight (``cluster.executor.run``);
- progress is counted in the step's units towards one ``progress.Tally``, so that a micrograph
  that cannot be read moves the count on, and every line of the report is recorded by the caller's
  thread in one fixed order, whatever the threads' timing.

Every driver that reads micrographs takes these arguments alike:

- ``resize``: the side micrographs are resized to, as the paper does, or None to use each at its
  own resolution, cropped from the bottom and right to the largest size the network takes;
- ``reading``: ``micrographs.read_micrograph``'s options (``intensity``, ``crop_bottom``,
  ``pixel_size``, ``max_pixels``...); its defaults where None;
- ``shard``: do only the k-th of n disjoint parts of the micrographs, ``(k, n)`` (see
  ``loop.in_shard``), so that n runs cover the folder once; all of them if None;
- ``client``: a ``distributed.Client`` whose cluster computes, one micrograph a task, while this
  process still reads and writes every file; in this process if None;
- ``on_progress``: a ``progress.Progress``, told of the work done, the work in all and the
  micrograph being done, in the driver's units.

Each returns a ``loop.FolderReport`` of what was written, left alone, cropped and failed; on a
cluster its ``written`` are in the order the results came back.
"""

import dataclasses
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults
from complexstep.folders.loop import FolderReport, Item
from complexstep.progress import Tally

if TYPE_CHECKING:
    import distributed

Chunk = list[tuple[Item, object]]
"""Micrographs of one size as read, each with its item."""

Read = Callable[[Item, FolderReport], object | None]
"""Reads one micrograph (or map), recording in the report why it cannot, and giving None then."""

Write = Callable[[Item, object, object], bool]
"""Writes what was computed for one item from what was read of it, recording in the report any
file that cannot be written; says whether the item is done."""


def _one(item: Item) -> int:
    return 1


def _pixels(chunk: Chunk) -> tuple[np.ndarray]:
    return (np.stack([micrograph.pixels for _, micrograph in chunk]),)


@dataclasses.dataclass(frozen=True)
class Step:
    """What a driver computes from each chunk it reads.

    Attributes:
        compute: in this process, ``compute(chunk, add)``: one result for each item of the chunk,
            calling ``add(units, detail)`` (a ``Tally``'s) as units of work are done.
        worker: on a Dask worker, a module-level function ``worker(model bytes, their SHA-256,
            settings, *payload(chunk))`` (without the model's two where ``model`` is None) giving
            one result for each item; None where the step runs in this process alone.
        settings: what every task needs beside its chunk, sent as it is: a frozen object.
        model: the Keras model the worker builds from, sent once as the bytes of its file.
        payload: what of a chunk travels with its task: the stacked pixels by default.
        per_call: items read into one chunk in this process; one a task on a cluster.
        cost: the units of work an item takes, which ``compute`` reports.
        overlap: whether the next chunk may be computed while this one is written.
        grouped: whether chunks gather micrographs of one size from across the folder, so
            that a batch is computed at once; else each micrograph is done alone, in the
            folder's order.
    """

    compute: Callable[[Chunk, Callable[..., None]], Sequence]
    worker: Callable | None = None
    settings: object = None
    model: object = None
    payload: Callable[[Chunk], tuple] = _pixels
    per_call: int = 1
    cost: Callable[[Item], int] = _one
    overlap: bool = True
    grouped: bool = True

    def total(self, work: Iterable[Item]) -> int:
        """The units of work of these items."""
        return sum(self.cost(item) for item in work)


def run(
    work: Sequence[Item],
    step: Step,
    report: FolderReport,
    *,
    read: Read,
    write: Write,
    tally: Tally,
    client: "distributed.Client | None" = None,
) -> None:
    """Reads, computes and writes every item of ``work``, recording each item written in
    ``report.written``; on a cluster in the order they come back, else in the order computed
    (by size where the step groups sizes, in the folder's order within a size)."""
    per_call = step.per_call if client is None and step.grouped else 1

    def unread(item: Item) -> None:
        tally.skip(step.cost(item))

    planned = by_size(work, per_call) if step.grouped else ([item] for item in work)
    chunks = read_chunks(planned, read, report, unread)
    for chunk, results in _computed(step, chunks, tally, client):
        for (item, value), result in zip(chunk, results, strict=True):
            if write(item, value, result):
                report.written.append(item.path)


def _computed(
    step: Step, chunks: Iterable[Chunk], tally: Tally, client: "distributed.Client | None"
) -> Iterator[tuple[Chunk, Sequence]]:
    """Each chunk with its results, computed in this process or on the cluster of ``client``,
    whose package is imported only then."""
    if client is not None:
        from complexstep.cluster import executor

        settings = step.settings
        for chunk, results in executor.run(
            client,
            step.worker,
            chunks,
            lambda chunk: (settings, *step.payload(chunk)),
            model=step.model,
        ):
            tally.add(step.total(item for item, _ in chunk), chunk[-1][0].path.name)
            yield chunk, results
        return

    def compute(chunk: Chunk, add: Callable[..., None]) -> tuple[Chunk, Sequence]:
        name = chunk[-1][0].path.name

        def counted(units: int, detail: str = "") -> None:
            add(units, detail or name)

        return chunk, step.compute(chunk, counted)

    if step.overlap:
        yield from ahead(compute, chunks, defaults.CHUNKS_COMPUTED_AHEAD, tally.add)
    else:
        for chunk in chunks:
            yield compute(chunk, tally.add)


def by_size(work: Sequence[Item], per_call: int) -> Iterator[list[Item]]:
    """Chunks of at most ``per_call`` micrographs of one size, wherever they lie in the folder;
    each size keeps the folder's order."""
    ordered = sorted(work, key=lambda item: item.size)
    for _, group in itertools.groupby(ordered, key=lambda item: item.size):
        group = list(group)
        for start in range(0, len(group), per_call):
            yield group[start : start + per_call]


def read_chunks(
    planned: Iterable[list[Item]],
    read: Read,
    report: FolderReport,
    on_unread: Callable[[Item], None],
) -> Iterator[Chunk]:
    """The chunks planned, read by a thread of their own, ``defaults.CHUNKS_READ_AHEAD``
    ahead of the one taken, so that the engines wait for no file. A micrograph that cannot be
    read is recorded and handed to ``on_unread``, when its chunk is taken and in the taker's
    thread, so that the report keeps the folder's order; a chunk left empty is not yielded."""

    def read_chunk(chunk: list[Item], progress) -> tuple[FolderReport, list[Item], Chunk]:
        noted = FolderReport()
        unread, readable = [], []
        for item in chunk:
            value = read(item, noted)
            if value is None:
                unread.append(item)
            else:
                readable.append((item, value))
        return noted, unread, readable

    for noted, unread, readable in ahead(read_chunk, planned, defaults.CHUNKS_READ_AHEAD):
        report.extend(noted)
        for item in unread:
            on_unread(item)
        if readable:
            yield readable


class _Stopped(Exception):
    """Raised in the thread of ``ahead`` at its next progress once its caller stopped."""


def ahead(
    function: Callable[..., object],
    items: Iterable,
    depth: int,
    on_progress: Callable[..., None] | None = None,
) -> Iterator:
    """``function(item, progress)`` of each item, computed in a thread of its own while the
    caller uses the result before; yields the results in the items' order.

    The items are taken from ``items`` one at a time as room is made, in the caller's thread, at
    most ``depth`` (>= 1) beyond the one whose result the caller holds, so that what taking one
    records (a chunk's reading lines) is recorded there, in a fixed order, and memory stays
    bounded. ``progress(*arguments)``, called by ``function``, reaches ``on_progress(*arguments)``
    in the caller's thread. An exception in ``function`` is raised in the caller's. When the
    caller stops early (an error, Ctrl-C), the item being worked on stops at its next progress,
    and the thread is waited for, so that it writes nothing afterwards.
    """
    items = iter(items)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def progress(*arguments) -> None:
        if stop.is_set():
            raise _Stopped
        outbox.put((progress, arguments))

    arguments = (function, progress, inbox, outbox, stop)
    thread = threading.Thread(target=_work, args=arguments, name="complexstep-ahead", daemon=True)
    thread.start()
    waiting = 0
    try:
        for item in itertools.islice(items, depth):
            inbox.put(item)
            waiting += 1
        while waiting:
            kind, value = outbox.get()
            if kind is progress:
                if on_progress is not None:
                    on_progress(*value)
                continue
            if kind is not None:
                raise kind
            waiting -= 1
            for item in itertools.islice(items, 1):
                inbox.put(item)
                waiting += 1
            yield value
    finally:
        stop.set()
        inbox.put(stop)
        thread.join()
        # Items that are themselves made ahead (read chunks) stop now too, not when collected.
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _work(
    function: Callable[..., object],
    progress: Callable[..., None],
    inbox: queue.SimpleQueue,
    outbox: queue.SimpleQueue,
    stop: object,
) -> None:
    """The thread of ``ahead``: ``function(item, progress)`` of each item from ``inbox`` until
    ``stop``, each result put in ``outbox``, or the error that ends it, raised again there."""
    while (item := inbox.get()) is not stop:
        try:
            outbox.put((None, function(item, progress)))
        except BaseException as error:  # raised again in the caller's thread
            outbox.put((error, None))
            return
