"""Faithfulness part of the evaluate stage (``eval.faithfulness``): deletion / insertion AUC and
Average Drop / Increase in Confidence of each method's maps, as ``faith/*`` keys.

Maps come from the engine for each method of ``eval.faith_methods`` (null: ``cam.method``),
single scale, at ``data.input_size`` square, for every ground-truth class of
``eval.faith_images`` images spread over ``data.cam_split``; a centred Gaussian scored the same
way (``faith/baseline/center/*``) says what a map that ignores the image gets. Images are taken
``cam.batch_size`` at a time; all maps of a batch come from one engine call.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from wsol.app.build import Run
from wsol.app.distributed import inference_device
from wsol.cam import GradCAM
from wsol.datasets.records import LabelledImages, spread_indices
from wsol.metrics import center_baseline_map
from wsol.metrics.faithfulness import FaithSettings, faithfulness_scores
from wsol.training.transforms import IMAGENET_MEAN, normalize, resize_image, to_chw_tensor

CENTER = "baseline/center"
# RISE blurs insertion's start image with sigma 5 px at 224 px; scaled to the input size.
RISE_SIGMA_AT_224 = 5.0


def faith_methods(run: Run) -> list[str]:
    """``eval.faith_methods``, or ``cam.method`` alone when it is null."""
    methods = run.config.eval.faith_methods
    return list(methods) if methods is not None else [run.config.cam.method]


def _pixel_batch(images: LabelledImages, indices: list[int], size: int) -> torch.Tensor:
    """(B, 3, S, S) float32 in [0, 1], resized as the cam stage resizes."""
    return torch.stack([to_chw_tensor(resize_image(images.image(i), size)).float() / 255.0
                        for i in indices])


def _pairs(images: LabelledImages, indices: list[int]) -> list[list[int]]:
    return [np.flatnonzero(images.labels[i]).tolist() for i in indices]


def faithfulness_metrics(run: Run, images: LabelledImages) -> dict[str, float]:
    """``faith/<method>/{deletion_auc, insertion_auc, avg_drop, avg_increase}`` in percent,
    for every method and the centre baseline, plus ``faith/pairs``."""
    cfg = run.config
    device = inference_device(cfg.trainer.accelerator)
    net, layer = run.classifier.load(run.class_names())
    net = net.to(device)
    size = cfg.data.input_size
    settings = FaithSettings(steps=cfg.eval.faith_steps,
                             blur_sigma=RISE_SIGMA_AT_224 * size / 224,
                             mean_colour=IMAGENET_MEAN, batch_size=cfg.cam.batch_size)

    def score(pixels: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.sigmoid(net(normalize(pixels * 255.0)).float())

    methods = faith_methods(run)
    engines = {m: GradCAM(net, layer, m) for m in methods}
    center = torch.from_numpy(center_baseline_map(size, size)).to(device)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    count = 0
    picked = spread_indices(len(images), cfg.eval.faith_images)
    step = cfg.cam.batch_size
    try:
        for lo in tqdm(range(0, len(picked), step), desc="faithfulness", unit="batch"):
            indices = picked[lo:lo + step]
            classes = _pairs(images, indices)
            owner = [k for k, cs in enumerate(classes) for _ in cs]
            if not owner:
                continue
            pixels = _pixel_batch(images, indices, size).to(device)
            pair_pixels = pixels[owner]
            pair_classes = torch.tensor([c for cs in classes for c in cs], device=device)
            maps = {m: _upsampled(engines[m](normalize(pixels * 255.0), classes=classes), size)
                    for m in methods}
            maps[CENTER] = center.expand(len(owner), size, size)
            for name, pair_maps in maps.items():
                scores = faithfulness_scores(score, pair_pixels, pair_maps, pair_classes,
                                             settings)
                for key, values in scores.items():
                    sums[name][key] += float(values.sum())
            count += len(owner)
    finally:
        for engine in engines.values():
            engine.close()
    return _metrics(sums, count)


def _upsampled(maps: list[torch.Tensor], size: int) -> torch.Tensor:
    """Per-image (K_i, h, w) maps -> (sum K_i, size, size), bilinear as the store upsamples."""
    stacked = torch.cat(list(maps)).float()[:, None]
    return F.interpolate(stacked, size=(size, size), mode="bilinear", align_corners=False)[:, 0]


def _metrics(sums: dict[str, dict[str, float]], count: int) -> dict[str, float]:
    out = {"faith/pairs": float(count)}
    names = {"deletion_auc": "deletion_auc", "insertion_auc": "insertion_auc",
             "drop": "avg_drop", "increase": "avg_increase"}
    for method, totals in sums.items():
        for key, name in names.items():
            out[f"faith/{method}/{name}"] = round(100.0 * totals[key] / max(count, 1), 2)
    return out
