"""Fully connected CRF (Krähenbühl & Koltun, NIPS 2011) by mean-field inference, in torch.

Energy: unary U_i(l) plus Potts pairwise terms w_m [l_i != l_j] k_m(f_i, f_j) over every
pair of pixels, with two Gaussian kernels as in DeepLab and IRN:

- spatial:   k(i, j) = exp(-|p_i - p_j|^2 / (2 sxy^2))                     (smoothness)
- bilateral: k(i, j) = exp(-|p_i - p_j|^2 / (2 sxy^2) - |I_i - I_j|^2 / (2 srgb^2))  (edges)

Each kernel is normalised symmetrically, K~ = D^-1/2 K D^-1/2 with D = diag(K 1) (the self
term included), which is what pydensecrf's default ``NORMALIZE_SYMMETRIC`` computes, so IRN's
settings (``crf_inference_label``: 10 iterations, label confidence 0.7, spatial sxy 3 weight 3,
bilateral sxy 50 srgb 5 weight 10) mean the same here. One mean-field step is
``Q = softmax_l(-U + sum_m w_m K~_m Q)`` (the Potts message up to a per-pixel constant).

The spatial kernel is an exact separable convolution (truncated at 4 sxy); the bilateral one
is filtered on the permutohedral lattice (:mod:`wsol.pseudo.lattice`), or exactly in O(N^2)
(``bilateral="exact"``, for small images and tests). CPU or GPU: everything runs on the
image's device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from wsol.pseudo.lattice import PermutohedralLattice

Kernel = Callable[[torch.Tensor], torch.Tensor]  # (C, N) -> (C, N), linear


@dataclass(frozen=True)
class CrfParams:
    """Mean-field settings; the defaults are IRN's (``misc/imutils.crf_inference_label``)."""

    iterations: int = 10
    gt_prob: float = 0.7  # confidence of a given label in :func:`label_unary`
    spatial_sxy: float = 3.0
    spatial_compat: float = 3.0
    bilateral_sxy: float = 50.0
    bilateral_srgb: float = 5.0
    bilateral_compat: float = 10.0


def label_unary(labels: torch.Tensor, n_labels: int, gt_prob: float) -> torch.Tensor:
    """Unary energies (S, L, H, W) float32 from hard labels (S, H, W) in 0..L-1.

    The given label has probability ``gt_prob``, the other L - 1 share the rest
    (pydensecrf's ``unary_from_labels`` with ``zero_unsure=False``).
    """
    if not 0.0 < gt_prob < 1.0:
        raise ValueError(f"gt_prob must be in (0, 1), got {gt_prob}")
    if n_labels < 2:
        raise ValueError(f"n_labels must be >= 2, got {n_labels}")
    one_hot = F.one_hot(labels.long(), n_labels).permute(0, 3, 1, 2).to(torch.float32)
    sure, other = -math.log(gt_prob), -math.log((1.0 - gt_prob) / (n_labels - 1))
    return other + (sure - other) * one_hot


def prob_unary(probs: torch.Tensor, floor: float = 1e-8) -> torch.Tensor:
    """Unary energies ``-log p`` (same shape) from class probabilities (S, L, H, W)."""
    return -torch.log(probs.to(torch.float32).clamp_min(floor))


def gaussian_kernel_1d(sigma: float, device: torch.device) -> torch.Tensor:
    """exp(-x^2 / (2 sigma^2)) for x in [-r, r], r = ceil(4 sigma): (2r+1,) float32."""
    radius = max(1, math.ceil(4.0 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    return torch.exp(-(x * x) / (2.0 * sigma * sigma))


def spatial_kernel(height: int, width: int, sxy: float, device: torch.device) -> Kernel:
    """The spatial Gaussian as a separable convolution with zero padding (exact up to the
    4-sigma truncation) over (C, H*W) values."""
    g = gaussian_kernel_1d(sxy, device)
    r = (g.numel() - 1) // 2

    def apply(values: torch.Tensor) -> torch.Tensor:
        c = values.shape[0]
        x = values.reshape(c, 1, height, width)
        x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, r))
        x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(r, 0))
        return x.reshape(c, height * width)

    return apply


