"""Refiners of seed label maps, by name (``pseudo.refiner``).

A refiner takes one image's :class:`RefineInput` and seed maps in the image's local label
space (0 background, l for its l-th class, l = 1..K) and returns maps of the same shape. IRN
refines each of its two seeds with a dense CRF; a learned refiner (IRN's inter-pixel
relations, AffinityNet's random walk, which start from the CAMs) is one more entry in
:data:`REFINERS`, built from the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wsol.errors import ConfigError
from wsol.pseudo.crf import CrfParams, DenseCrf


@dataclass(frozen=True)
class RefineInput:
    """One image: uint8 (H, W, 3), its class maps float32 (K, H, W) in [0, 1] and their
    0-based classes (K,)."""

    image: np.ndarray
    cams: np.ndarray
    class_ids: np.ndarray


# (input, seeds int64 (S, H, W) in 0..K) -> refined (S, H, W) in 0..K
Refiner = Callable[[RefineInput, np.ndarray], np.ndarray]


def _no_refiner(params: CrfParams, device: str) -> Refiner:
    return lambda item, seeds: seeds


def _crf_refiner(params: CrfParams, device: str) -> Refiner:
    def refine(item: RefineInput, seeds: np.ndarray) -> np.ndarray:
        labels = len(item.class_ids) + 1
        if labels < 2:
            return seeds
        return DenseCrf(item.image, params, device=device).refine_labels(seeds, labels)

    return refine


# name -> factory(crf settings, torch device) -> Refiner
REFINERS: dict[str, Callable[[CrfParams, str], Refiner]] = {
    "none": _no_refiner,
    "crf": _crf_refiner,
}


def make_refiner(name: str, params: CrfParams, device: str = "cpu") -> Refiner:
    """The refiner registered as ``name``; ConfigError listing the names otherwise."""
    if name not in REFINERS:
        raise ConfigError(f"pseudo.refiner={name!r} is not a refiner; use one of "
                          f"{sorted(REFINERS)}.")
    return REFINERS[name](params, device)
