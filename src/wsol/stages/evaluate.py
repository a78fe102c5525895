"""Evaluate stage: score boxes and seeds against the ground truth, every threshold in one pass.

Localization is scored per (image, ground-truth class) pair: the class's map against the boxes
of that class (for single-object datasets this is the usual per-image protocol). Writes
``metrics.json`` (flat, slash-separated, percent unless the key says threshold), ``curves.csv``
(``curve,threshold,value`` rows) and figures.
"""

from __future__ import annotations

import logging

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from wsol.cam import CamStore
from wsol.data.voc import read_voc_mask, read_voc_xml
from wsol.errors import DataError
from wsol.localize import box_from_protocol, check_thresholds, normalize_scoremap, threshold_grid
from wsol.metrics import (
    BoxEvaluator,
    LabelEvaluator,
    PxAPEvaluator,
    SegEvaluator,
    box_iou,
    center_baseline_map,
)
from wsol.stages.context import RunContext, absolute_path, class_names, data_root
from wsol.stages.curves import write_curves
from wsol.viz import save_example_figures

log = logging.getLogger(__name__)


def sweep_grid(explicit, step: float, key: str, must_include: float | None = None) -> np.ndarray:
    """The thresholds of one sweep: ``explicit`` (a list) if set, else ``arange(0, 1, step)``
    as wsolevaluation builds it; ``must_include`` (the single-threshold setting) is added."""
    grid = check_thresholds(list(explicit), key) if explicit is not None else \
        threshold_grid(step, key=key.replace("thresholds", "threshold_step"))
    if must_include is not None and not np.isclose(grid, must_include).any():
        grid = np.sort(np.append(grid, check_thresholds([must_include], key)))
    return grid


def _class_mask(mask: np.ndarray, class_id: int) -> np.ndarray:
    """Binary GT for one class: 1 on the class, 0 elsewhere, 255 where the GT says ignore."""
    out = (mask == class_id + 1).astype(np.uint8)
    out[mask == 255] = 255
    return out


def evaluate_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Score the CAM store (and seeds) of this run; returns the metrics it wrote."""
    names = class_names(cfg)
    root = data_root(cfg)
    store = CamStore(ctx.cam_dir)
    ids = store.ids()
    if not ids:
        raise DataError(f"No CAMs in {ctx.cam_dir}; run the cam stage first (stages=[cam,...]).")
    ev = cfg.eval
    cam_grid = sweep_grid(ev.get("cam_thresholds"), ev.cam_threshold_step, "eval.cam_thresholds")
    bg_grid = sweep_grid(ev.get("bg_thresholds"), ev.bg_threshold_step, "eval.bg_thresholds",
                         must_include=ev.bg_threshold)
    boxes = BoxEvaluator(cam_grid, iou_thresholds=tuple(ev.iou_thresholds),
                         multi_contour=ev.multi_contour)
    center = BoxEvaluator(cam_grid, iou_thresholds=tuple(ev.iou_thresholds),
                          multi_contour=ev.multi_contour)
    pxap = PxAPEvaluator(cam_grid)
    seg = SegEvaluator(len(names) + 1, bg_grid)
    seeds_dir = absolute_path(ev.seeds_dir) if ev.get("seeds_dir") else None
    seed_seg = LabelEvaluator(len(names) + 1) if seeds_dir else None
    protocol_ious: list[float] = []
    has_masks = False
    for image_id in tqdm(ids, desc="evaluate", unit="img"):
        cams, class_ids = store.read(image_id)
        gt_boxes, gt_labels, _, _ = read_voc_xml(root / "Annotations" / f"{image_id}.xml", names)
        mask_path = root / "SegmentationClass" / f"{image_id}.png"
        mask = read_voc_mask(mask_path) if mask_path.is_file() else None
        center_map = center_baseline_map(*cams.shape[-2:])  # once per image, not per class
        for cam, class_id in zip(cams, class_ids.tolist(), strict=True):
            class_boxes = gt_boxes[gt_labels == class_id]
            if len(class_boxes) == 0:
                continue  # a predicted (top-k / all) class that is not in the image
            score_map = normalize_scoremap(cam)
            boxes.accumulate(score_map, class_boxes)
            center.accumulate(center_map, class_boxes)
            box = box_from_protocol(cam, ev.box_protocol, threshold=ev.box_threshold)
            protocol_ious.append(float(box_iou(box[None], class_boxes).max()))
            if mask is not None:
                pxap.accumulate(score_map, _class_mask(mask, class_id))
        if mask is not None:
            has_masks = True
            seg.accumulate(cams, class_ids, mask)
            if seed_seg is not None:
                seed_seg.accumulate(_read_seed(seeds_dir, image_id), mask)
    metrics = _collect(cfg, boxes, center, pxap, seg if has_masks else None, protocol_ious)
    if seed_seg is not None:
        seed_result = seed_seg.compute()
        metrics["seeds/miou"] = round(float(seed_result["miou"]), 2)
        metrics["seeds/coverage"] = round(float(seed_result["coverage"]), 2)
    write_curves(ctx.curves_path, ctx.figures_dir, cam_grid, boxes.curves(), center.curves(),
                 bg_grid, seg.compute()["miou_per_threshold"] if has_masks else None)
    save_example_figures(ctx, cfg, store, root, names)
    return metrics


def _read_seed(seeds_dir, image_id: str) -> np.ndarray:
    """One image's label PNG from ``eval.seeds_dir`` (0 background, k+1 class k, 255 unlabelled)."""
    path = seeds_dir / f"{image_id}.png"
    if not path.is_file():
        raise DataError(f"eval.seeds_dir has no seed for {image_id}: {path} is missing. "
                        "Name the seeds <image_id>.png, one per scored image.")
    return read_voc_mask(path)


def _collect(cfg, boxes, center, pxap, seg, protocol_ious) -> dict[str, float]:
    box_result = boxes.compute()
    metrics = {
        "loc/gt_known": 100.0 * float(np.mean(np.asarray(protocol_ious) >= 0.5)),
        "loc/mean_iou": 100.0 * float(np.mean(protocol_ious)),
        "loc/maxboxacc": box_result["maxboxacc@50"],
        "loc/best_threshold": box_result["best_threshold@50"],
        "loc/maxboxacc_v2": box_result["maxboxacc_v2"],
        "baseline/center/maxboxacc": center.compute()["maxboxacc@50"],
        "loc/pairs": float(len(protocol_ious)),
    }
    for delta in cfg.eval.iou_thresholds:
        metrics[f"loc/maxboxacc@{delta}"] = box_result[f"maxboxacc@{delta}"]
    if seg is not None:
        seg_result = seg.compute()
        metrics.update({
            "loc/pxap": pxap.compute()["pxap"],
            "seg/miou": seg.miou_at(cfg.eval.bg_threshold),
            "seg/miou_best": seg_result["miou_best"],
            "seg/best_threshold": seg_result["best_threshold"],
        })
    return {k: round(float(v), 4 if "threshold" in k else 2) for k, v in metrics.items()}
