"""Maps and logits must be finite: a NaN checkpoint (a diverged run) or an fp16 overflow gives
NaN logits and maps, which the store would otherwise keep as all-zero maps that score zero."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from wsol.errors import WeightsError


def require_finite(logits: torch.Tensor, maps: torch.Tensor | Sequence[torch.Tensor],
                   image_ids: Sequence[str], model: str, precision: str) -> None:
    """WeightsError naming ``model`` and the first image when ``logits`` (B, C) or any of
    ``maps`` (B, K, h, w), or a list of B (K_i, h, w), holds NaN or an infinity."""
    bad_logits = ~torch.isfinite(logits.detach()).all(dim=1)
    bad_maps = torch.tensor([not bool(torch.isfinite(m.detach()).all()) for m in maps],
                            device=bad_logits.device)
    bad = bad_logits | bad_maps
    if not bool(bad.any()):
        return
    first = int(torch.nonzero(bad)[0])
    what = "logits" if bool(bad_logits[first]) else "maps"
    hint = "" if precision == "fp32" else f", or set cam.precision=fp32 ({precision} overflowed?)"
    raise WeightsError(f"The model {model} gives non-finite {what} (NaN or infinity) for image "
                       f"{image_ids[first]!r} ({int(bad.sum())} of {len(image_ids)} in its "
                       f"batch): its weights are damaged or it overflows. No maps were written "
                       f"for them; retrain or point model.checkpoint at a healthy model{hint}.")
