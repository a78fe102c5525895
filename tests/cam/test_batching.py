"""Which images share a CAM batch (equal sizes only) and the background store writes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers.format_drawing import write_jpeg

from wsol.cam.background import BackgroundWrites
from wsol.cam.batching import header_sizes, size_batches


def test_equal_sizes_share_batches_in_split_order():
    sizes = ["a", "b", "a", "a", "c", "b", "a", None, "a", None]
    batches = size_batches(sizes, 2)
    assert batches == [[0, 2], [3, 6], [8], [1, 5], [4], [7], [9]]
    assert sorted(i for b in batches for i in b) == list(range(len(sizes)))
    for batch in batches:
        assert len({sizes[i] for i in batch}) == 1 and len(batch) <= 2
    assert all(len(b) == 1 for b in batches if sizes[b[0]] is None)  # unknown: alone


def test_one_size_gives_consecutive_batches_as_before():
    assert size_batches([0] * 7, 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert size_batches([0] * 3, 1) == [[0], [1], [2]]
    assert size_batches([], 4) == []


def test_sizes_come_from_the_headers(tmp_path):
    paths = []
    for n, (h, w) in enumerate([(30, 40), (40, 30), (30, 40)] * 30):
        paths.append(tmp_path / f"{n}.jpg")
        write_jpeg(paths[-1], np.full((h, w, 3), n % 250, np.uint8))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    paths.append(tmp_path / "bad.jpg")
    sizes = header_sizes(paths, max_pixels=10**6, threads=4)
    assert sizes == [(30, 40), (40, 30), (30, 40)] * 30 + [None]
    assert header_sizes(paths[:2], max_pixels=1000) == [None, None]  # over the pixel limit


def test_background_writes_run_in_order_off_the_caller():
    done, callers = [], set()

    def write(n):
        time.sleep(0.001)
        callers.add(threading.get_ident())
        done.append(n)

    writes = BackgroundWrites(pending=4)
    for n in range(50):
        writes.submit(write, n)
    writes.finish()
    assert done == list(range(50)) and threading.get_ident() not in callers


def test_a_failed_write_stops_later_ones_and_is_raised_once():
    done = []

    def write(n):
        if n == 3:
            raise OSError(28, "No space left on device")
        done.append(n)

    writes = BackgroundWrites(pending=100)
    for n in range(10):
        writes.submit(write, n)  # queued faster than they run: the error comes at finish
    with pytest.raises(OSError, match="No space left"):
        writes.finish()
    assert done == [0, 1, 2]  # nothing written after the failure
    writes.finish()  # raised once only

    writes = BackgroundWrites(pending=1)
    writes.submit(write, 3)
    time.sleep(0.2)
    with pytest.raises(OSError):
        writes.submit(write, 4)  # the next submit reports it
    writes.finish()
    assert done == [0, 1, 2]
