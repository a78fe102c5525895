"""Evaluate stage: score the CAM store against the split's ground truth, every threshold in one
pass, streaming one image at a time; and/or a folder of label PNGs (``eval.seeds_dir``).

Reads annotations and masks through the configured dataset (VOC, COCO, ImageNet), so every
format is scored the same way. Writes ``metrics.json`` (flat, slash-separated, percent unless
the key says threshold), ``curves.csv`` (``curve,threshold,value`` rows), figures, and for the
report ``per_class.json`` (per-class box accuracy, PxAP, seed IoU) and ``per_pair.csv`` (one row
per scored image and class, see :mod:`wsol.app.stages.pairs`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wsol.app.build import Run, absolute_path
from wsol.app.cam_cache import store_for_reading
from wsol.app.stages.curves import write_curves
from wsol.app.stages.pairs import PairLog
from wsol.app.stages.scoring import EvaluationSuite
from wsol.cam import CamStore
from wsol.datasets.records import LabelledImages
from wsol.datasets.voc import read_voc_mask
from wsol.errors import DataError
from wsol.io.atomic import atomic_write_json
from wsol.metrics import LabelEvaluator
from wsol.viz import save_example_figures

log = logging.getLogger(__name__)


def evaluate_stage(run: Run) -> dict[str, float]:
    """Score the CAM store (and ``eval.seeds_dir``) of this run; returns the metrics it wrote.

    With ``eval.seeds_dir`` and no maps for this configuration, only the label PNGs are scored
    (scoring another method's pseudo-labels needs no CAMs and no classifier).
    """
    cfg = run.config
    images = run.data.open(cfg.data.cam_split, require_masks=run.data.masks_expected)
    store = _store(run)
    metrics: dict[str, float] = {}
    if store is not None:
        metrics.update(_score_maps(run, images, store))
    if cfg.eval.seeds_dir:
        metrics.update(_score_label_pngs(absolute_path(cfg.eval.seeds_dir), images))
    if cfg.eval.faithfulness and run.classifier.kind == "none":
        log.warning("eval.faithfulness: no classifier to run (set model.checkpoint, or keep "
                    "this run's model.pt); faith/* is not scored")
    elif cfg.eval.faithfulness:
        from wsol.app.stages.faith import faithfulness_metrics

        metrics.update(faithfulness_metrics(run, images))
    # inputs the literature keeps rather than refuses, counted so a reader of the numbers knows
    metrics["data/clipped_boxes"] = float(images.clipped_boxes)
    metrics["data/dropped_empty_images"] = float(images.dropped_empty)
    return metrics


def _store(run: Run) -> CamStore | None:
    """The run's CAM store; None when only ``eval.seeds_dir`` is to be scored."""
    try:
        path = store_for_reading(run)
    except DataError:
        path = None
    if run.config.eval.seeds_dir and "cam" not in run.stages:
        if path is None or not CamStore(path).ids():
            log.info("no CAMs for this configuration: scoring eval.seeds_dir only")
            return None
    if path is None:
        raise DataError("No CAM store for this configuration; run the cam stage first "
                        "(stages=[cam,...]) or set model.checkpoint / cam.store_dir.")
    return CamStore(path)


def _score_maps(run: Run, images: LabelledImages, store: CamStore) -> dict[str, float]:
    cfg = run.config
    names = run.class_names()
    ids = scored_ids(images.ids, store, store.directory)
    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    with PairLog(run.run_dir) as pairs:
        suite = EvaluationSuite(cfg.eval, cfg.cam, len(names), pairs)
        for image_id in tqdm(ids, desc="evaluate", unit="img"):
            index = index_of[image_id]
            cams, class_ids = store.read(image_id)
            mask_path = images.mask_path(image_id)
            suite.add(image_id, cams, class_ids, images.annotations[index],
                      images.mask(index), str(mask_path) if mask_path else "")
        metrics = suite.compute()
        best = int(np.argmin(np.abs(suite.cam_grid - metrics["loc/best_threshold"])))
        pairs.write(run.run_dir / "per_pair.csv", best, names)
    per_class = suite.per_class(float(suite.cam_grid[best]), metrics.get("seg/best_threshold"))
    atomic_write_json(run.run_dir / "per_class.json", {
        names[c]: {k: (None if v != v else v) for k, v in row.items()}  # NaN -> null
        for c, row in per_class.items()})
    metrics["eval/images"] = float(len(ids))
    write_curves(run.curves_path, run.figures_dir, suite.cam_grid, suite.boxes.curves(),
                 suite.center.curves(), suite.bg_grid, suite.seg_curve())
    save_example_figures(run.figures_dir / "examples.png", store, images, names,
                         cfg.eval.num_figures, cfg.eval.box_protocol, cfg.eval.box_threshold)
    return metrics


def _score_label_pngs(seeds_dir: Path, images: LabelledImages) -> dict[str, float]:
    """``seeds/miou`` and ``seeds/coverage`` of one label PNG per image of the split."""
    seed_seg = LabelEvaluator(len(images.class_names) + 1)
    scored = 0
    for index, image_id in enumerate(tqdm(images.ids, desc="evaluate seeds", unit="img")):
        mask = images.mask(index)
        if mask is not None:
            seed_seg.accumulate(_read_seed(seeds_dir, image_id), mask)
            scored += 1
    if not scored:
        raise DataError(f"eval.seeds_dir={seeds_dir}: the split has no ground-truth masks to "
                        "score label PNGs against; pick a split with masks (data.cam_split).")
    result = seed_seg.compute()
    return {"seeds/miou": round(float(result["miou"]), 2),
            "seeds/coverage": round(float(result["coverage"]), 2)}


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
