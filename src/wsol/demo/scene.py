"""One demo image: a smooth colour-noise background with distractor strokes and 1-3 shapes.

The look (clutter, contrast) comes from a :class:`~wsol.demo.scene_style.SceneStyle` preset.

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

from wsol.datasets.classes import SHAPE_CLASSES
from wsol.demo.scene_style import SceneStyle, get_style
from wsol.demo.shapes import render_shape

MIN_COVERAGE = 0.06  # whole-shape area as a fraction of the image, before occlusion
MAX_COVERAGE = 0.35
MIN_VISIBLE = 0.5  # fraction of a shape that must stay visible
MIN_INSIDE = 0.75  # fraction of a shape that must lie inside the image
MAX_OBJECTS = 3
_PLACEMENT_TRIES = 40
_COLOURS_PER_ROUND = 8  # fill colours tried at once
_COLOUR_ROUNDS = 5
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


def render_sample(seed: int, index: int, image_size: int = 64,
                  style: str | SceneStyle = "standard") -> DemoSample:
    """Render image ``index`` of the dataset made with ``seed``; depends on nothing else."""
    look = get_style(style) if isinstance(style, str) else style
    rng = np.random.default_rng([seed, index])
    size = image_size
    canvas = _background(rng, size, look)
    _draw_strokes(rng, canvas, look)
    objects: list[DemoObject] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        obj = _place_object(rng, objects, size, look.aspect_jitter)
        if obj is None:  # the image is too crowded for another shape
            break
        _paint(rng, canvas, obj.visible, objects, look)
        for earlier in objects:
            earlier.visible &= ~obj.visible
        objects.append(obj)
    sigma = rng.uniform(*look.noise_sigma)
    canvas += rng.normal(0.0, sigma, canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return DemoSample(image=image, objects=objects)


def _place_object(rng: np.random.Generator, objects: list[DemoObject], size: int,
                  aspect_jitter: float):
    class_index = int(rng.integers(len(SHAPE_CLASSES)))
    lo, hi = math.log(MIN_COVERAGE * size * size), math.log(MAX_COVERAGE * size * size)
    for _ in range(_PLACEMENT_TRIES):
        area = math.exp(rng.uniform(lo, hi))
        center = (rng.uniform(0, size - 1), rng.uniform(0, size - 1))
        angle = rng.uniform(0.0, 2.0 * math.pi)
        aspect = math.exp(rng.uniform(-aspect_jitter, aspect_jitter))
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


def _background(rng: np.random.Generator, size: int, look: SceneStyle) -> np.ndarray:
    """Smooth colour noise: a coarse random grid plus a finer, fainter one, upsampled."""
    base = rng.uniform(*look.base_grey) + rng.uniform(-look.base_tint, look.base_tint, 3)
    coarse = rng.integers(2, 7)
    fine = rng.integers(8, 17)
    layers = [(coarse, rng.uniform(*look.coarse_amplitude)),
              (fine, rng.uniform(*look.fine_amplitude))]
    canvas = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    for grid, amplitude in layers:
        noise = rng.uniform(-amplitude, amplitude, (grid, grid, 3)).astype(np.float32)
        canvas = canvas + cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.clip(canvas, 0, 255))


def _draw_strokes(rng: np.random.Generator, canvas: np.ndarray, look: SceneStyle) -> None:
    """A few open lines and curves: edges that are not objects."""
    size = canvas.shape[0]
    scale = size / 64.0
    for _ in range(int(rng.integers(look.num_strokes[0], look.num_strokes[1] + 1))):
        p0, p1, p2 = rng.uniform(-0.1 * size, 1.1 * size, (3, 2))
        t = np.linspace(0.0, 1.0, 24)[:, None]
        if rng.random() < 0.4:  # straight line
            pts = p0 + t * (p2 - p0)
        else:  # quadratic Bezier curve
            pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        thickness = max(1, int(round(rng.uniform(*look.stroke_width) * scale)))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        poly = np.round(pts * 16).astype(np.int32)
        cv2.polylines(canvas, [poly], False, colour, thickness, cv2.LINE_AA, shift=4)


def _paint(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray,
           objects: list[DemoObject], look: SceneStyle) -> None:
    """Fill ``mask`` with a solid colour or a linear gradient that stands out from beneath."""
    # what the new object covers: background (flag True) and each earlier object (False)
    covered = np.any([o.visible for o in objects], 0) if objects else np.zeros_like(mask)
    regions = [(mask & ~covered, True)] + [(mask & o.visible, False) for o in objects]
    beneath = [(canvas[m].mean(0), on_bg) for m, on_bg in regions if m.sum() >= 4]
    ys, xs = np.nonzero(mask)
    for _ in range(_COLOUR_ROUNDS):  # candidates in batches; first that stands out wins
        c0, c1, t = _candidate_fills(rng, xs, ys, look.gradient_probability)
        t_mean = t.mean(1)[:, None]
        ok = np.ones(len(c0), bool)
        for colour, on_bg in beneath:
            ok &= _stands_out((1 - t_mean) * c0 + t_mean * c1, colour, look, on_bg)
        if ok.any():
            break
    k = int(np.argmax(ok)) if ok.any() else len(c0) - 1
    fill = (1 - t[k][:, None]) * c0[k] + t[k][:, None] * c1[k]
    canvas[ys, xs] = fill.astype(np.float32)


def _candidate_fills(rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray,
                     gradient_probability: float):
    """Colours c0, c1 (n,3) and each pixel's position t (n, pixels) in [0,1] along a random
    direction; the fill is ``(1-t) c0 + t c1`` (c1 = c0 for a solid fill)."""
    n = _COLOURS_PER_ROUND
    c0 = rng.uniform(0, 255, (n, 3))
    gradient = rng.random(n) < gradient_probability
    c1 = np.where(gradient[:, None], np.clip(c0 + rng.normal(0, 60, (n, 3)), 0, 255), c0)
    theta = rng.uniform(0, 2 * math.pi, n)
    proj = np.cos(theta)[:, None] * xs + np.sin(theta)[:, None] * ys
    lo = proj.min(1, keepdims=True)
    return c0, c1, (proj - lo) / np.maximum(proj.max(1, keepdims=True) - lo, 1.0)


def _stands_out(fills: np.ndarray, beneath: np.ndarray, look: SceneStyle,
                on_background: bool) -> np.ndarray:
    """Which mean fill colours (n,3) differ enough from the mean colour (3,) under them
    (over other objects either polarity will do, so drawing order sets no brightness)."""
    diff = fills - beneath
    luma = diff @ _LUMA
    ok = (np.abs(luma) >= look.min_luma_contrast) & \
        (np.linalg.norm(diff, axis=1) >= look.min_contrast)
    if look.brighter_objects and on_background:
        ok &= luma >= look.min_luma_contrast
    return ok
