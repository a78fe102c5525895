"""Evaluate stage: score the CAM store against the split's ground truth, every threshold in one
pass, streaming one image at a time.

Reads annotations and masks through the configured dataset (VOC, COCO, ImageNet), so every
format is scored the same way. Writes ``metrics.json`` (flat, slash-separated, percent unless
the key says threshold), ``curves.csv`` (``curve,threshold,value`` rows) and figures.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from wsol.app.context import RunContext, absolute_path, class_names, dataset
from wsol.app.stages.curves import write_curves
from wsol.app.stages.scoring import EvaluationSuite, score_size
from wsol.cam import CamStore
from wsol.datasets.voc import read_voc_mask
from wsol.errors import DataError
from wsol.metrics import LabelEvaluator
from wsol.viz import save_example_figures

log = logging.getLogger(__name__)


def evaluate_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Score the CAM store (and seeds) of this run; returns the metrics it wrote."""
    names = class_names(cfg)
    images = dataset(cfg, cfg.data.cam_split)
    store = CamStore(ctx.cam_dir)
    ids = scored_ids(images.ids, store, store.directory)  # cam_dir re-resolves on each access
    suite = EvaluationSuite(cfg, len(names))
    seeds_dir = absolute_path(cfg.eval.seeds_dir) if cfg.eval.get("seeds_dir") else None
    seed_seg = LabelEvaluator(len(names) + 1) if seeds_dir else None
    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    size = score_size(cfg)
    for image_id in tqdm(ids, desc="evaluate", unit="img"):
        index = index_of[image_id]
        stored = store.read_levels(image_id)
        cams, class_ids, ann = stored.compose(size), stored.class_ids, images.annotations[index]
        mask = scored_mask = images.mask(index)
        mask_path = str(images.mask_path(image_id)) if hasattr(images, "mask_path") else ""
        if size is not None:  # wsolevaluation: maps, boxes and masks all on an N x N grid
            ann = ann.rescaled(stored.image_size, size)
            if mask is not None:
                scored_mask = cv2.resize(mask, size[::-1], interpolation=cv2.INTER_NEAREST)
        suite.add(image_id, cams, class_ids, ann, scored_mask, mask_path)
        if mask is not None and seed_seg is not None:
            seed_seg.accumulate(_read_seed(seeds_dir, image_id), mask)
    metrics = suite.compute()
    metrics["eval/images"] = float(len(ids))
    # inputs the literature keeps rather than refuses, counted so a reader of the numbers knows
    metrics["data/clipped_boxes"] = float(getattr(images, "clipped_boxes", 0))
    metrics["data/dropped_empty_images"] = float(getattr(images, "dropped_empty", 0))
    metrics["data/blacklisted_images"] = float(getattr(images, "blacklisted", 0))  # ILSVRC
    if seed_seg is not None:
        seed_result = seed_seg.compute()
        metrics["seeds/miou"] = round(float(seed_result["miou"]), 2)
        metrics["seeds/coverage"] = round(float(seed_result["coverage"]), 2)
    write_curves(ctx.curves_path, ctx.figures_dir, suite.cam_grid, suite.boxes.curves(),
                 suite.center.curves(), suite.bg_grid, suite.seg_curve())
    save_example_figures(ctx, cfg, store, images, names)
    return metrics


def scored_ids(split_ids: list[str], store: CamStore, cam_dir: Path) -> list[str]:
    """The split's ids, in split order; every one must have maps (no silent partial scores)."""
    stored = set(store.ids())
    missing = [i for i in split_ids if i not in stored]
    if len(missing) == len(split_ids):
        raise DataError(f"No CAMs for this split in {cam_dir}; run the cam stage first "
                        f"(stages=[cam,...]).")
    if missing:
        raise DataError(
            f"{len(missing)} of {len(split_ids)} images of the split have no CAMs in {cam_dir} "
            f"(e.g. {missing[0]!r}): the cam stage did not finish. Run it again with the same "
            f"settings; it resumes where it stopped."
        )
    return list(split_ids)


def _read_seed(seeds_dir: Path, image_id: str) -> np.ndarray:
    """One image's label PNG from ``eval.seeds_dir`` (0 background, k+1 class k, 255 unlabelled)."""
    path = seeds_dir / f"{image_id}.png"
    if not path.is_file():
        raise DataError(f"eval.seeds_dir has no seed for {image_id}: {path} is missing. "
                        "Name the seeds <image_id>.png, one per scored image.")
    return read_voc_mask(path)
