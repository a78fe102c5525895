"""Which classes an image's stored maps are for, and which of them are the classifier's guesses.

``cam.classes``:

- ``gt``: the image's labelled classes;
- ``all``: every class;
- ``topk``: the ``cam.topk`` best-scored classes, best first, then each labelled class the
  classifier did not rank there. The ranked prefix gives the Grad-CAM paper's top-k
  localization error; the labelled classes give GT-known localization, MaxBoxAcc and PxAP over
  every labelled class. Without the extra maps, a class the classifier missed would silently
  drop out of those denominators and inflate them.

Whatever stands for a prediction (``boxes.json``, seeds, pseudo-labels, the top-k error) reads
the ranked prefix alone (:func:`predicted`); only the GT-known metrics read the extra maps.
"""

from __future__ import annotations

import numpy as np
import torch

from wsol.app.schema import CamConfig
from wsol.cam import CamStore
from wsol.errors import DataError


def topk_then_labelled(logits: torch.Tensor, labels: torch.Tensor, k: int) -> list[list[int]]:
    """Per image: its ``k`` best classes by ``logits`` (B, C), best first, then the classes
    ``labels`` (B, C) (multi-hot, > 0 = labelled) marks that are not among them, ascending."""
    ranked = logits.topk(min(int(k), logits.shape[1]), dim=1).indices.tolist()
    labelled = [torch.nonzero(row > 0).flatten().tolist() for row in labels]
    return [top + [c for c in gt if c not in top]
            for top, gt in zip(ranked, labelled, strict=True)]


def predicted(cams: np.ndarray, class_ids: np.ndarray, cam: CamConfig
              ) -> tuple[np.ndarray, np.ndarray]:
    """The maps (K', H, W) and classes (K',) that stand for the classifier's guesses: with
    ``cam.classes=topk`` the ranked first ``cam.topk`` of ``cams`` (K, H, W) / ``class_ids``
    (K,); every map otherwise."""
    if cam.classes != "topk":
        return cams, class_ids
    return cams[: cam.topk], class_ids[: cam.topk]


def check_map_classes(cam: CamConfig, store: CamStore, image_id: str, class_ids: np.ndarray,
                      labels: np.ndarray) -> None:
    """Raise DataError unless the stored ``class_ids`` (K,) are the ones ``cam`` makes for an
    image labelled ``labels`` (float32 (C,) multi-hot): exactly the labelled classes with
    ``gt``; with ``topk``, the labelled classes outside the ranked ones after them. Otherwise
    the annotations changed after the maps were made (or the maps predate the rule) and scoring
    them would pair maps with the wrong classes or skip labelled ones."""
    if cam.classes not in ("gt", "topk"):
        return
    wanted = np.flatnonzero(labels).tolist()
    stored = class_ids.tolist()
    if cam.classes == "gt":
        if sorted(stored) == wanted:
            return
        what = f"are for classes {sorted(stored)} but its annotation now lists {wanted}"
    else:
        ranked, extra = stored[: cam.topk], stored[cam.topk:]
        missing = [c for c in wanted if c not in ranked]
        if sorted(extra) == missing:
            return
        what = (f"hold the labelled classes {sorted(extra)} outside the top {cam.topk} but its "
                f"annotation lists {wanted} (maps made before the labelled classes were kept "
                f"with the top k, or the labels changed)")
    raise DataError(
        f"The maps of image {image_id!r} in {store.directory} {what}. Rerun the cam stage "
        f"(stages=[cam,...]; the cache key covers the labels, so it makes new maps), or with "
        f"cam.store_dir point it at a fresh folder.")
