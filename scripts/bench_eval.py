"""Benchmark the sweep evaluators against their straightforward per-threshold counterparts.

Prints, from one run:
  1. SegEvaluator: time for 100 background thresholds vs 1 (target ratio <= 1.3) on VOC-sized
     images (375 x 500, 2 classes).
  2. BoxEvaluator at interval 0.001 on 224 x 224 CAM-like maps vs wsolevaluation's per-threshold
     loop (threshold, findContours, boxes, IoU): ms per image, speed-up (target >= 10x), and a
     check that both give identical per-threshold results; V1 also with worker processes (first
     seed only). Each seed draws an independent set of maps; a table of the V1 / V2 speed-ups on
     smooth and bumpy maps per seed ends the run.

Maps are synthetic but shaped like real CAMs: a ReLU'd low-resolution activation (7 x 7 or
14 x 14, one to three blobs plus Gaussian "bump" noise) upsampled bicubically and min-max
normalised, as wsolevaluation prepares score maps. Two families: smooth (noise 0.01) and bumpy
(0.05); bumps add regional maxima, whose births and merges are the levels the sweep must trace.
Timings interleave the two methods image by image, so machine load hits both alike.

    python scripts/bench_eval.py [--images 50] [--seeds 0,1] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

from wsol.localize import normalize_scoremap, threshold_grid
from wsol.metrics import BoxEvaluator, SegEvaluator


def cam_like(
    rng: np.random.Generator, size: tuple[int, int], low: int, noise: float = 0.05
) -> np.ndarray:
    """A CAM-shaped map: float32 (H, W) in [0, 1] with max 1; ``noise`` adds small bumps."""
    yy, xx = np.mgrid[:low, :low].astype(np.float32)
    m = np.zeros((low, low), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, low - 1, 2)
        s = rng.uniform(0.1, 0.3) * low
        m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    m += rng.normal(0, noise, m.shape).astype(np.float32)
    m = np.maximum(m - rng.uniform(0, 0.2), 0)
    return normalize_scoremap(cv2.resize(m, size[::-1], interpolation=cv2.INTER_CUBIC))


def reference_best_ious(cam: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, multi: bool):
    """wsolevaluation's BoxEvaluator.accumulate for one image: best IoU per threshold."""
    height, width = cam.shape
    image = np.expand_dims((cam * 255).astype(np.uint8), 2)
    boxes_all, counts = [], []
    for tau in thresholds:
        _, binary = cv2.threshold(image, int(tau * np.max(image)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes_all.append([0, 0, 0, 0])
            counts.append(1)
            continue
        if not multi:
            contours = [max(contours, key=cv2.contourArea)]
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes_all.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        counts.append(len(contours))
    boxes = np.asarray(boxes_all)
    ix = np.minimum(boxes[:, None, 2], gt[None, :, 2]) - np.maximum(
        boxes[:, None, 0], gt[None, :, 0]
    )
    iy = np.minimum(boxes[:, None, 3], gt[None, :, 3]) - np.maximum(
        boxes[:, None, 1], gt[None, :, 1]
    )
    inter = np.maximum(ix + 1, 0) * np.maximum(iy + 1, 0)
    area_b = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    area_g = (gt[:, 2] - gt[:, 0] + 1) * (gt[:, 3] - gt[:, 1] + 1)
    per_box = (inter / (area_b[:, None] + area_g[None, :] - inter)).max(axis=1)
    return np.maximum.reduceat(per_box, np.cumsum([0, *counts[:-1]]))


def bench_boxes(
    n: int, seed: int, interval: float, workers: int, noise: float
) -> list[tuple[float, bool]]:
    """Time both methods on n maps; print a line per variant and return (speed-up, identical)
    for V1 and V2."""
    rng = np.random.default_rng(seed)
    thresholds = threshold_grid(interval)
    cases = []
    for i in range(n):
        cam = cam_like(rng, (224, 224), 7 if i % 2 else 14, noise)
        x0, y0 = rng.integers(0, 150, 2)
        w, h = rng.integers(40, 224 - max(x0, y0), 2)
        cases.append((cam, np.array([[x0, y0, x0 + w - 1, y0 + h - 1]])))
    print(
        f"BoxEvaluator, {thresholds.size} thresholds, {n} maps 224x224, bump noise {noise}, "
        f"seed {seed}:"
    )
    results = []
    for multi in (False, True):
        ours = BoxEvaluator(thresholds, multi_contour=multi)
        hits_ref = np.zeros((3, thresholds.size), dtype=np.int64)
        t_ref = t_ours = 0.0
        for cam, gt in cases:
            t0 = time.perf_counter()
            best = reference_best_ious(cam, gt, thresholds, multi)
            t1 = time.perf_counter()
            ours.accumulate(cam, gt)
            t2 = time.perf_counter()
            t_ref += t1 - t0
            t_ours += t2 - t1
            hits_ref += best[None, :] >= np.array([[0.3], [0.5], [0.7]])
        same = np.array_equal(hits_ref, ours.num_correct)
        name = "V2 all contours  " if multi else "V1 largest (dflt)"
        print(
            f"  {name}: per-threshold loop {1e3 * t_ref / n:6.2f} ms/img | ours "
            f"{1e3 * t_ours / n:5.2f} ms/img | speed-up {t_ref / t_ours:4.1f}x (target >= 10x)"
            f" | identical: {same}"
        )
        results.append((t_ref / t_ours, same))
        if workers and not multi:
            t_pool, same = _time_pool(cases, thresholds, multi, workers, hits_ref)
            print(
                f"  V1 with {workers} worker processes (steady state): {1e3 * t_pool / n:5.2f} "
                f"ms/img | speed-up {t_ref / t_pool:4.1f}x | identical: {same}"
            )
    return results


def _time_pool(cases, thresholds, multi, workers, hits_ref) -> tuple[float, bool]:
    with BoxEvaluator(thresholds, multi_contour=multi, workers=workers) as pooled:
        for cam, gt in cases[: 2 * workers]:  # start the processes outside the timing
            pooled.accumulate(cam, gt)
        pooled.curves()
        pooled.reset()
        t0 = time.perf_counter()
        for cam, gt in cases:
            pooled.accumulate(cam, gt)
        pooled.curves()
        return time.perf_counter() - t0, bool(np.array_equal(hits_ref, pooled.num_correct))


def bench_seg(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        ids = np.sort(rng.choice(20, size=2, replace=False))
        cams = np.stack([cam_like(rng, (375, 500), 32) for _ in ids])
        gt = np.zeros((375, 500), np.uint8)
        gt[cams[0] > 0.4] = ids[0] + 1
        gt[(cams[1] > 0.5) & (cams[1] > cams[0])] = ids[1] + 1
        gt[cv2.dilate((gt > 0).astype(np.uint8), np.ones((5, 5))) != (gt > 0)] = 255
        images.append((cams, ids, gt))
    many, one = SegEvaluator(21, threshold_grid(0.01)), SegEvaluator(21, [0.15])
    t_many = t_one = 0.0
    for _ in range(3):  # repeat to steady the timing; ratios use the totals
        for cams, ids, gt in images:
            t0 = time.perf_counter()
            one.accumulate(cams, ids, gt)
            t1 = time.perf_counter()
            many.accumulate(cams, ids, gt)
            t2 = time.perf_counter()
            t_one += t1 - t0
            t_many += t2 - t1
    same = np.isclose(many.miou_at(0.15), one.compute()["miou_best"], rtol=0, atol=1e-9)
    k = 3 * n
    print(
        f"SegEvaluator: {n} images 375x500, 2 classes | 1 threshold {1e3 * t_one / k:.2f} ms/img"
        f" | 100 thresholds {1e3 * t_many / k:.2f} ms/img | ratio {t_many / t_one:.2f}"
        f" (target <= 1.3) | mIoU@0.15 equal: {bool(same)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument(
        "--seeds", default="0,1", help="comma-separated seeds, each an independent set of maps"
    )
    parser.add_argument("--interval", type=float, default=0.001)
    parser.add_argument("--workers", type=int, default=2, help="0 skips the multi-process run")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # both sides single-threaded: a like-for-like comparison
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs (other work skews timings)")
    seeds = [int(v) for v in args.seeds.split(",")]
    bench_seg(args.images, seeds[0])
    table = []
    for k, seed in enumerate(seeds):
        for noise, kind in ((0.01, "smooth"), (0.05, "bumpy")):
            workers = args.workers if k == 0 else 0
            v1, v2 = bench_boxes(args.images, seed, args.interval, workers, noise)
            table.append((seed, kind, v1, v2))
    print("Box sweep speed-up over the per-threshold loop (target >= 10x for V1 and V2):")
    print("  seed  maps      V1       V2      identical")
    for seed, kind, (r1, same1), (r2, same2) in table:
        mark = "  ".join("ok " if r >= 10 else "LOW" for r in (r1, r2))
        print(
            f"  {seed:4d}  {kind:6s}  {r1:5.1f}x  {r2:5.1f}x  {str(same1 and same2):5s}  [{mark}]"
        )


if __name__ == "__main__":
    main()
