"""Gaussian filtering in a d-dimensional feature space with the permutohedral lattice.

Adams, Baek & Davis (Eurographics 2010): every point is lifted onto the hyperplane
``sum(x) = 0`` of R^(d+1), splatted with barycentric weights onto the d+1 vertices of its
enclosing simplex, the lattice values are blurred with [1/2, 1, 1/2] along each of the d+1
lattice directions, and sliced back with the same weights. The result approximates
``out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j`` (features already divided by their standard
deviations) in O(N d^2) instead of O(N^2), the self term included. The lattice is built once
and filters any number of value channels, so a mean-field CRF pays for it once per image.

Everything is vectorised in torch (CPU or GPU): vertices are found by packing their integer
coordinates into one int64 code and ``torch.unique``; blur neighbours by ``searchsorted``.
Points may carry a group index (e.g. the image of a batch); groups never share a vertex.
"""

from __future__ import annotations

import math

import torch


class PermutohedralLattice:
    """A lattice over ``features`` (N, d) float, optionally split into ``groups`` (N,) int."""

    def __init__(self, features: torch.Tensor, groups: torch.Tensor | None = None) -> None:
        if features.ndim != 2 or features.shape[1] < 1:
            raise ValueError(f"features: expected (N, d) with d >= 1, got {tuple(features.shape)}")
        device = features.device
        f = features.to(torch.float64)  # rounding onto the lattice is sensitive to precision
        n, d = f.shape
        d1 = d + 1
        self.n, self.d, self.device = n, d, device
        elevated = _elevate(f)
        rem0, rank = _enclosing_simplex(elevated)
        weights = _barycentric(elevated, rem0, rank)  # (N, d+1)
        # vertex r of the simplex: rem0 + canonical[r][rank] (first d coordinates identify it)
        r = torch.arange(d1, device=device)
        k = torch.arange(d1, device=device)
        canonical = torch.where(k[None, :] <= d - r[:, None], r[:, None], r[:, None] - d1)
        keys = rem0[:, None, :d] + canonical[r[None, :, None], rank[:, None, :d]]  # (N, d+1, d)
        keys = keys.reshape(n * d1, d)
        group = (groups.to(device=device, dtype=torch.int64).repeat_interleave(d1)
                 if groups is not None else torch.zeros(n * d1, dtype=torch.int64, device=device))
        codes, self._steps = _pack(keys, group, d1)
        self.codes, inverse = torch.unique(codes, return_inverse=True)  # sorted vertex codes
        self.vertices = int(self.codes.numel())
        self._offsets = inverse.reshape(n, d1)
        self._weights = weights.to(torch.float32)
        self._neighbours = self._find_neighbours()
        self._alpha = 1.0 / (1.0 + 2.0 ** (-d))

    def _find_neighbours(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per lattice direction j, the (M,) indices of each vertex's two neighbours (M: none).

        Along direction j a neighbour is ``key + 1`` in every coordinate but ``key[j] - d``
        (and the opposite); for j = d only the first d coordinates move, by +-1.
        """
        d, m = self.d, self.vertices
        out = []
        for j in range(d + 1):
            delta = torch.ones(d, dtype=torch.int64, device=self.device)
            if j < d:
                delta[j] = -d
            shift = int((delta * self._steps).sum())
            pair = []
            for sign in (1, -1):
                target = self.codes + sign * shift
                idx = torch.searchsorted(self.codes, target).clamp(max=m - 1)
                found = self.codes[idx] == target
                pair.append(torch.where(found, idx, torch.full_like(idx, m)))
            out.append((pair[0], pair[1]))
        return out

    def filter(self, values: torch.Tensor) -> torch.Tensor:
        """Gaussian-filtered ``values`` (C, N) float -> (C, N) float32 (splat, blur, slice)."""
        if values.ndim != 2 or values.shape[1] != self.n:
            raise ValueError(f"values: expected (C, {self.n}), got {tuple(values.shape)}")
        c, d1 = values.shape[0], self.d + 1
        v = values.to(device=self.device, dtype=torch.float32)
        # splat: each point adds weight * value to each vertex of its simplex (+1 spare slot)
        contrib = (v[:, :, None] * self._weights[None]).reshape(c, -1)
        lattice = torch.zeros(c, self.vertices + 1, dtype=torch.float32, device=self.device)
        lattice.index_add_(1, self._offsets.reshape(-1), contrib)
        for plus, minus in self._neighbours:  # blur along each direction in turn
            step = lattice.index_select(1, plus) + lattice.index_select(1, minus)
            lattice[:, :-1] += 0.5 * step  # writes only after both neighbours were read
        sliced = lattice.index_select(1, self._offsets.reshape(-1)).reshape(c, self.n, d1)
        return (sliced * self._weights[None]).sum(-1) * self._alpha


def _elevate(f: torch.Tensor) -> torch.Tensor:
    """Features (N, d) -> points (N, d+1) on the hyperplane sum = 0, scaled so the lattice's
    blur approximates a unit-variance Gaussian (the scale of Adams et al.)."""
    n, d = f.shape
    i = torch.arange(1, d + 1, dtype=f.dtype, device=f.device)
    scale = math.sqrt(2.0 / 3.0) * (d + 1) / torch.sqrt(i * (i + 1))
    cf = f * scale  # (N, d)
    tail = torch.flip(torch.cumsum(torch.flip(cf, [1]), 1), [1])  # tail[:, j] = sum_{k>=j} cf
    rest = torch.cat([tail[:, 1:], cf.new_zeros(n, 1)], 1) - i * cf
    return torch.cat([tail[:, :1], rest], 1)


def _enclosing_simplex(elevated: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest remainder-0 lattice point (N, d+1) int64 and each coordinate's rank."""
    d1 = elevated.shape[1]
    v = elevated / d1
    up, down = torch.ceil(v) * d1, torch.floor(v) * d1
    rem0 = torch.where(up - elevated < elevated - down, up, down)
    total = (rem0.sum(1) / d1).round().to(torch.int64)
    diff = elevated - rem0
    di, dj = diff[:, :, None], diff[:, None, :]
    idx = torch.arange(d1, device=elevated.device)
    later = idx[None, :] > idx[:, None]  # [i, j]: j after i
    # pairs i < j: the smaller difference gets the higher rank (ties go to the later one)
    rank = ((di < dj) & later).sum(2) + ((dj >= di) & later.T).sum(2)
    rank = rank + total[:, None]
    rem0 = rem0.to(torch.int64)
    low, high = rank < 0, rank > d1 - 1
    rank = torch.where(low, rank + d1, torch.where(high, rank - d1, rank))
    rem0 = torch.where(low, rem0 + d1, torch.where(high, rem0 - d1, rem0))
    return rem0, rank


def _barycentric(elevated: torch.Tensor, rem0: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Barycentric weights (N, d+1) of each point on its simplex's vertices (sum to 1)."""
    n, d1 = elevated.shape
    d = d1 - 1
    v = (elevated - rem0.to(elevated.dtype)) / d1
    bary = elevated.new_zeros(n, d1 + 1)
    bary.scatter_add_(1, d - rank, v)
    bary.scatter_add_(1, d - rank + 1, -v)
    bary[:, 0] += 1.0 + bary[:, d1]
    return bary[:, :d1]


def _pack(keys: torch.Tensor, group: torch.Tensor, d1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One int64 code per (group, key); returns codes and each coordinate's step.

    Coordinates are offset so that neighbours (+-d in one coordinate, +-1 in the others) of
    every vertex stay in range: a neighbour's code is the vertex's plus a constant shift.
    """
    low = keys.min(0).values - d1
    span = keys.max(0).values + d1 - low + 1
    steps, total = [], 1
    for size in span.tolist():
        steps.append(total)
        total *= int(size)
    groups = int(group.max()) + 1 if group.numel() else 1
    if total * groups >= 2**62:
        raise ValueError("permutohedral lattice: the features span too many cells to index; "
                         "use larger standard deviations (fewer lattice cells)")
    step = torch.tensor(steps, dtype=torch.int64, device=keys.device)
    codes = ((keys - low) * step).sum(1) + group * total
    return codes, step
