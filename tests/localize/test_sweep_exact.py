"""sweep_boxes against cv2.findContours at every cutoff, on random and adversarial uint8 maps.

The sweep proves most levels instead of tracing them (interval proofs, flood fills, V2's
merge guesses from Euler numbers and hole fills); each map kind below aims at one way a proof
could go wrong: plateaus and ties, holes and nested contours (islands in holes, rings),
components touching the border, single pixels, many maxima, CAM-like maps as the bench draws.
"""

import zlib

import cv2
import numpy as np
import pytest

from wsol.localize.sweep import sweep_boxes


def reference(q: np.ndarray, cutoffs: np.ndarray, multi: bool) -> list[list[tuple]]:
    """wsolevaluation's boxes of ``q > c`` per cutoff (V2's sorted: their order is free)."""
    height, width = q.shape
    out = []
    for c in cutoffs:
        binary = (q > c).astype(np.uint8)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if not contours:
            out.append([(0, 0, 0, 0)])
            continue
        if not multi:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
        out.append(sorted(boxes) if multi else boxes)
    return out


def swept(q: np.ndarray, cutoffs: np.ndarray, multi: bool) -> list[list[tuple]]:
    result = sweep_boxes(q, cutoffs, multi)
    bounds = np.searchsorted(result.owner, np.arange(result.num_groups + 1))
    per_group = [result.boxes[bounds[g] : bounds[g + 1]].tolist() for g in range(result.num_groups)]
    out = []
    for g in result.group_of_cutoff:
        boxes = [tuple(b) for b in per_group[g]]
        out.append(sorted(boxes) if multi else boxes)
    return out


def cam_like(rng: np.random.Generator, height: int, width: int, low: int, noise: float):
    """A ReLU'd low-resolution activation, bicubically upsampled and min-max quantised."""
    yy, xx = np.mgrid[:low, :low].astype(np.float32)
    m = np.zeros((low, low), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, low - 1, 2)
        s = rng.uniform(0.1, 0.3) * low
        m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    m = np.maximum(m + rng.normal(0, noise, m.shape).astype(np.float32) - rng.uniform(0, 0.2), 0)
    m = cv2.resize(m, (width, height), interpolation=cv2.INTER_CUBIC)
    m -= m.min()
    return (m / max(float(m.max()), 1e-6) * 255).astype(np.uint8)


def make(rng: np.random.Generator, kind: str) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    if kind == "noise":  # many maxima and holes
        return rng.integers(0, 256, (h, w)).astype(np.uint8)
    if kind == "few":  # few grey levels: plateaus, equal areas (V1 ties)
        return (rng.integers(0, int(rng.integers(2, 6)), (h, w)) * 60).astype(np.uint8)
    if kind == "binary":
        return ((rng.random((h, w)) < rng.uniform(0.2, 0.8)) * 255).astype(np.uint8)
    if kind == "pixels":  # isolated single pixels of random heights
        q = np.zeros((h, w), np.uint8)
        n = int(rng.integers(1, 12))
        q[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.integers(1, 256, n)
        return q
    if kind == "rings":  # concentric ridges: holes, islands inside holes
        h, w = max(h, 8), max(w, 8)
        yy, xx = np.mgrid[:h, :w]
        r = np.hypot(yy - rng.uniform(0, h), xx - rng.uniform(0, w))
        return (np.cos(r * rng.uniform(0.3, 1.5)) * 127.5 + 127.5).astype(np.uint8)
    if kind == "nested":  # concentric squares at random levels: deep contour nesting
        h, w = max(h, 3), max(w, 3)
        q = np.zeros((h, w), np.uint8)
        k = 0
        while 2 * k < min(h, w):
            q[k : h - k, k : w - k] = rng.integers(0, 256)
            k += int(rng.integers(1, 3))
        return q
    if kind == "plateau":  # blocky: wide plateaus at a few heights
        small = (rng.integers(0, 6, tuple(rng.integers(2, 6, 2))) * 50).astype(np.uint8)
        return cv2.resize(small, (max(w, 4), max(h, 4)), interpolation=cv2.INTER_NEAREST)
    if kind == "border":  # CAM-like with high values along two image borders
        q = cam_like(rng, max(h, 8), max(w, 8), int(rng.integers(4, 10)), 0.05)
        q[0, :] = np.maximum(q[0, :], rng.integers(0, 256))
        q[:, -1] = np.maximum(q[:, -1], rng.integers(0, 256))
        return q
    if kind == "checker":  # diagonal contacts: 8-connected foreground, 4-connected holes
        yy, xx = np.mgrid[:h, :w]
        cells = (yy // int(rng.integers(1, 3)) + xx // int(rng.integers(1, 3))) % 2
        return (cells * int(rng.integers(1, 200)) + (yy * xx) % 7).astype(np.uint8)
    if kind in ("smooth", "bumpy"):
        size = tuple(int(v) for v in rng.integers(16, 120, 2))
        return cam_like(rng, *size, int(rng.integers(4, 15)), 0.05 if kind == "bumpy" else 0.01)
    # "bench": what scripts/bench_eval.py times, 224 x 224 from 7 x 7 or 14 x 14
    return cam_like(rng, 224, 224, int(rng.choice([7, 14])), float(rng.choice([0.01, 0.05])))


CUTOFFS = np.arange(-1, 257)  # every binarisation, and cutoffs beyond the map's values
KINDS = {  # kind: maps per test
    "noise": 25,
    "few": 25,
    "binary": 25,
    "pixels": 25,
    "rings": 20,
    "nested": 25,
    "plateau": 25,
    "border": 15,
    "checker": 25,
    "smooth": 10,
    "bumpy": 10,
    "bench": 4,
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("multi", [False, True], ids=["V1", "V2"])
def test_sweep_equals_findcontours_at_every_cutoff(kind, multi):
    rng = np.random.default_rng(zlib.crc32(f"sweep-{kind}-{multi}".encode()))
    for _ in range(KINDS[kind]):
        q = make(rng, kind)
        if rng.random() < 0.3:  # cutoffs in any order, repeated
            cutoffs = rng.permutation(np.concatenate([CUTOFFS, rng.integers(-1, 257, 20)]))
        else:
            cutoffs = CUTOFFS
        got, want = swept(q, cutoffs, multi), reference(q, cutoffs, multi)
        for c, g, w in zip(cutoffs, got, want, strict=True):
            assert g == w, f"{kind} map {q.shape}, cutoff {c}"


def test_sweep_proves_most_levels_of_cam_maps(monkeypatch):
    """The speed of the sweep: on the bench's bumpy maps it traces a small share of the levels
    (every level traced would be barely faster than the per-threshold loop)."""
    import wsol.localize.level_solver as solver

    traced = []
    original = solver.LevelSolver.trace

    def counting(self, i, holes_only=False):
        traced.append(i)
        return original(self, i, holes_only)

    monkeypatch.setattr(solver.LevelSolver, "trace", counting)
    rng = np.random.default_rng(7)
    for multi in (False, True):
        traced.clear()
        maps = [cam_like(rng, 224, 224, low, 0.05) for low in (7, 14, 7, 14)]
        levels = sum(int(np.unique(q).size) for q in maps)
        for q in maps:
            sweep_boxes(q, CUTOFFS, multi)
        assert len(traced) < 0.25 * levels
