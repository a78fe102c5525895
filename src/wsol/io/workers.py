"""Per-image work spread over worker processes, results back in order.

The work of localize and evaluate is independent per image; :func:`map_chunks` cuts the images
into contiguous chunks, runs ``job(chunk)`` for each in DataLoader worker processes (as the cam
and pseudo stages load their inputs: forked on Linux, each with one torch and one OpenCV
thread, a worker's error re-raised here with its message) and yields the results in chunk
order, so whatever the caller folds them into comes out as one process would make it; a
:class:`~wsol.errors.WsolError` in a worker is raised here as it was raised there. With
``workers <= 1`` the chunks run in this process, one after another.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TypeVar

from torch.utils.data import DataLoader, Dataset

from wsol.errors import WsolError

T = TypeVar("T")
CHUNKS_PER_WORKER = 16  # enough to balance uneven images; few enough that merging is free


def chunks(count: int, workers: int, per_worker: int = CHUNKS_PER_WORKER) -> list[range]:
    """``range(count)`` cut into contiguous chunks: one with ``workers <= 1``, else about
    ``workers * per_worker`` of them (every index once, in order)."""
    if count <= 0:
        return []
    if workers <= 1:
        return [range(count)]
    size = max(1, math.ceil(count / (workers * per_worker)))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


class _ChunkJobs(Dataset):
    def __init__(self, job: Callable[[range], T], parts: list[range]) -> None:
        self.job, self.parts = job, parts

    def __len__(self) -> int:
        return len(self.parts)

    def __getitem__(self, index: int) -> T | _WorkerFailure:
        try:
            return self.job(self.parts[index])
        except WsolError as err:  # the user's error, not a bug: carried back whole
            return _WorkerFailure(err)


class _WorkerFailure:
    """A :class:`WsolError` a job raised in a worker, carried back as data (its class, args
    and attributes). Left to the DataLoader, it would come back rebuilt from the worker's
    traceback text, or as a RuntimeError when its constructor takes more than a message."""

    def __init__(self, err: WsolError) -> None:
        self.kind, self.args, self.attributes = type(err), err.args, dict(vars(err))

    def rebuild(self) -> WsolError:
        err = self.kind.__new__(self.kind)
        err.args = self.args
        vars(err).update(self.attributes)
        return err


def _forked_with_one_cv2_thread(loader: DataLoader):
    """``iter(loader)`` (which forks its workers) with OpenCV's pool at one thread meanwhile.

    A forked child holds a copy of OpenCV's thread pool without its threads; resizing that
    pool in the child (``cv2.setNumThreads(1)`` in a worker_init_fn) can wait forever on them
    (seen after this process ran OpenCV and torch with 2 threads each). Shrinking it here,
    where the threads exist, hands every child a one-thread pool; this process's count is put
    back once the workers are started."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return iter(loader)
    finally:
        cv2.setNumThreads(before)


def _as_is(item):
    return item


def map_chunks(job: Callable[[range], T], count: int, workers: int
               ) -> Iterator[tuple[range, T]]:
    """``(chunk, job(chunk))`` for the :func:`chunks` of ``range(count)``, in order, computed
    by ``workers`` processes (``job`` and what it holds are copied into them)."""
    parts = chunks(count, workers)
    if workers <= 1 or len(parts) <= 1:
        for part in parts:
            yield part, job(part)
        return
    loader = DataLoader(_ChunkJobs(job, parts), batch_size=None, shuffle=False,
                        num_workers=min(int(workers), len(parts)), collate_fn=_as_is)
    for part, result in zip(parts, _forked_with_one_cv2_thread(loader), strict=True):
        if isinstance(result, _WorkerFailure):
            raise result.rebuild()
        yield part, result
