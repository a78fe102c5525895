"""One background thread for the CAM store's writes, so the next batch's forward does not wait
for ``np.savez`` and the fsync of the last one.

Writes run in submission order. The first failure (a full disk, ...) stops every later write
(none is attempted after it, so the store holds exactly the files written before) and is raised
in the submitting thread by the next :meth:`BackgroundWrites.submit` or by
:meth:`BackgroundWrites.finish`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class BackgroundWrites:
    """A bounded queue of write jobs run by one thread; ``pending`` jobs at most wait in it
    (a full queue blocks the submitter, so memory stays bounded when the disk is slow)."""

    def __init__(self, pending: int = 16) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(pending)))
        self._error: BaseException | None = None
        self._raised = False
        self._thread = threading.Thread(target=self._work, name="wsol-cam-writes", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                if self._error is None:  # after a failure, later writes are dropped
                    fn, args = job
                    fn(*args)
            except BaseException as err:  # noqa: BLE001 - handed to the submitting thread
                self._error = err
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; raises the error of an earlier write, if one failed."""
        self._raise()
        if self._error is None:
            self._queue.put((fn, args))

    def finish(self, raise_error: bool = True) -> None:
        """Wait for every queued write and stop the thread; then raise the first write error
        (unless it was raised already, or ``raise_error`` is false: the caller is already
        failing for another reason)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if raise_error:
            self._raise()
