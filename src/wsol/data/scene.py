"""One demo image: a smooth colour-noise background with distractor strokes and 1-3 shapes.

The class of an object is decided by its outline only: colour (solid or a linear gradient),
size, rotation, aspect and position are drawn independently of the class. Later objects may
cover earlier ones, but every object keeps at least half of itself visible (image borders
count as covering), and its ground truth (box, mask) is the visible part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from wsol.data.classes import SHAPE_CLASSES
from wsol.data.shapes import render_shape

MIN_COVERAGE = 0.06  # whole-shape area as a fraction of the image, before occlusion
MAX_COVERAGE = 0.35
MIN_VISIBLE = 0.5  # fraction of a shape that must stay visible
MIN_INSIDE = 0.75  # fraction of a shape that must lie inside the image
MAX_OBJECTS = 3
MIN_CONTRAST = 60.0  # RGB distance between an object's fill and what it is drawn on
MIN_LUMA_CONTRAST = 0.0  # and the least luminance difference (either polarity)
BASE_GREY = (40.0, 215.0)  # background: a grey level, tinted, plus smooth colour noise
BASE_TINT = 90.0
COARSE_AMPLITUDE = (30.0, 90.0)  # background colour-noise amplitudes (0..255 scale)
FINE_AMPLITUDE = (8.0, 25.0)
NUM_STROKES = (1, 4)  # distractor strokes per image, inclusive
NOISE_SIGMA = (3.0, 9.0)  # per-pixel Gaussian noise
GRADIENT_PROBABILITY = 0.5
ASPECT_JITTER = 0.15  # log of the largest x/y stretch
_PLACEMENT_TRIES = 40
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class DemoObject:
    """One drawn shape. ``visible``: bool (S,S) mask of its visible pixels."""

    class_index: int
    visible: np.ndarray
    full_area: int
    truncated: bool

    @property
    def box(self) -> np.ndarray:
        """int64 (4,) inclusive 0-based ``x0, y0, x1, y1`` of the visible pixels."""
        ys, xs = np.nonzero(self.visible)
        return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.int64)

    @property
    def name(self) -> str:
        return SHAPE_CLASSES[self.class_index]


@dataclass
class DemoSample:
    """A rendered image: ``image`` uint8 (S,S,3) RGB and its objects in drawing order."""

    image: np.ndarray
    objects: list[DemoObject]

    def segmentation(self) -> np.ndarray:
        """VOC-style uint8 (S,S) map: 0 background, k+1 class k, 255 on the outline band."""
        return segmentation_from_objects(self.objects, self.image.shape[0])


def border_band_width(image_size: int) -> int:
    """Width in pixels of the 255 band along outlines (1 px at 64², 2 px from 96² up)."""
    return 1 if image_size < 96 else 2


def segmentation_from_objects(objects: list[DemoObject], image_size: int) -> np.ndarray:
    """uint8 (S,S): class index + 1 on visible pixels, 255 on a band just outside each outline.

    A pixel is in the band when a neighbour within ``border_band_width`` belongs to an object
    drawn later (background counts as drawn first), so the band runs outside object borders
    and on the covered side of occlusion edges, as VOC's void borders do.
    """
    instances = np.zeros((image_size, image_size), np.uint8)
    seg = np.zeros((image_size, image_size), np.uint8)
    for j, obj in enumerate(objects):
        instances[obj.visible] = j + 1
        seg[obj.visible] = obj.class_index + 1
    width = 2 * border_band_width(image_size) + 1
    neighbour_max = cv2.dilate(instances, np.ones((width, width), np.uint8))
    seg[neighbour_max > instances] = 255
    return seg


def render_sample(seed: int, index: int, image_size: int = 64) -> DemoSample:
    """Render image ``index`` of the dataset made with ``seed``; depends on nothing else."""
    rng = np.random.default_rng([seed, index])
    size = image_size
    canvas = _background(rng, size)
    _draw_strokes(rng, canvas)
    objects: list[DemoObject] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        obj = _place_object(rng, objects, size)
        if obj is None:  # the image is too crowded for another shape
            break
        _paint(rng, canvas, obj.visible, objects)
        for earlier in objects:
            earlier.visible &= ~obj.visible
        objects.append(obj)
    canvas += rng.normal(0.0, rng.uniform(*NOISE_SIGMA), canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return DemoSample(image=image, objects=objects)


def _place_object(rng: np.random.Generator, objects: list[DemoObject], size: int):
    class_index = int(rng.integers(len(SHAPE_CLASSES)))
    lo, hi = math.log(MIN_COVERAGE * size * size), math.log(MAX_COVERAGE * size * size)
    for _ in range(_PLACEMENT_TRIES):
        area = math.exp(rng.uniform(lo, hi))
        center = (rng.uniform(0, size - 1), rng.uniform(0, size - 1))
        angle = rng.uniform(0.0, 2.0 * math.pi)
        aspect = math.exp(rng.uniform(-ASPECT_JITTER, ASPECT_JITTER))
        mask, full = render_shape(class_index, center, area, angle, aspect, size)
        if not MIN_COVERAGE * size * size <= full <= MAX_COVERAGE * size * size:
            continue
        inside = int(mask.sum())
        if inside < MIN_INSIDE * full:
            continue
        if any((o.visible & ~mask).sum() < MIN_VISIBLE * o.full_area for o in objects):
            continue
        return DemoObject(class_index, mask, full, truncated=inside < full)
    return None


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour noise: a coarse random grid plus a finer, fainter one, upsampled."""
    base = rng.uniform(*BASE_GREY) + rng.uniform(-BASE_TINT, BASE_TINT, 3)
    coarse = rng.integers(2, 7)
    fine = rng.integers(8, 17)
    layers = [(coarse, rng.uniform(*COARSE_AMPLITUDE)), (fine, rng.uniform(*FINE_AMPLITUDE))]
    canvas = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    for grid, amplitude in layers:
        noise = rng.uniform(-amplitude, amplitude, (grid, grid, 3)).astype(np.float32)
        canvas = canvas + cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.clip(canvas, 0, 255))


