#!/usr/bin/env python
"""CAM store footprint and evaluate-stage memory, measured in one run.

(a) Bytes per image on disk for VOC- and COCO-like settings: realistic maps (a coarse ReLU'd
    field at the target layer's stride 16, upsampled bilinearly as the engine does) written
    through :class:`wsol.cam.CamStore` into a temporary store; the target is the payload
    (K float16 maps of h*w, K scales and class ids) plus at most 2 KiB of container per image.
    Then ``cam.protocol=irn``: the raw float32 map of each of IRN's 4 scales at stride 16 of
    each image's own size (VOC 500 x 375, COCO 640 x 480), composed on read.
(b) Peak memory of the evaluate stage at two dataset sizes (generated 64x64 VOC trees, maps
    from blurred GT masks): traced (Python + numpy) and resident (VmHWM, Linux) growth; the
    target is peak(large) < 1.25 * peak(small) + slack, i.e. no growth with the image count.
(c) The cost of verifying a store (``CamStore.intact``: every file's zip CRC, headers, shapes,
    class ids and finite values, as the cam stage does before resuming) on ``--verify`` files
    per setting, beside listing the directory (what resuming cost before) and ``np.load`` of
    every array (what any reader pays anyway), then over one worker process per available CPU
    (what the cam stage does with ``threads: null``). Files just written: the page cache is
    warm.

Usage: python scripts/bench_store.py [--images 64] [--sizes 50 200] [--verify 1000]
       [--parts a b c]   (~40 s on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsol.cam import CamStore
from wsol.cam.store import FILES_PER_WORKER
from wsol.cam.tta import IRN_SCALES
from wsol.io.cpus import available_cpus

INPUT = 512
FEATURE_STRIDE = 16  # resnet50 with output_stride 16, as in the IRN recipe
SETTINGS = [  # name, classes in the dataset, mean GT classes per image, cam.classes, images
    ("VOC-like (20 cls, gt)", 20, 1.5, "gt", 10_582),
    ("COCO-like (80 cls, gt)", 80, 2.9, "gt", 82_783),
    ("COCO-like (80 cls, all)", 80, 2.9, "all", 82_783),
]
SLACK = 256 * 1024
OVERHEAD = 2048  # zip + .npy headers of the four arrays


def realistic_maps(rng: np.random.Generator, k: int, out: int) -> np.ndarray:
    """(k, out, out) float32 in [0, 1]: smooth blobs at the feature stride, upsampled."""
    coarse = INPUT // FEATURE_STRIDE
    yy, xx = np.mgrid[0:coarse, 0:coarse].astype(np.float32)
    maps = np.zeros((k, coarse, coarse), np.float32)
    for m in maps:
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0, coarse, 2)
            sigma = rng.uniform(1.5, 6.0)
            m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / sigma ** 2)
        m += 0.05 * rng.standard_normal(m.shape).astype(np.float32) - 0.1
    up = F.interpolate(torch.from_numpy(maps)[None], (out, out), mode="bilinear",
                       align_corners=False)[0].clamp_(min=0).numpy()
    peak = up.reshape(k, -1).max(1)[:, None, None]
    return np.where(peak > 0, up / np.where(peak > 0, peak, 1), 0).astype(np.float32)


def bytes_per_image(images: int) -> None:
    print(f"(a) CAM store size: input {INPUT}, float16 maps, {images} images per setting")
    print(f"{'setting':26s} {'stride':>6s} {'maps/img':>8s} {'bytes/img':>10s} "
          f"{'target <=':>10s} {'full split':>10s}")
    rng = np.random.default_rng(0)
    for name, num_classes, mean_gt, mode, split in SETTINGS:
        for stride in (4, 16):
            side = INPUT // stride
            with tempfile.TemporaryDirectory() as tmp:
                store = CamStore(Path(tmp) / "store", settings={"bench": name, "stride": stride})
                counts = []
                for i in range(images):
                    k = num_classes if mode == "all" else 1 + rng.poisson(mean_gt - 1)
                    k = min(int(k), num_classes)
                    classes = rng.choice(num_classes, k, replace=False)
                    store.write(f"{i:06d}", realistic_maps(rng, k, side), classes, (375, 500))
                    counts.append(k)
                size = sum(p.stat().st_size for p in store.directory.glob("*.npz")) / images
            # float16 maps + float32 scales + int64 class ids + the size, + container
            target = np.mean(counts) * (side * side * 2 + 12) + 16 + OVERHEAD
            print(f"{name:26s} {stride:6d} {np.mean(counts):8.2f} {size:10.0f} {target:10.0f} "
                  f"{size * split / 1e9:8.2f} GB")


def bytes_per_image_irn(images: int) -> None:
    """cam.protocol=irn: per-scale float32 maps at the OS-16 layer of each image's own size."""
    print(f"\n(a') cam.protocol=irn store: float32 per-scale maps, scales {IRN_SCALES}, "
          f"{images} images per setting")
    print(f"{'setting':26s} {'image':>9s} {'maps/img':>8s} {'bytes/img':>10s} "
          f"{'target <=':>10s} {'full split':>10s}")
    rng = np.random.default_rng(0)
    for (name, num_classes, mean_gt, _, split), (height, width) in zip(
            SETTINGS[:2], [(375, 500), (480, 640)], strict=True):
        shapes = [(-(-round(s * height) // FEATURE_STRIDE), -(-round(s * width) // FEATURE_STRIDE))
                  for s in IRN_SCALES]
        with tempfile.TemporaryDirectory() as tmp:
            store = CamStore(Path(tmp) / "store", settings={"bench": name, "protocol": "irn"})
            counts = []
            for i in range(images):
                k = min(int(1 + rng.poisson(mean_gt - 1)), num_classes)
                classes = rng.choice(num_classes, k, replace=False)
                levels = [np.clip(rng.standard_normal((k, h, w)), 0, None).astype(np.float32)
                          for h, w in shapes]
                store.write_levels(f"{i:06d}", levels, classes, (height, width), "irn", 16)
                counts.append(k)
            size = sum(p.stat().st_size for p in store.directory.glob("*.npz")) / images
        target = np.mean(counts) * (sum(h * w for h, w in shapes) * 4 + 8) + 64 + OVERHEAD \
            + 256 * len(IRN_SCALES)  # + one .npy header per level
        print(f"{name:26s} {width:4d}x{height:<4d} {np.mean(counts):8.2f} {size:10.0f} "
              f"{target:10.0f} {size * split / 1e9:8.2f} GB")


def _resident(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024


def _reset_resident_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def evaluate_peaks(num_val: int, base: Path) -> tuple[int, int, float]:
    """(traced peak, resident peak growth or -1, seconds) of the evaluate stage on num_val."""
    from scipy.ndimage import gaussian_filter

    from wsol.app.build import build_run
    from wsol.app.compose import compose_config
    from wsol.app.stages.evaluate import evaluate_stage
    from wsol.datasets.classes import SHAPE_CLASSES
    from wsol.datasets.voc import VOCDataset
    from wsol.demo.synthetic import ensure_demo_dataset

    root = ensure_demo_dataset(base / "data" / "demo" / "VOCshapes", progress=False,
                               num_images=2 * num_val, val_fraction=0.5, image_size=64)
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    store = CamStore(base / "store")
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        maps = [gaussian_filter((mask == c + 1).astype(np.float32), 3.0)[::2, ::2]
                for c in classes]
        store.write(image_id, np.stack(maps), classes, mask.shape)
    cfg = compose_config([
        f"paths.data_dir={base / 'data'}", f"paths.run_dir={base / 'run'}",
        f"data.generate.num_images={2 * num_val}", "data.generate.val_fraction=0.5",
        "data.generate.image_size=64", f"cam.store_dir={base / 'store'}",
        "eval.num_figures=0", "stages=[evaluate]"])
    evaluate_stage(build_run(cfg))  # warm-up: imports and caches are not the stage's working set
    resident = _reset_resident_peak()
    before = _resident("VmRSS") if resident else 0
    start = time.perf_counter()
    tracemalloc.start()
    evaluate_stage(build_run(cfg))
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = time.perf_counter() - start
    return traced, (_resident("VmHWM") - before if resident else -1), seconds


def evaluate_memory(sizes: list[int]) -> None:
    print(f"\n(b) evaluate-stage peak memory (64x64 images), sizes {sizes}")
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append((n, *evaluate_peaks(n, Path(tmp))))
    for n, traced, rss, seconds in rows:
        rss_text = f"{rss / 2**20:8.2f} MiB" if rss >= 0 else "     n/a"
        print(f"  {n:6d} images: traced peak {traced / 2**20:7.2f} MiB, resident growth "
              f"{rss_text}  ({seconds:.1f} s traced)")
    small, large = rows[0][1], rows[-1][1]
    bound = 1.25 * small + SLACK
    print(f"  target: traced peak({sizes[-1]}) < 1.25 * peak({sizes[0]}) + 256 KiB = "
          f"{bound / 2**20:.2f} MiB; measured {large / 2**20:.2f} MiB "
          f"({'met' if large < bound else 'NOT met'}; ratio {large / small:.3f})")


def verification_cost(files: int) -> None:
    workers = available_cpus()
    print(f"\n(c) store verification, {files} files per setting (warm page cache); intact() "
          f"in one process and over {workers} (the CPUs this process may use, as the cam "
          f"stage with threads: null; one per {FILES_PER_WORKER} files at most)")
    print(f"{'setting':26s} {'stride':>6s} {'KB/file':>8s} {'list':>9s} {'np.load':>9s} "
          f"{'intact()':>9s} {'per file':>9s} {f'x{workers} procs':>10s} {'speed-up':>8s}")
    rng = np.random.default_rng(1)
    for name, num_classes, per_image, mode, _ in SETTINGS[:2]:
        for stride in (4, 16):
            with tempfile.TemporaryDirectory() as tmp:
                store = CamStore(Path(tmp) / "store",
                                 settings={"class_names": [str(c) for c in range(num_classes)]})
                ids = [f"{i:06d}" for i in range(files)]
                for image_id in ids:
                    k = num_classes if mode == "all" else max(1, int(rng.poisson(per_image)))
                    classes = np.sort(rng.choice(num_classes, min(k, num_classes), replace=False))
                    store.write(image_id, realistic_maps(rng, len(classes), INPUT // stride),
                                classes, (INPUT, INPUT))
                size = sum(p.stat().st_size for p in store.directory.glob("*.npz")) / files
                start = time.perf_counter()
                listed = set(store.ids())
                t_list = time.perf_counter() - start
                start = time.perf_counter()
                for path in store.directory.glob("*.npz"):
                    with np.load(path) as data:
                        _ = [data[k] for k in data.files]
                t_load = time.perf_counter() - start
                start = time.perf_counter()
                good = store.intact(ids)
                t_verify = time.perf_counter() - start
                start = time.perf_counter()
                spread = store.intact(ids, workers)
                t_spread = time.perf_counter() - start
                assert good == spread == listed == set(ids)
                print(f"{name:26s} {stride:6d} {size / 1000:8.1f} {t_list * 1e3:7.1f}ms "
                      f"{t_load * 1e3:7.0f}ms {t_verify * 1e3:7.0f}ms "
                      f"{t_verify / files * 1e6:7.0f}us {t_spread * 1e3:8.0f}ms "
                      f"{t_verify / t_spread:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images per size setting")
    parser.add_argument("--sizes", type=int, nargs=2, default=[50, 200],
                        help="the two dataset sizes for the evaluate memory measurement")
    parser.add_argument("--verify", type=int, default=1000, help="files per setting for (c)")
    parser.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "a" in args.parts:
        bytes_per_image(args.images)
        bytes_per_image_irn(args.images)
    if "b" in args.parts:
        evaluate_memory(sorted(args.sizes))
    if "c" in args.parts:
        verification_cost(args.verify)


if __name__ == "__main__":
    main()
