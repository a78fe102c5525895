"""Localize stage: CAM store -> one box per (image, class) and one seed mask per image.

Boxes go to ``boxes.json`` in the COCO results format (``bbox`` = ``[x, y, w, h]`` of the
inclusive pixel box, ``category_id`` 1-based); seeds go to ``seeds/<image_id>.png`` as VOC
palette PNGs (0 background, k+1 class k). The images are the split's (every one must have
maps), never whatever files the store holds; ``seeds/`` is replaced whole when every seed is
written, so a run stopped half-way leaves the previous folder as it was.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from wsol.app.build import Run
from wsol.app.cam_cache import store_for_reading
from wsol.app.map_classes import check_map_classes, predicted
from wsol.app.schema import CamConfig, EvalConfig
from wsol.app.stages.evaluate import scored_ids
from wsol.app.threads import run_cpus
from wsol.cam import CamStore
from wsol.datasets.records import LabelledImages
from wsol.datasets.voc import write_voc_mask
from wsol.io.atomic import atomic_write_json
from wsol.io.paths import confined_path
from wsol.io.staged import staged_directory
from wsol.io.workers import map_chunks
from wsol.localize import box_from_protocol, seed_from_cams


def localize_stage(run: Run) -> dict[str, float]:
    """Threshold every stored map into a box (``eval.box_protocol``) and a seed
    (``eval.bg_threshold``), the images spread over ``threads`` worker processes."""
    cfg = run.config
    store = CamStore(store_for_reading(run), max_image_pixels=cfg.data.max_image_pixels)
    images = run.data.open(cfg.data.cam_split)
    ids = scored_ids(images.ids, store, store.directory)
    results = []
    with staged_directory(run.seeds_dir) as seeds_dir:
        job = LocalizeChunk(cfg.eval, cfg.cam, run.class_names(), images, store,
                            seeds_dir)
        with tqdm(total=len(ids), desc="localize", unit="img") as progress:
            for part, boxes in map_chunks(job, len(ids), run_cpus(run)):
                results.extend(boxes)  # in split order, whichever worker made them
                progress.update(len(part))
        atomic_write_json(run.boxes_path, results)
    return {"localize/images": float(len(ids))}


class LocalizeChunk:
    """Boxes (COCO results entries) and seed PNGs of the images at some positions of the split
    (the scored ids are the split's, in order); runs in a worker."""

    def __init__(self, ev: EvalConfig, cam: CamConfig, names: tuple[str, ...],
                 images: LabelledImages, store: CamStore, seeds_dir: Path) -> None:
        self.ev, self.cam, self.names = ev, cam, names
        self.images, self.store, self.seeds_dir = images, store, seeds_dir

    def __call__(self, positions: range) -> list[dict]:
        ev, images, results = self.ev, self.images, []
        for index in positions:
            image_id = images.ids[index]
            cams, class_ids, scores = self.store.read_scored(image_id)
            check_map_classes(self.cam, self.store, image_id, class_ids, images.labels[index])
            cams, class_ids = predicted(cams, class_ids, self.cam)  # guesses: a prefix
            scores = None if scores is None else scores[: len(class_ids)]
            # the classifier's probability when the store has it (older maps: the map's peak)
            if scores is None:
                scores = cams.reshape(len(cams), -1).max(axis=1) if len(cams) else []
            for cam, class_id, score in zip(cams, class_ids.tolist(), scores, strict=True):
                x0, y0, x1, y1 = box_from_protocol(cam, ev.box_protocol,
                                                   threshold=ev.box_threshold).tolist()
                # COCO results need numeric image and category ids; VOC-style sets keep names
                results.append({"image_id": images.result_image_id(image_id),
                                "category_id": images.result_category_id(class_id),
                                "category": self.names[class_id],
                                "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                                "score": round(float(score), 6)})
            seed = seed_from_cams(cams, class_ids, ev.bg_threshold)
            write_voc_mask(confined_path(self.seeds_dir, image_id, "the split", suffix=".png"),
                           seed)
        return results
