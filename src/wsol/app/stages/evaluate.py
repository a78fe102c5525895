"""Evaluate stage: score the CAM store against the split's ground truth, every threshold in one
pass, streaming one image at a time.

Reads annotations and masks through the configured dataset (VOC, COCO, ImageNet), so every
format is scored the same way. Writes ``metrics.json`` (flat, slash-separated, percent unless
the key says threshold), ``curves.csv`` (``curve,threshold,value`` rows) and figures.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from wsol.app.context import RunContext, absolute_path, class_names, dataset
from wsol.app.stages.curves import write_curves
from wsol.app.stages.scoring import EvaluationSuite, finite_metrics
from wsol.cam import CamStore
from wsol.datasets.voc import check_mask_labels, read_voc_mask
from wsol.errors import DataError
from wsol.io.paths import confined_path
from wsol.metrics import LabelEvaluator
from wsol.viz import save_example_figures

log = logging.getLogger(__name__)


def evaluate_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Score the CAM store (and seeds) of this run; returns the metrics it wrote."""
    names = class_names(cfg)
    images = dataset(cfg, cfg.data.cam_split)
    store = CamStore(ctx.cam_dir, max_image_pixels=cfg.data.max_image_pixels)
    ids = scored_ids(images.ids, store, store.directory)  # cam_dir re-resolves on each access
    suite = EvaluationSuite(cfg, len(names))
    seeds_dir = absolute_path(cfg.eval.seeds_dir) if cfg.eval.get("seeds_dir") else None
    seed_seg = LabelEvaluator(len(names) + 1) if seeds_dir else None
    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    for image_id in tqdm(ids, desc="evaluate", unit="img"):
        index = index_of[image_id]
        cams, class_ids = store.read(image_id)
        check_map_classes(cfg, store, image_id, class_ids, images.labels[index])
        mask = images.mask(index)
        mask_path = str(images.mask_path(image_id)) if hasattr(images, "mask_path") else ""
        suite.add(image_id, cams, class_ids, images.annotations[index], mask, mask_path)
        if mask is not None and seed_seg is not None:
            seed = _read_seed(seeds_dir, image_id, len(names), cfg.data.max_image_pixels)
            if seed.shape != mask.shape:
                raise DataError(f"Seed {seeds_dir / image_id}.png is {seed.shape[1]}x"
                                f"{seed.shape[0]} but the ground truth of {image_id} is "
                                f"{mask.shape[1]}x{mask.shape[0]}; eval.seeds_dir must hold "
                                f"one label PNG per image at the image's size.")
            seed_seg.accumulate(seed, mask)
    metrics = suite.compute()
    metrics["eval/images"] = float(len(ids))
    # inputs the literature keeps rather than refuses, counted so a reader of the numbers knows
    metrics["data/clipped_boxes"] = float(getattr(images, "clipped_boxes", 0))
    metrics["data/dropped_empty_images"] = float(getattr(images, "dropped_empty", 0))
    if seed_seg is not None:
        seed_result = seed_seg.compute()
        metrics["seeds/miou"] = round(float(seed_result["miou"]), 2)
        metrics["seeds/coverage"] = round(float(seed_result["coverage"]), 2)
        metrics = finite_metrics(metrics)
    write_curves(ctx.curves_path, ctx.figures_dir, suite.cam_grid, suite.boxes.curves(),
                 suite.center.curves(), suite.bg_grid, suite.seg_curve())
    save_example_figures(ctx, cfg, store, images, names)
    return metrics


def check_map_classes(cfg: DictConfig, store: CamStore, image_id: str, class_ids: np.ndarray,
                      labels: np.ndarray) -> None:
    """With ``cam.classes=gt`` the stored maps must be for exactly the image's labelled classes
    (``labels`` float32 (C,) multi-hot); else the annotations changed after the maps were made
    and scoring them would pair maps with the wrong classes."""
    if cfg.cam.classes != "gt":
        return
    wanted = np.flatnonzero(labels).tolist()
    if sorted(class_ids.tolist()) != wanted:
        raise DataError(
            f"The maps of image {image_id!r} in {store.directory} are for classes "
            f"{sorted(class_ids.tolist())} but its annotation now lists {wanted}: the labels "
            f"changed after the maps were made. Rerun the cam stage (stages=[cam,...]; the "
            f"cache key covers the labels, so it makes new maps), or with cam.store_dir point "
            f"it at a fresh folder.")


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


def _read_seed(seeds_dir: Path, image_id: str, num_classes: int, max_pixels: int) -> np.ndarray:
    """One image's label PNG from ``eval.seeds_dir`` (0 background, k+1 class k, 255 unlabelled)."""
    path = confined_path(seeds_dir, image_id, "eval.seeds_dir", suffix=".png")
    if not path.is_file():
        raise DataError(f"eval.seeds_dir has no seed for {image_id}: {path} is missing. "
                        "Name the seeds <image_id>.png, one per scored image.")
    return check_mask_labels(read_voc_mask(path, max_pixels), num_classes, path)
