"""Evaluate stage: score the CAM store against the split's ground truth, every threshold in one
pass, streaming one image at a time; and/or a folder of label PNGs (``eval.seeds_dir``).

Reads annotations and masks through the configured dataset (VOC, COCO, ImageNet), so every
format is scored the same way. Writes ``metrics.json`` (flat, slash-separated, percent unless
the key says threshold), ``curves.csv`` (``curve,threshold,value`` rows), figures, and for the
report ``per_class.json`` (per-class box accuracy, PxAP, seed IoU) and ``per_pair.csv`` (one row
per image and class scored against boxes, see :mod:`wsol.app.stages.pairs`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from wsol.app.build import Run, absolute_path
from wsol.app.cam_cache import store_for_reading
from wsol.app.carried import remove_run_files
from wsol.app.map_classes import check_map_classes
from wsol.app.schema import CamConfig, EvalConfig
from wsol.app.selection import selection_metrics, selection_run
from wsol.app.stages import STAGES
from wsol.app.stages.curves import write_curves
from wsol.app.stages.pairs import PairBuffer, PairLog
from wsol.app.stages.scoring import EvaluationSuite, finite_metrics, score_size
from wsol.app.threads import run_cpus
from wsol.cam import CamStore
from wsol.datasets.records import LabelledImages
from wsol.datasets.voc import check_mask_labels, read_voc_mask
from wsol.errors import DataError
from wsol.io.atomic import atomic_write_json
from wsol.io.paths import confined_path
from wsol.io.workers import map_chunks
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
    metrics: dict[str, float | str] = {}
    if store is not None:
        suite, scored = _score_maps(run, images, store, report_files=True)
        metrics.update(scored)
        selection = selection_run(run)
        if selection is not None:  # wsolevaluation: thresholds chosen on train-fullsup
            split = selection.config.data.cam_split
            select_images = selection.data.open(split, require_masks=run.data.masks_expected)
            select_suite, select_metrics = _score_maps(selection, select_images,
                                                       _store(selection))
            metrics.update(selection_metrics(select_suite, suite, split, cfg.data.cam_split,
                                             select_metrics))
    else:  # the files scored maps write would be an earlier evaluate's
        remove_run_files(run.run_dir, STAGES["evaluate"].files)
    if cfg.eval.seeds_dir:
        metrics.update(_score_label_pngs(absolute_path(cfg.eval.seeds_dir), images))
    if cfg.eval.faithfulness and run.classifier.kind == "none":
        log.warning("eval.faithfulness: no classifier to run (set model.checkpoint, or keep "
                    "this run's model.pt); faith/* is not scored")
    elif cfg.eval.faithfulness:
        from wsol.app.stages.faith import faithfulness_metrics

        metrics.update(faithfulness_metrics(run, images))
    metrics = finite_metrics(metrics)
    # inputs the literature keeps rather than refuses, counted so a reader of the numbers knows
    metrics["data/clipped_boxes"] = float(images.clipped_boxes)
    metrics["data/dropped_empty_images"] = float(images.dropped_empty)
    metrics["data/blacklisted_images"] = float(images.blacklisted)  # ILSVRC's, when given
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
    return CamStore(path, max_image_pixels=run.config.data.max_image_pixels)


def _score_maps(run: Run, images: LabelledImages, store: CamStore, report_files: bool = False
                ) -> tuple[EvaluationSuite, dict[str, float]]:
    """Every evaluator over the split's maps; writes its curves and figures into the run, and
    with ``report_files`` the report's ``per_pair.csv`` and ``per_class.json``.

    The images are scored in chunks by ``threads`` worker processes and their suites merged
    in order (integer counts and an exact IoU sum: the metrics of one process; each chunk's
    pairs are appended to the pair log in split order)."""
    cfg = run.config
    names = run.class_names()
    ids = scored_ids(images.ids, store, store.directory)
    job = ScoreChunk(cfg.eval, cfg.cam, len(names), images, store, score_size(cfg.eval),
                     keep_pairs=report_files)
    suite = EvaluationSuite(cfg.eval, cfg.cam, len(names))
    with PairLog(run.run_dir) if report_files else _NoPairs() as pairs, \
            tqdm(total=len(ids), desc="evaluate", unit="img") as progress:
        for part, partial in map_chunks(job, len(ids), run_cpus(run)):
            suite.merge(partial)
            if pairs is not None:
                partial.pairs_log.replay(pairs)
            progress.update(len(part))
        metrics = suite.compute()
        best = metrics.get("loc/best_threshold")
        if report_files:
            best_index = 0 if best is None else int(np.argmin(np.abs(suite.cam_grid - best)))
            pairs.write(run.run_dir / "per_pair.csv", best_index, names)
    if report_files:
        per_class = suite.per_class(best, metrics.get("seg/best_threshold"))
        atomic_write_json(run.run_dir / "per_class.json", {
            names[c]: {k: (None if v != v else v) for k, v in row.items()}  # NaN -> null
            for c, row in per_class.items()})
    metrics["eval/images"] = float(len(ids))
    boxed = suite.pairs > 0  # OpenImages localizes with masks only
    write_curves(run.curves_path, run.figures_dir, suite.cam_grid,
                 suite.boxes.curves() if boxed else {}, suite.center.curves() if boxed else {},
                 suite.bg_grid, suite.seg_curve())
    if save_example_figures(run.figures_dir / "examples.png", store, images, names,
                            cfg.eval.num_figures, cfg.eval.box_protocol,
                            cfg.eval.box_threshold) is None:  # eval.num_figures=0
        remove_run_files(run.run_dir, ("figures/examples.png",))
    return suite, metrics


class _NoPairs:
    """Stands in for :class:`PairLog` where no report files are written."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class ScoreChunk:
    """Scores the images at some positions of the split into a fresh suite (in a worker)."""

    def __init__(self, ev: EvalConfig, cam: CamConfig, num_classes: int,
                 images: LabelledImages, store: CamStore, size: tuple[int, int] | None,
                 keep_pairs: bool = False) -> None:
        self.ev, self.cam, self.num_classes = ev, cam, num_classes
        self.images, self.store, self.size = images, store, size
        self.keep_pairs = keep_pairs

    def __call__(self, positions: range) -> EvaluationSuite:
        suite = EvaluationSuite(self.ev, self.cam, self.num_classes,
                                PairBuffer() if self.keep_pairs else None)
        images, size = self.images, self.size
        for index in positions:  # the scored ids are the split's, in order
            image_id = images.ids[index]
            stored = self.store.read_levels(image_id)
            cams, class_ids, ann = stored.compose(size), stored.class_ids, \
                images.annotations[index]
            check_map_classes(self.cam, self.store, image_id, class_ids,
                              images.labels[index])
            mask = images.mask(index)
            if size is not None:  # wsolevaluation: maps, boxes and masks all on an N x N grid
                ann = ann.rescaled(stored.image_size, size)
                if mask is not None:
                    mask = cv2.resize(mask, size[::-1], interpolation=cv2.INTER_NEAREST)
            mask_path = images.mask_path(image_id)
            suite.add(image_id, cams, class_ids, ann, mask, str(mask_path) if mask_path else "")
        return suite


