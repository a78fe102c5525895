"""Channel weightings of the gradient-CAM family, all from one set of activations and gradients.

Shapes: activations A (B, D, S) with S the flattened spatial size; gradients G (B, K, D, S) of
class score y^c (pre-softmax) w.r.t. A, or (B, K, D, 1) when the gradient is the same at every
position (GAP + Linear head: G = W_c / S). Every method returns ReLU'd maps (B, K, S) in A's
dtype, not normalised.

- gradcam   (Selvaraju et al. 2017): w_k = mean_ij G_kij;                 M = ReLU(Σ_k w_k A_k)
- gradcam++ (Chattopadhay et al. 2018, eq. 19 with Y = exp(S)):
            a_kij = G² / (2 G² + Σ_ab A_kab · G³) (0 where the denominator is 0),
            w_k = Σ_ij a_kij ReLU(G_kij);                                  M = ReLU(Σ_k w_k A_k)
            (∂Y/∂A = exp(S^c) ∂S/∂A; the positive factor exp(S^c) scales each class map as a
            whole and is dropped, as reference implementations do, to avoid overflow.)
- xgradcam  (Fu et al. 2020): w_k = Σ_ij (A_kij / Σ_ab A_kab) G_kij (0 if Σ A_k = 0)
- hirescam  (Draelos & Carin 2020): M = ReLU(Σ_k G_k ⊙ A_k)
- layercam  (Jiang et al. 2021):   M = ReLU(Σ_k ReLU(G_k) ⊙ A_k)
- cam       (Zhou et al. 2016):    M = ReLU(Σ_k W_ck A_k); G holds the classifier rows W_c
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wsol.errors import ConfigError

METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "cam")


def check_method(method: str) -> str:
    """Return the canonical method name or raise ConfigError listing the valid ones."""
    name = method.lower().replace("_", "").replace("-", "").replace("pp", "++")
    if name not in METHODS:
        raise ConfigError(f"cam.method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    return name


def cam_maps(method: str, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Maps (B, K, S) >= 0 for ``method`` from A (B, D, S) and G (B, K, D, S) or (B, K, D, 1)."""
    a, g = activations, grads
    if method in ("gradcam",):
        maps = _weighted_sum(g.mean(-1, keepdim=True), a)
    elif method == "cam":
        maps = _weighted_sum(g, a)
    elif method == "gradcam++":
        g2 = g * g
        denom = 2 * g2 + a.sum(-1)[:, None, :, None] * g2 * g
        alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, 1), 0)
        weights = _spatial_sum(alpha * F.relu(g), a.shape[-1])
        maps = _weighted_sum(weights[..., None], a)
    elif method == "xgradcam":
        sum_a = a.sum(-1)[:, None, :]  # (B, 1, D)
        if g.shape[-1] == 1:
            num = g[..., 0] * sum_a
        else:
            num = torch.einsum("bkds,bds->bkd", g, a)
        weights = torch.where(sum_a != 0, num / torch.where(sum_a != 0, sum_a, 1), 0)
        maps = _weighted_sum(weights[..., None], a)
    elif method == "hirescam":
        maps = _weighted_sum(g, a)
    elif method == "layercam":
        maps = _weighted_sum(F.relu(g), a)
    else:
        raise ConfigError(f"cam.method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    return F.relu(maps)


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
