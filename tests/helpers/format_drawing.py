"""Shared pieces of the format-tree writers: what a writer returns, and how images are drawn.

Images are real JPEGs (48-80 px, varied sizes) with a bright filled shape (colour and shape
fixed per class) where each box is, on a dark noisy background.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

VOC_NAMES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
VOC_POOL = (0, 2, 7, 11, 14)  # aeroplane, bird, cat, dog, person: enough variety, learnable


@dataclass
class WrittenTree:
    """What a writer put on disk. Boxes int64 (M,4) inclusive 0-based x0,y0,x1,y1; labels
    float32 (C,) multi-hot; masks uint8 (H,W) keyed by folder (e.g. ``SegmentationClass``)
    then image id; sizes (W, H)."""

    root: Path
    class_names: tuple[str, ...]
    splits: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    box_labels: dict[str, np.ndarray] = field(default_factory=dict)
    difficult: dict[str, np.ndarray] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    masks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def record(self, image_id: str, boxes, box_labels, difficult, size) -> None:
        self.boxes[image_id] = np.asarray(boxes, np.int64).reshape(-1, 4)
        self.box_labels[image_id] = np.asarray(box_labels, np.int64)
        self.difficult[image_id] = np.asarray(difficult, bool)
        labels = np.zeros(len(self.class_names), np.float32)
        labels[self.box_labels[image_id]] = 1.0
        self.labels[image_id] = labels
        self.sizes[image_id] = tuple(size)


# ---------------------------------------------------------------- drawing


def class_colour(k: int) -> tuple[int, int, int]:
    """A bright RGB colour per class index."""
    hue = (k * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[2]), int(bgr[1]), int(bgr[0])


def shape_mask(k: int, box: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    """bool (H,W): class ``k``'s shape in the inclusive box (rectangle for even k, ellipse
    for odd k), cut by the image border. The box may reach outside the image."""
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), np.uint8)
    if k % 2 == 0:
        mask[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = 1
    else:
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        axes = ((x1 - x0 + 1) / 2, (y1 - y0 + 1) / 2)
        cv2.ellipse(mask, (centre, (2 * axes[0], 2 * axes[1]), 0), 1, -1)
    return mask.astype(bool)


def tight_box(mask: np.ndarray) -> list[int]:
    """Inclusive 0-based x0,y0,x1,y1 of the True pixels."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 (H,W,3) dark noise."""
    return rng.integers(0, 70, (height, width, 3)).astype(np.uint8)


def paint(image: np.ndarray, mask: np.ndarray, k: int, rng: np.random.Generator) -> None:
    """Fill ``mask`` in ``image`` with class ``k``'s colour (a little noise), in place."""
    noise = rng.integers(-20, 21, (int(mask.sum()), 3))
    image[mask] = np.clip(np.asarray(class_colour(k)) + noise, 0, 255).astype(np.uint8)


def random_box(rng: np.random.Generator, width: int, height: int,
               outside: bool = False) -> tuple[int, int, int, int]:
    """An inclusive box of 30-60 % of the image side; ``outside`` pushes it past the right edge."""
    bw = int(rng.integers(int(0.3 * width), int(0.6 * width)))
    bh = int(rng.integers(int(0.3 * height), int(0.6 * height)))
    x0 = width - bw // 2 if outside else int(rng.integers(0, width - bw))
    y0 = int(rng.integers(0, height - bh))
    return x0, y0, x0 + bw - 1, y0 + bh - 1


def jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(image))


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """(W, H) between 48 and 80 px."""
    return int(rng.integers(48, 81)), int(rng.integers(48, 81))
