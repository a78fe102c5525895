"""The report's gallery: which (image, class) pairs to show, and one thumbnail strip per pair.

A strip is three panels of equal height: the image with the ground-truth boxes (green); the map
over the image (jet) with the ground truth, the boxes at the dataset's best threshold (yellow)
and the protocol box (magenta); and the seed mask (VOC colours over the image) with the class's
seed outlined in white.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from wsol.datasets.voc_format import VOC_PALETTE
from wsol.viz import overlay_heatmap

GREEN, YELLOW, MAGENTA, WHITE = (0, 220, 0), (255, 230, 0), (255, 0, 255), (255, 255, 255)


@dataclass(frozen=True)
class PairRow:
    """One row of ``per_pair.csv`` (IoUs in percent; seed_iou None without a mask)."""

    image_id: str
    class_id: int
    class_name: str
    iou_best: float
    iou_max: float
    iou_protocol: float
    seed_iou: float | None


def read_pairs(path: Path) -> list[PairRow]:
    """The rows of a ``per_pair.csv`` written by the evaluate stage."""
    with open(path, newline="") as handle:
        return [PairRow(r["image_id"], int(r["class_id"]), r["class"], float(r["iou_best"]),
                        float(r["iou_max"]), float(r["iou_protocol"]),
                        float(r["seed_iou"]) if r["seed_iou"] else None)
                for r in csv.DictReader(handle)]


def _quality(row: PairRow) -> tuple:
    seed = row.seed_iou if row.seed_iou is not None else -1.0
    return (-row.iou_best, -row.iou_protocol, -seed, row.image_id)


def pick_gallery(rows: Sequence[PairRow], per_class: int | None) -> list[tuple[PairRow, str]]:
    """Per class (in class order), its ``per_class`` best and ``per_class`` worst pairs by IoU
    at the best threshold (then protocol IoU, seed IoU, id), tagged ``best`` / ``worst``; a
    class with fewer than twice as many pairs shows them all, its better half as ``best``.
    ``per_class`` None: every pair, the better half of each class as ``best``."""
    by_class: dict[int, list[PairRow]] = {}
    for row in rows:
        by_class.setdefault(row.class_id, []).append(row)
    picked = []
    for class_id in sorted(by_class):
        ranked = sorted(by_class[class_id], key=_quality)
        n = len(ranked)
        if per_class is None or n <= 2 * per_class:
            half = math.ceil(n / 2)
            picked += [(r, "best" if i < half else "worst") for i, r in enumerate(ranked)]
        else:
            picked += [(r, "best") for r in ranked[:per_class]]
            picked += [(r, "worst") for r in ranked[::-1][:per_class]]
    return picked


def _panel(image: np.ndarray, height: int) -> tuple[np.ndarray, float]:
    """The image resized to ``height`` rows (aspect kept) and the scale used."""
    scale = height / image.shape[0]
    width = max(1, round(image.shape[1] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp), scale


def _boxes(panel: np.ndarray, boxes: np.ndarray, scale: float, colour, thickness: int) -> None:
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        cv2.rectangle(panel, (int(x0 * scale), int(y0 * scale)),
                      (int((x1 + 1) * scale) - 1, int((y1 + 1) * scale) - 1), colour, thickness)


def gallery_strip(image: np.ndarray, cam: np.ndarray, class_id: int, gt_boxes: np.ndarray,
                  best_boxes: np.ndarray, protocol_box: np.ndarray, seed: np.ndarray | None,
                  height: int) -> np.ndarray:
    """Three panels side by side, uint8 (height, 3 w, 3) RGB.

    image: (H, W, 3) uint8; cam: (H, W) in [0, 1]; boxes inclusive x0, y0, x1, y1 in image
    pixels; seed: (H, W) uint8 labels (0 background, k + 1 class k) or None (panel grey).
    """
    thick = max(1, height // 64)
    plain, scale = _panel(image, height)
    _boxes(plain, gt_boxes, scale, GREEN, thick)
    heat = _panel(overlay_heatmap(image, cam), height)[0]
    _boxes(heat, gt_boxes, scale, GREEN, thick)
    _boxes(heat, best_boxes, scale, YELLOW, thick)
    _boxes(heat, protocol_box, scale, MAGENTA, thick)
    if seed is None:
        seeds = np.full_like(plain, 128)
    else:
        colours = VOC_PALETTE[seed]
        mixed = np.where(seed[..., None] > 0, 0.35 * image + 0.65 * colours, 0.5 * image)
        seeds = _panel(mixed.astype(np.uint8), height)[0]
        mine = _panel((seed == class_id + 1).astype(np.uint8) * 255, height)[0]
        contours, _ = cv2.findContours((mine > 127).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(seeds, contours, -1, WHITE, thick)
        _boxes(seeds, gt_boxes, scale, GREEN, thick)
    return np.concatenate([plain, heat, seeds], axis=1)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 88) -> None:
    """Write an RGB uint8 image as JPEG (the gallery's thumbnails: small, quick to decode)."""
    from wsol.io.atomic import atomic_write_bytes

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode {path}")
    atomic_write_bytes(path, data.tobytes())
