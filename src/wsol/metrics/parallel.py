"""A bounded pool of worker processes for per-image metric work (spawned: safe beside torch/cv2)."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any


class WorkerPool:
    """Run ``fn(*args)`` in ``workers`` spawned processes, results in submission order.

    At most ``4 * workers`` jobs are in flight; ``submit`` returns finished results (oldest
    first) when it has to wait, ``drain`` returns the rest. ``close`` (or ``with``) stops the
    processes.
    """

    def __init__(self, fn: Callable[..., Any], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected >= 1, got {workers}")
        self.fn = fn
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def submit(self, *args: Any) -> list[Any]:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        self._pending.append(self._pool.submit(self.fn, *args))
        done = []
        while len(self._pending) > 4 * self.workers or (self._pending and self._pending[0].done()):
            done.append(self._pending.popleft().result())
        return done

    def drain(self) -> Iterator[Any]:
        while self._pending:
            yield self._pending.popleft().result()

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
