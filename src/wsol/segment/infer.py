"""Test-time inference of the segmenter: multi-scale + flip softmax, optionally a dense CRF."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from wsol.pseudo.crf import CrfParams, DenseCrf, prob_unary
from wsol.training.transforms import normalize

T = TypeVar("T")
Segmenter = Callable[[torch.Tensor], torch.Tensor]  # images (B,3,H,W) -> logits (B,C,H,W)


@torch.no_grad()
def predict_probs(segmenter: Segmenter, images: np.ndarray, scales: Sequence[float] = (1.0,),
                  flip: bool = False, device: torch.device | str = "cpu") -> torch.Tensor:
    """Class probabilities (B, C, H, W) float32 on the CPU for images uint8 (B, H, W, 3).

    For each scale the images are resized (bilinear), run with their mirrors when ``flip``,
    each softmax resized back to (H, W) (bilinear) and un-mirrored; all are averaged.
    """
    b, h, w = images.shape[:3]
    x = normalize(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))
    x = x.to(device)
    total, count = None, 0
    for scale in scales:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        xs = x if size == (h, w) else F.interpolate(x, size=size, mode="bilinear",
                                                     align_corners=False)
        views = [xs, xs.flip(-1)] if flip else [xs]
        for v, view in enumerate(views):
            probs = torch.softmax(segmenter(view).float(), dim=1)
            probs = F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)
            probs = probs.flip(-1) if v else probs
            total = probs if total is None else total + probs
            count += 1
    return (total / count).cpu()


def predict_labels(segmenter: Segmenter, images: np.ndarray, scales: Sequence[float] = (1.0,),
                   flip: bool = False, crf: CrfParams | None = None,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Labels uint8 (B, H, W): the argmax of :func:`predict_probs`, each image's refined by a
    dense CRF on the image with unary -log p when ``crf`` is given (DeepLab's post-step)."""
    probs = predict_probs(segmenter, images, scales, flip, device)
    if crf is not None:
        refined = []
        for image, p in zip(images, probs, strict=True):
            model = DenseCrf(image, crf, device=device)
            refined.append(model.infer(prob_unary(p[None].to(model.device)))[0].cpu())
        probs = torch.stack(refined)
    return probs.argmax(1).numpy().astype(np.uint8)


def same_size_batches(images: Iterable[tuple[T, np.ndarray]],
                      batch_size: int) -> Iterator[tuple[list[T], np.ndarray]]:
    """``(keys, images (B, H, W, 3))`` runs of at most ``batch_size`` consecutive images of
    one size, in order, from ``(key, image)`` pairs."""
    keys: list[T] = []
    batch: list[np.ndarray] = []
    for key, image in images:
        if batch and (len(batch) == batch_size or batch[0].shape != image.shape):
            yield keys, np.stack(batch)
            keys, batch = [], []
        keys.append(key)
        batch.append(image)
    if batch:
        yield keys, np.stack(batch)
