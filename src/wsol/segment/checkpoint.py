"""The segmenter file the segment stage writes: tensors and plain metadata only."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsol.errors import WeightsError
from wsol.io.atomic import atomic_write_with

FORMAT = "wsol-segmenter-v1"


def save_segmenter(path: Path, net: nn.Module, meta: dict[str, Any]) -> None:
    """Write ``net``'s weights and JSON-like ``meta`` atomically."""
    payload = {"format": FORMAT, "meta": meta,
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    atomic_write_with(Path(path), lambda handle: torch.save(payload, handle))


def load_segmenter(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, meta)`` of a file :func:`save_segmenter` wrote (``weights_only``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not our file"
        raise WeightsError(f"{path} is not a wsol segmenter ({type(err).__name__}); delete it "
                           "and rerun the segment stage.") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a wsol segmenter; delete it and rerun the segment "
                           "stage.")
    return payload["state_dict"], payload["meta"]
