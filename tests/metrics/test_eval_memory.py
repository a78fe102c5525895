"""The evaluate stage streams the CAM store: its peak memory does not grow with the image count.

Two generated VOC trees (N and 4N val images, 64x64) each get a store of maps made from the
ground-truth masks; the evaluate stage runs on both under tracemalloc (Python objects and
numpy buffers, to the byte) and, on Linux, with the resident peak (VmHWM, reset through
/proc/self/clear_refs) measured too, which also sees torch's buffers. A control run that keeps
every map it reads shows the check can fail.
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers.runs import build
from scipy.ndimage import gaussian_filter

from wsol.app.stages.evaluate import evaluate_stage
from wsol.cam import CamStore
from wsol.cam.store import StoredMaps
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.demo.synthetic import ensure_demo_dataset

pytestmark = pytest.mark.slow  # evaluates 200 images under tracemalloc

N = 40
SLACK_BYTES = 256 * 1024  # ids list, tqdm, dict growth: O(N) but tiny
# malloc arenas, trimming and threads left by earlier tests in the same pytest process move
# the resident peak by several MB (8 MB once failed in the full suite); the traced check
# above it is the exact one, this one guards against torch buffers piling up.
RSS_SLACK_BYTES = 32 * 1024 * 1024


def _tree_and_store(base: Path, num_val: int) -> tuple[Path, Path]:
    """(data_dir, store) with ``num_val`` val images whose maps are blurred GT masks."""
    data_dir = base / "data"
    root = ensure_demo_dataset(data_dir / "demo" / "VOCshapes", progress=False,
                               num_images=2 * num_val, val_fraction=0.5, image_size=64)
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    assert len(val) == num_val
    store = CamStore(base / "store")
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        maps = np.stack([gaussian_filter((mask == c + 1).astype(np.float32), 3.0)[::2, ::2]
                         for c in classes])
        store.write(image_id, maps, classes, mask.shape)
    return data_dir, base / "store"


def _resident(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) * 1024


def _can_reset_resident_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
        return bool(_resident("VmHWM"))
    except (OSError, AttributeError):
        return False


def _evaluate_peaks(base: Path, data_dir: Path, store: Path, num_val: int,
                    trace: bool = True) -> tuple[int, int]:
    """(peak traced bytes, peak resident growth in bytes or 0) of one evaluate stage."""
    run = build(base / "run", f"paths.data_dir={data_dir}",
                f"data.generate.num_images={2 * num_val}", "data.generate.val_fraction=0.5",
                "data.generate.image_size=64", f"cam.store_dir={store}", "eval.num_figures=0",
                "stages=[evaluate]", "threads=1")  # in this process: the peaks seen here are all
    resident = _can_reset_resident_peak()
    before = _resident("VmRSS") if resident else 0
    if trace:
        tracemalloc.start()
    try:
        metrics = evaluate_stage(run)
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert metrics["loc/pairs"] >= num_val  # every image was scored
    return traced, (_resident("VmHWM") - before if resident else 0)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[int, tuple[Path, Path, Path]]:
    out = {}
    for num_val in (N, 4 * N):
        base = tmp_path_factory.mktemp(f"mem{num_val}")
        out[num_val] = (base, *_tree_and_store(base, num_val))
    # warm-up: imports, caches, matplotlib fonts, heap growth
    _evaluate_peaks(*out[N], N, trace=False)
    return out


def test_evaluate_peak_memory_does_not_grow_with_the_number_of_images(trees):
    (traced_small, rss_small), (traced_large, rss_large) = (
        _evaluate_peaks(*trees[n], n) for n in (N, 4 * N))
    # numpy buffers and Python objects, to the byte
    assert traced_large < 1.25 * traced_small + SLACK_BYTES, (traced_small, traced_large)
    # everything resident (torch's buffers included), with room for allocator noise; keeping
    # all maps of the 4N images would add >= 4N * 16 KB * 4 (float32 at full size, with copies)
    assert rss_large < 1.25 * rss_small + RSS_SLACK_BYTES, (rss_small, rss_large)


def test_the_check_catches_an_evaluation_that_keeps_every_map(trees, monkeypatch):
    kept, compose = [], StoredMaps.compose  # every read composes the maps of one image

    def keeping_compose(self, *args, **kwargs):
        cams = compose(self, *args, **kwargs)
        kept.append(np.array(cams))  # what a list of score maps in the evaluator would cost
        return cams

    monkeypatch.setattr(StoredMaps, "compose", keeping_compose)
    (small, _), (large, _) = (_evaluate_peaks(*trees[n], n) for n in (N, 4 * N))
    assert not large < 1.25 * small + SLACK_BYTES, (small, large)