def _draw_strokes(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A few open lines and curves: edges that are not objects."""
    size = canvas.shape[0]
    scale = size / 64.0
    for _ in range(int(rng.integers(NUM_STROKES[0], NUM_STROKES[1] + 1))):
        p0, p1, p2 = rng.uniform(-0.1 * size, 1.1 * size, (3, 2))
        t = np.linspace(0.0, 1.0, 24)[:, None]
        if rng.random() < 0.4:  # straight line
            pts = p0 + t * (p2 - p0)
        else:  # quadratic Bezier curve
            pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        thickness = max(1, int(round(rng.uniform(1.0, 2.5) * scale)))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        poly = np.round(pts * 16).astype(np.int32)
        cv2.polylines(canvas, [poly], False, colour, thickness, cv2.LINE_AA, shift=4)


def _paint(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray,
           objects: list[DemoObject]) -> None:
    """Fill ``mask`` with a solid colour or a linear gradient that stands out from beneath."""
    below = [mask & ~np.any([o.visible for o in objects], 0)] if objects else [mask]
    below += [mask & o.visible for o in objects]
    below_means = [canvas[m].mean(0) for m in below if m.sum() >= 4]
    ys, xs = np.nonzero(mask)
    for _ in range(30):
        c0 = rng.uniform(0, 255, 3)
        gradient = rng.random() < GRADIENT_PROBABILITY
        c1 = np.clip(c0 + rng.normal(0, 60, 3), 0, 255) if gradient else c0
        theta = rng.uniform(0, 2 * math.pi)
        proj = xs * math.cos(theta) + ys * math.sin(theta)
        span = max(float(proj.max() - proj.min()), 1.0)
        t = ((proj - proj.min()) / span)[:, None]
        fill = (1 - t) * c0 + t * c1
        mean = fill.mean(0)
        if all(np.linalg.norm(mean - m) >= MIN_CONTRAST
               and abs(float((mean - m) @ _LUMA)) >= MIN_LUMA_CONTRAST for m in below_means):
            break
    canvas[ys, xs] = fill.astype(np.float32)
