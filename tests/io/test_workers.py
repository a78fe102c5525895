"""Per-image work over worker processes: every index once, results in order, errors intact."""

from __future__ import annotations

import os

import numpy as np
import pytest

from wsol.errors import DataError, OutputWriteError
from wsol.io.workers import chunks, map_chunks


@pytest.mark.parametrize("count, workers", [(0, 2), (1, 2), (5, 1), (100, 2), (1000, 3)])
def test_chunks_cover_every_index_once_in_order(count, workers):
    parts = chunks(count, workers)
    assert [i for part in parts for i in part] == list(range(count))
    if workers <= 1 and count:
        assert parts == [range(count)]
    elif count >= 100:
        assert len(parts) >= 2 * workers  # enough to balance the workers


class Squares:
    def __call__(self, part: range) -> tuple[list[int], int]:
        return [i * i for i in part], os.getpid()


class FailsAt:
    def __init__(self, bad: int) -> None:
        self.bad = bad

    def __call__(self, part: range) -> list[int]:
        if self.bad in part:
            raise DataError(f"image {self.bad} is broken; remove it from the split")
        return list(part)


def test_two_workers_give_the_results_of_one_in_order():
    serial = [(list(p), r[0]) for p, r in map_chunks(Squares(), 50, 1)]
    parallel = list(map_chunks(Squares(), 50, 2))
    assert [sq for _, (sq, _) in parallel] and \
        [i for _, (sq, _) in parallel for i in sq] == [i * i for i in range(50)]
    assert serial == [(list(range(50)), [i * i for i in range(50)])]
    pids = {pid for _, (_, pid) in parallel}
    assert os.getpid() not in pids and len(pids) == 2  # the work ran in two other processes


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_error_keeps_its_type_and_message(workers):
    with pytest.raises(DataError) as err:
        list(map_chunks(FailsAt(7), 40, workers))
    assert str(err.value) == "image 7 is broken; remove it from the split"  # no traceback text


class DiskFull:
    def __call__(self, part: range) -> list[int]:
        if 3 in part:
            cause = OSError(28, "No space left on device")
            raise OutputWriteError("disk full writing seeds/3.png; free space", "seeds/3.png",
                                   cause)
        return list(part)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_with_its_own_constructor_comes_back_whole(workers):
    # left to the DataLoader, an error whose __init__ takes more than a message came back as
    # a RuntimeError holding the worker's traceback
    with pytest.raises(OutputWriteError) as err:
        list(map_chunks(DiskFull(), 40, workers))
    assert str(err.value) == "disk full writing seeds/3.png; free space"
    assert err.value.path == "seeds/3.png" and err.value.cause.errno == 28


class Cv2Threads:
    def __call__(self, part: range) -> int:
        import cv2

        return cv2.getNumThreads()


def test_workers_get_a_one_thread_opencv_pool_and_the_parent_keeps_its_own():
    # the pool is shrunk in the parent around the fork: resizing a forked copy of it in the
    # child can hang (wsol.io.workers._forked_with_one_cv2_thread)
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        cv2.resize(np.zeros((1000, 1000), np.float32), (1500, 1500))  # the pool's threads run
        seen = [n for _, n in map_chunks(Cv2Threads(), 40, 2)]
        assert seen and set(seen) == {1}
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)