def bilateral_features(image: torch.Tensor, sxy: float, srgb: float) -> torch.Tensor:
    """Per-pixel features (H*W, 5): x / sxy, y / sxy, r / srgb, g / srgb, b / srgb.

    image: (H, W, 3), 0..255.
    """
    h, w, _ = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device),
                            torch.arange(w, device=image.device), indexing="ij")
    pos = torch.stack([xs, ys], -1).to(torch.float32) / sxy
    return torch.cat([pos, image.to(torch.float32) / srgb], -1).reshape(h * w, 5)


def exact_kernel(features: torch.Tensor, chunk: int = 2048) -> Kernel:
    """exp(-|f_i - f_j|^2 / 2) applied exactly, O(N^2) in row chunks (small images only)."""

    def apply(values: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, features.shape[0], chunk):
            rows = features[start:start + chunk]
            weights = torch.exp(-0.5 * torch.cdist(rows, features).square())
            out.append(values @ weights.T)
        return torch.cat(out, 1)

    return apply


def normalised(kernel: Kernel, n: int, device: torch.device) -> Kernel:
    """Symmetric normalisation D^-1/2 K D^-1/2 of a kernel over n points."""
    norm = torch.rsqrt(kernel(torch.ones(1, n, device=device)) + 1e-20)

    def apply(values: torch.Tensor) -> torch.Tensor:
        return kernel(values * norm) * norm

    return apply


def mean_field(unary: torch.Tensor, kernels: Sequence[tuple[float, Kernel]],
               iterations: int) -> torch.Tensor:
    """Mean-field marginals (S, L, N) for unaries (S, L, N) of S problems sharing kernels.

    Q starts at softmax(-U); each of ``iterations`` steps sets
    Q = softmax(-U + sum_m w_m K_m Q) with every kernel applied to all S*L planes at once.
    """
    s, labels, n = unary.shape
    q = torch.softmax(-unary, dim=1)
    for _ in range(int(iterations)):
        message = torch.zeros_like(unary)
        flat = q.reshape(s * labels, n)
        for weight, kernel in kernels:
            message += weight * kernel(flat).reshape(s, labels, n)
        q = torch.softmax(message - unary, dim=1)
    return q


class DenseCrf:
    """The CRF of one image (H, W, 3) uint8; :meth:`infer` solves any number of unaries."""

    def __init__(self, image: np.ndarray | torch.Tensor, params: CrfParams,
                 device: torch.device | str = "cpu", bilateral: str = "lattice") -> None:
        img = torch.as_tensor(np.ascontiguousarray(image), device=device)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image: expected (H, W, 3), got {tuple(img.shape)}")
        self.params = params
        self.height, self.width = int(img.shape[0]), int(img.shape[1])
        n = self.height * self.width
        self.device = device = img.device
        features = bilateral_features(img, params.bilateral_sxy, params.bilateral_srgb)
        if bilateral == "lattice":
            raw = PermutohedralLattice(features).filter
        elif bilateral == "exact":
            raw = exact_kernel(features)
        else:
            raise ValueError(f"bilateral: 'lattice' or 'exact', got {bilateral!r}")
        self.kernels = [
            (params.spatial_compat, normalised(
                spatial_kernel(self.height, self.width, params.spatial_sxy, device), n, device)),
            (params.bilateral_compat, normalised(raw, n, device)),
        ]

    def infer(self, unary: torch.Tensor) -> torch.Tensor:
        """Marginals (S, L, H, W) float32 for unary energies (S, L, H, W)."""
        s, labels, h, w = unary.shape
        if (h, w) != (self.height, self.width):
            raise ValueError(f"unary is {h}x{w}, the image {self.height}x{self.width}")
        flat = unary.to(device=self.device, dtype=torch.float32).reshape(s, labels, h * w)
        return mean_field(flat, self.kernels, self.params.iterations).reshape(s, labels, h, w)

    def refine_labels(self, labels: np.ndarray | torch.Tensor, n_labels: int) -> np.ndarray:
        """IRN's ``crf_inference_label``: hard labels (S, H, W) in 0..n_labels-1 -> the
        argmax of the marginals, (S, H, W) int64."""
        lab = torch.as_tensor(np.asarray(labels), device=self.device)
        unary = label_unary(lab, n_labels, self.params.gt_prob)
        return self.infer(unary).argmax(1).cpu().numpy()
