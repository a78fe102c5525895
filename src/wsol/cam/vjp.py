"""Gradients of many class scores w.r.t. the hooked activation in one batched backward.

For K requested classes, the K vector-Jacobian products y^c -> A are run together by
``torch.autograd.grad(..., is_grads_batched=True)`` (vmap over the one-hot grad_outputs), so the
head's backward runs once with K-fold batched matmuls instead of K times. Classes are split into
chunks only when the gradient tensor (K, B, *A) would not fit ``max_bytes``; ops without a vmap
rule fall back to one VJP per class on the same graph (retain_graph), which is still head-only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch


def one_hot_rows(index: torch.Tensor, valid: torch.Tensor, num_classes: int) -> torch.Tensor:
    """grad_outputs (K, B, C): row k of image b selects class index[b, k] where valid[b, k]."""
    b, k = index.shape
    rows = torch.zeros(k, b, num_classes, device=index.device)
    rows.scatter_(2, index.t().unsqueeze(-1), valid.t().unsqueeze(-1).to(rows.dtype))
    return rows


class HeadVJP:
    """Yields (k0, k1, grads (k1-k0, B, *A)) for the rows of ``grad_outputs``, chunked by memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.batched_ok = True  # becomes False once vmap fails for an op in the head

    def chunks(
        self, logits: torch.Tensor, leaf: torch.Tensor, grad_outputs: torch.Tensor
    ) -> Iterator[tuple[int, int, torch.Tensor]]:
        total = grad_outputs.shape[0]
        # Gradient plus the methods' temporaries of the same size, in float32.
        per_row = max(1, leaf.numel() * 4 * 3)
        size = max(1, min(total, self.max_bytes // per_row))
        k0 = 0
        while k0 < total:
            k1 = min(total, k0 + size)
            try:
                grads = self._vjp(logits, leaf, grad_outputs[k0:k1].to(logits.dtype))
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                continue
            yield k0, k1, grads
            k0 = k1

    def _vjp(self, logits: torch.Tensor, leaf: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if self.batched_ok and rows.shape[0] > 1:
            try:
                (grads,) = torch.autograd.grad(
                    logits, leaf, rows, retain_graph=True, is_grads_batched=True
                )
                return grads
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as exc:  # an op of the head has no batching rule
                self.batched_ok = False
                warnings.warn(
                    f"batched head backward failed ({str(exc).splitlines()[0]}); "
                    "falling back to one head backward per class",
                    RuntimeWarning,
                    stacklevel=3,
                )
        out = [
            torch.autograd.grad(logits, leaf, row, retain_graph=True)[0] for row in rows.unbind(0)
        ]
        return torch.stack(out)
