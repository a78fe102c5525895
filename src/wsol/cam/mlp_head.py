"""Grad-CAM channel weights of a VGG-style head without autograd: pools, then Linear/ReLU layers.

Grad-CAM needs only the spatial mean of ∂y^c/∂A, not the gradient at every position. Between
the target layer and the first Linear, max pooling hands each output's gradient to exactly one
input and (adaptive) average pooling spreads it over inputs that sum to it, so the spatial sum
of ∂y^c/∂A per channel equals the sum of ∂y^c/∂x0 over that channel's block of the flattened
input x0 of the first Linear. With W1 of shape (H, D·q) that sum is g1 @ W1.view(H, D, q).sum(-1):
for VGG-16 a (K·B, 4096) × (4096, 512) product instead of the backward's (K·B, 4096) ×
(4096, 25088) — 49× fewer operations, and no autograd graph at all. The ReLU masks come from
re-running the head's own modules on the captured activations, which also checks, on the
first batch, that the head really is what the module list says.
"""

from __future__ import annotations

import torch
from torch import nn

from wsol.cam.head import leaves_after

# Each routes (max) or spreads (average) an output's gradient to inputs summing to it.
_MASS_PRESERVING_POOLS = (nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class MLPHead:
    """pools (applied to A), then ``layers``: Linear, (ReLU, Linear)*. Holds the modules.

    While :meth:`recording` is on, forward hooks keep the hidden Linears' outputs of the
    model's own forward pass, so the ReLU masks cost nothing and are the ones autograd would
    use; the pooled first-layer weights are computed once per weight version.
    """

    def __init__(self, pools: tuple[nn.Module, ...], layers: tuple[nn.Module, ...]) -> None:
        self.pools, self.layers = pools, layers
        self.linears = [m for m in layers if isinstance(m, nn.Linear)]
        self._recording = False
        self._hidden: list[torch.Tensor] = []
        self._handles: list = []
        self._pooled: tuple[tuple[int, int, int], torch.Tensor] | None = None

    def _keep(self, module: nn.Module, args, output: torch.Tensor) -> None:
        if self._recording:
            self._hidden.append(output.detach())

    def recording(self, on: bool) -> None:
        """Start (clearing what was kept) or stop keeping the hidden outputs."""
        self._recording = on
        if on:
            self._hidden = []

    def attach(self) -> None:
        """Hook the hidden Linears (see :meth:`recording`); :meth:`remove` undoes it."""
        if not self._handles:
            self._handles = [m.register_forward_hook(self._keep) for m in self.linears[:-1]]

    def remove(self) -> None:
        """Remove the forward hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @torch.no_grad()  # the captured activations may be inference tensors; nothing is learnt
    def _run(self, acts: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits (B, C), ReLU masks (B, H_i) after each hidden Linear) from A (B, D, h, w)."""
        x = acts.float()
        for pool in self.pools:
            x = pool(x)
        x = x.flatten(1)
        masks = []
        for layer in self.layers:
            if isinstance(layer, nn.ReLU):
                masks.append(x > 0)
                x = torch.relu(x)  # never in place: x may be a view the caller still reads
            else:
                x = nn.functional.linear(x, layer.weight.float(),
                                         None if layer.bias is None else layer.bias.float())
        return x, masks

    def _masks(self, acts: torch.Tensor) -> list[torch.Tensor]:
        """ReLU masks of this batch: from the model's forward when kept, else recomputed."""
        kept = self._hidden
        if len(kept) == len(self.linears) - 1 and all(h.shape[0] == acts.shape[0] for h in kept):
            return [h > 0 for h in kept]
        return self._run(acts)[1]

    def _pooled_first(self, channels: int) -> torch.Tensor:
        """(H_0, D): the first Linear's weights summed over each channel's spatial block."""
        weight = self.linears[0].weight
        stamp = (weight.data_ptr(), weight._version, channels)
        if self._pooled is None or self._pooled[0] != stamp:
            with torch.no_grad():
                pooled = weight.float().view(weight.shape[0], channels, -1).sum(-1)
            self._pooled = (stamp, pooled)
        return self._pooled[1]

    def logits(self, acts: torch.Tensor) -> torch.Tensor:
        """Recompute logits (B, C) in float32 from activations (B, D, h, w)."""
        return self._run(acts)[0]

    def matches(self, acts: torch.Tensor, logits: torch.Tensor, rtol: float) -> bool:
        """True if the model's logits equal this head's to ``rtol`` of their scale."""
        linears = self.linears
        if acts.dim() != 4 or logits.dim() != 2 or linears[-1].out_features != logits.shape[1]:
            return False
        if linears[0].in_features % acts.shape[1]:
            return False
        try:
            expected = self.logits(acts)
        except RuntimeError:  # shapes the module list does not explain
            return False
        if expected.shape != logits.shape:
            return False
        scale = expected.abs().max().item() + 1.0
        return bool((expected - logits.float()).abs().max().item() <= rtol * scale)

    @torch.no_grad()
    def gradcam_weights(self, acts: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """α (B, K, D): spatial mean of ∂y^c/∂A for class index[b, k], A (B, D, h, w)."""
        linears = self.linears
        pooled = self._pooled_first(acts.shape[1])  # (H_0, D)
        area = acts.shape[-2] * acts.shape[-1]
        if len(linears) == 1:
            return pooled[index] / area
        masks = self._masks(acts)  # masks[i]: after linears[i], (B, H_i)
        g = linears[-1].weight.detach().float()[index]  # (B, K, H): ∂y/∂(last Linear's input)
        for i in range(len(linears) - 2, -1, -1):
            g = g * masks[i][:, None, :].to(g.dtype)  # ∂y/∂(output of linears[i])
            if i > 0:
                g = g @ linears[i].weight.detach().float()  # ∂y/∂(input of linears[i])
        return (g @ pooled) / area


def find_mlp_head(model: nn.Module, layer_name: str) -> MLPHead | None:
    """Propose a pools + Linear/ReLU head after ``layer_name`` from the module registration order
    (torchvision VGG: features.30 max pool, avgpool, classifier), or None."""
    after = leaves_after(model, layer_name)
    pools = []
    while after and isinstance(after[0], _MASS_PRESERVING_POOLS):
        pools.append(after.pop(0))
    if any(isinstance(p, nn.MaxPool2d) and p.dilation not in (1, (1, 1)) for p in pools):
        return None
    if not after or len(after) % 2 == 0:
        return None
    for i, module in enumerate(after):
        expected = nn.Linear if i % 2 == 0 else nn.ReLU
        if type(module) is not expected:
            return None
    return MLPHead(tuple(pools), tuple(after))