def _score_label_pngs(seeds_dir: Path, images: LabelledImages) -> dict[str, float]:
    """``seeds/miou`` and ``seeds/coverage`` of one label PNG per image of the split."""
    num_classes = len(images.class_names)
    seed_seg = LabelEvaluator(num_classes + 1)
    scored = 0
    for index, image_id in enumerate(tqdm(images.ids, desc="evaluate seeds", unit="img")):
        mask = images.mask(index)
        if mask is None:
            continue
        seed = _read_seed(seeds_dir, image_id, num_classes, images.max_image_pixels)
        if seed.shape != mask.shape:
            raise DataError(f"Seed {seeds_dir / image_id}.png is {seed.shape[1]}x"
                            f"{seed.shape[0]} but the ground truth of {image_id} is "
                            f"{mask.shape[1]}x{mask.shape[0]}; eval.seeds_dir must hold "
                            f"one label PNG per image at the image's size.")
        seed_seg.accumulate(seed, mask)
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


def _read_seed(seeds_dir: Path, image_id: str, num_classes: int, max_pixels: int) -> np.ndarray:
    """One image's label PNG from ``eval.seeds_dir`` (0 background, k+1 class k, 255 unlabelled)."""
    path = confined_path(seeds_dir, image_id, "eval.seeds_dir", suffix=".png")
    if not path.is_file():
        raise DataError(f"eval.seeds_dir has no seed for {image_id}: {path} is missing. "
                        "Name the seeds <image_id>.png, one per scored image.")
    return check_mask_labels(read_voc_mask(path, max_pixels), num_classes, path)
