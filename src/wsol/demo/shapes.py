"""Outlines of the demo's shape classes and their rasterisation (OpenCV fillPoly, no anti-aliasing).

Every outline is normalised once to unit area with its area centroid at the origin, so a caller
asks for a shape by class, centre, area in pixels, rotation and a mild aspect stretch, and gets
the same area whatever the class: neither size nor colour carries the class, only the outline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from wsol.datasets.classes import SHAPE_CLASSES

_SUBPIXEL_BITS = 4  # fillPoly works in 1/16 pixel, so small shapes keep their outline


@dataclass(frozen=True)
class Outline:
    """Polygons (K,2) float64 in shape units: ``fill`` drawn, then ``erase`` cleared."""

    fill: tuple[np.ndarray, ...]
    erase: tuple[np.ndarray, ...] = ()


def _regular(n: int, phase: float, radius: float = 1.0, center=(0.0, 0.0)) -> np.ndarray:
    angles = phase + 2.0 * math.pi * np.arange(n) / n
    return np.stack([center[0] + radius * np.cos(angles), center[1] + radius * np.sin(angles)], 1)


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    angles = -math.pi / 2 + math.pi * np.arange(2 * points) / points
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def _cross(half_width: float = 0.32) -> np.ndarray:
    w = half_width
    return np.array([(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1),
                     (-w, w), (-1, w), (-1, -w), (-w, -w)], dtype=np.float64)


def _heart(n: int = 72) -> np.ndarray:
    t = 2.0 * math.pi * np.arange(n) / n
    x = 16.0 * np.sin(t) ** 3
    y = -(13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], 1) / 16.0  # image y points down, so the lobes end up on top


def _raw_outlines() -> dict[str, Outline]:
    up = -math.pi / 2
    return {
        "circle": Outline((_regular(72, 0.0),)),
        "square": Outline((_regular(4, math.pi / 4),)),
        "triangle": Outline((_regular(3, up),)),
        "star": Outline((_star(),)),
        "cross": Outline((_cross(),)),
        "hexagon": Outline((_regular(6, 0.0),)),
        "heart": Outline((_heart(),)),
        "crescent": Outline((_regular(72, 0.0),), (_regular(72, 0.0, 0.82, (0.48, -0.06)),)),
    }


@functools.lru_cache(maxsize=1)
def unit_outlines() -> tuple[Outline, ...]:
    """The outlines in :data:`SHAPE_CLASSES` order, each of area 1 centred on its centroid."""
    out = []
    size, scale = 1024, 400.0
    for name in SHAPE_CLASSES:
        raw = _raw_outlines()[name]
        mask = _draw_local(raw, lambda p: p * scale + size / 2, (0, 0), (size, size))
        ys, xs = np.nonzero(mask)  # OpenCV puts pixel centres on integer coordinates
        area = len(xs) / scale**2
        centroid = np.array([xs.mean() - size / 2, ys.mean() - size / 2]) / scale
        norm = 1.0 / math.sqrt(area)
        out.append(Outline(tuple((p - centroid) * norm for p in raw.fill),
                           tuple((p - centroid) * norm for p in raw.erase)))
    return tuple(out)


def render_shape(class_index: int, center: tuple[float, float], area: float, angle: float,
                 aspect: float, image_size: int) -> tuple[np.ndarray, int]:
    """Rasterise one shape of class ``class_index`` (0-based into SHAPE_CLASSES).

    ``center`` (x, y) and ``area`` are in pixels, ``angle`` in radians, ``aspect`` stretches x
    by ``aspect`` and y by ``1/aspect`` (area kept). Returns the bool mask (S,S) of the part
    inside the image and the pixel area of the whole shape, parts outside the image included.
    """
    outline = unit_outlines()[class_index]
    side = math.sqrt(area)
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([aspect, 1.0 / aspect]) * side

    def to_image(p: np.ndarray) -> np.ndarray:
        return p @ linear.T + np.asarray(center)

    allpts = np.concatenate([to_image(p) for p in outline.fill])
    x0, y0 = np.floor(allpts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(allpts.max(0)).astype(int) + 1
    local = _draw_local(outline, to_image, (x0, y0), (x1 - x0 + 1, y1 - y0 + 1))
    full_area = int(local.sum())
    mask = np.zeros((image_size, image_size), bool)
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x1 + 1, image_size), min(y1 + 1, image_size)
    if ix0 < ix1 and iy0 < iy1:
        mask[iy0:iy1, ix0:ix1] = local[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] > 0
    return mask, full_area


def _draw_local(outline: Outline, to_image, origin: tuple[int, int], size: tuple[int, int]):
    canvas = np.zeros((size[1], size[0]), np.uint8)
    shift = np.asarray(origin, np.float64)
    for polys, value in ((outline.fill, 1), (outline.erase, 0)):
        if polys:
            pts = [np.round((to_image(p) - shift) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
                   for p in polys]
            cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return canvas
