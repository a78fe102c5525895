"""The gradient-CAM family as one registry: each method is one :class:`CamMethod` entry.

Shapes: activations A (B, D, S) with S the flattened spatial size; gradients G (B, K, D, S) of
class score y^c (pre-softmax) w.r.t. A, or (B, K, D, 1) when the gradient is the same at every
position (GAP + Linear head: G = W_c / S). Every weighting returns maps (B, K, S) in A's dtype
before the final ReLU (:func:`cam_maps` applies it), not normalised.

- gradcam      (Selvaraju et al. 2017): w_k = mean_ij G_kij;              M = ReLU(Σ_k w_k A_k)
- gradcam++    (Chattopadhay et al. 2018, eq. 19 with Y = exp(S)):
               a_kij = G² / (2 G² + Σ_ab A_kab · G³) (0 where the denominator is 0),
               w_k = Σ_ij a_kij ReLU(G_kij);                               M = ReLU(Σ_k w_k A_k)
               (∂Y/∂A = exp(S^c) ∂S/∂A; the positive factor exp(S^c) scales each class map as a
               whole and is dropped, as reference implementations do, to avoid overflow.)
- gradcam++lib pytorch-grad-cam's variant of the above: 1e-6 added to the denominator of a_kij
               (and a_kij = 0 where G = 0). With tiny gradients the two differ visibly.
- xgradcam     (Fu et al. 2020): w_k = Σ_ij (A_kij / Σ_ab A_kab) G_kij (0 if Σ A_k = 0)
- hirescam     (Draelos & Carin 2020): M = ReLU(Σ_k G_k ⊙ A_k)
- layercam     (Jiang et al. 2021):   M = ReLU(Σ_k ReLU(G_k) ⊙ A_k)
- cam          (Zhou et al. 2016):    M = ReLU(Σ_k W_ck A_k); G holds the classifier rows W_c

Scale fairness (``positions_power``): on a GAP + Linear head G = W_c / S, so the maps of
gradcam, xgradcam, hirescam and layercam shrink as 1/S when the same content is seen at a larger
scale, while gradcam++ (its α cancels the 1/S) and cam do not depend on S. Multiplying a map by
S ** positions_power makes it independent of the feature-map size (gradcam · S = ReLU(W_c · A),
IRN's CAM exactly); the multi-scale TTA does this before summing scales (see tta.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from wsol.errors import ConfigError

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class CamMethod:
    """One CAM method.

    weighting: (A (B, D, S), G (B, K, D, S or 1)) -> maps (B, K, S) before the final ReLU.
    needs_gradients: False when G is the classifier's rows, not a gradient (cam): no autograd
        path exists and a GAP + Linear head is required.
    closed_forms: the head kinds whose G is known without a backward pass: "linear" (GAP +
        Linear: G = W_c / S, or W_c itself without gradients) and "mlp" (pools + Linear/ReLU
        layers: only the spatial mean of G is known, enough for gradcam).
    positions_power: the exponent p of S ** p that makes the map independent of the feature
        map's size S (see the module docstring).
    """

    name: str
    weighting: Weighting
    needs_gradients: bool = True
    closed_forms: frozenset[str] = frozenset({"linear"})
    positions_power: int = 1


def _gradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return _weighted_sum(g.mean(-1, keepdim=True), a)


def _per_position(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return _weighted_sum(g, a)


def _plusplus(eps: float) -> Weighting:
    def weighting(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g2 = g * g
        denom = 2 * g2 + a.sum(-1)[:, None, :, None] * g2 * g + eps
        if eps:  # pytorch-grad-cam: a_kij = 0 where the gradient is 0
            alpha = torch.where(g != 0, g2 / torch.where(denom != 0, denom, 1), 0)
        else:  # the paper's equation: 0 where the denominator vanishes
            alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, 1), 0)
        weights = _spatial_sum(alpha * F.relu(g), a.shape[-1])
        return _weighted_sum(weights[..., None], a)

    return weighting


def _xgradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    sum_a = a.sum(-1)[:, None, :]  # (B, 1, D)
    num = g[..., 0] * sum_a if g.shape[-1] == 1 else torch.einsum("bkds,bds->bkd", g, a)
    weights = torch.where(sum_a != 0, num / torch.where(sum_a != 0, sum_a, 1), 0)
    return _weighted_sum(weights[..., None], a)


def _layercam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return _weighted_sum(F.relu(g), a)


METHODS: dict[str, CamMethod] = {m.name: m for m in (
    CamMethod("gradcam", _gradcam, closed_forms=frozenset({"linear", "mlp"})),
    CamMethod("gradcam++", _plusplus(0.0), positions_power=0),
    CamMethod("gradcam++lib", _plusplus(1e-6), positions_power=0),
    CamMethod("xgradcam", _xgradcam),
    CamMethod("hirescam", _per_position),
    CamMethod("layercam", _layercam),
    CamMethod("cam", _per_position, needs_gradients=False, positions_power=0),
)}


def check_method(method: str) -> str:
    """Return the canonical method name or raise ConfigError listing the valid ones."""
    name = str(method).lower().replace("_", "").replace("-", "").replace("pp", "++")
    if name not in METHODS:
        raise ConfigError(f"cam.method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    return name


def get_method(method: str) -> CamMethod:
    """The registry entry of ``method`` (any accepted spelling); ConfigError if unknown."""
    return METHODS[check_method(method)]


def cam_maps(method: str | CamMethod, activations: torch.Tensor, grads: torch.Tensor,
             relu: bool = True) -> torch.Tensor:
    """Maps (B, K, S) for ``method`` from A (B, D, S) and G (B, K, D, S) or (B, K, D, 1):
    >= 0 with ``relu`` (every paper's map), else the weighted sum before the ReLU (the raw CAM
    wsolevaluation min-max normalises)."""
    spec = method if isinstance(method, CamMethod) else get_method(method)
    maps = spec.weighting(activations, grads)
    return F.relu(maps) if relu else maps


def _weighted_sum(weights: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Σ_d weights[b,k,d,s] · a[b,d,s] -> (B, K, S); weights may have s of size 1 (constant)."""
    if weights.shape[-1] == 1:
        return torch.einsum("bkd,bds->bks", weights[..., 0], a)
    return torch.einsum("bkds,bds->bks", weights, a)


def _spatial_sum(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sum over the last (spatial) axis of size ``size``, where x may hold it as a broadcast 1."""
    if x.shape[-1] == 1 and size != 1:
        return x[..., 0] * size
    return x.sum(-1)
