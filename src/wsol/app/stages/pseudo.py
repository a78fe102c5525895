"""Pseudo stage: CAM store + images -> IRN pseudo-labels (fg / bg / 255), refined, as PNGs.

Writes ``pseudo/<id>.png`` (or ``pseudo.dir``) for the first ``pseudo.max_images`` images of
``data.cam_split``, each atomically, with a manifest naming the CAM store, the thresholds and
the refiner; images already there are kept (a killed stage reruns to the same files). The CRF
runs in loader worker processes, one image each. Where the split has masks it scores, on the
same images: the refined labels (``seg/pseudo_miou``, 255 left out), the same rule without the
refiner (``seg/pseudo_miou_unrefined``) and the CAM seeds at ``eval.bg_threshold``
(``seg/pseudo_seed_miou``); ``seg/pseudo_ignored`` is the share of pixels labelled 255.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from wsol.app.build import Run, absolute_path
from wsol.app.cam_cache import store_for_reading
from wsol.app.map_classes import predicted
from wsol.cam import CamStore
from wsol.datasets.records import LabelledImages
from wsol.errors import DataError
from wsol.io.cpus import loader_workers
from wsol.localize.seeds import UNLABELLED, seed_from_cams
from wsol.metrics import LabelEvaluator
from wsol.pseudo.crf import CrfParams
from wsol.pseudo.folder import PseudoLabelFolder
from wsol.pseudo.labels import pseudo_label
from wsol.pseudo.refiners import RefineInput, make_refiner

log = logging.getLogger(__name__)


def pseudo_dir(run: Run) -> Path:
    """Where the pseudo-labels of this run live: ``pseudo.dir`` or ``<run_dir>/pseudo``."""
    configured = run.config.pseudo.dir
    return absolute_path(configured) if configured else run.run_dir / "pseudo"


def crf_params(run: Run) -> CrfParams:
    return CrfParams(**asdict(run.config.pseudo.crf))


def pseudo_settings(run: Run, store: Path | None) -> dict[str, Any]:
    """What makes the labels what they are: the maps (the store's key), the split, the rule
    and the refiner. ``store`` None (unknown here) leaves the maps out."""
    cfg = run.config
    settings: dict[str, Any] = {
        "split": cfg.data.cam_split, "root": str(run.data.root),
        "fg_threshold": cfg.pseudo.fg_threshold, "bg_threshold": cfg.pseudo.bg_threshold,
        "refiner": cfg.pseudo.refiner,
        "crf": asdict(cfg.pseudo.crf) if cfg.pseudo.refiner == "crf" else None,
    }
    if store is not None:
        settings["cam_store"] = store_identity(store)
    return settings


def store_identity(store: Path) -> str:
    """What names the maps of ``store`` in a pseudo-label manifest: its key, else its path."""
    return CamStore(store).manifest.get("key") or str(store)


def pseudo_ids(run: Run, images: LabelledImages) -> list[str]:
    """The images that get pseudo-labels: the first ``pseudo.max_images`` of the split."""
    limit = run.config.pseudo.max_images
    ids = list(images.ids)
    return ids if limit is None else ids[:limit]


class PseudoJobs(Dataset):
    """Item i: the labels of ``ids[i]``, made (and written) or read back when already there."""

    def __init__(self, run: Run, images: LabelledImages, store: CamStore,
                 folder: PseudoLabelFolder, ids: list[str]) -> None:
        cfg = run.config
        self.images, self.store, self.folder, self.ids = images, store, folder, ids
        self.cam = cfg.cam  # with top-k, the guesses alone make labels (not the labelled extras)
        self.index_of = {image_id: i for i, image_id in enumerate(images.ids)}
        self.fg, self.bg, self.seed_tau = (cfg.pseudo.fg_threshold, cfg.pseudo.bg_threshold,
                                           cfg.eval.bg_threshold)
        self.refiner_args = (cfg.pseudo.refiner, crf_params(run), cfg.pseudo.device)
        self._refiner = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image_id = self.ids[i]
        index = self.index_of[image_id]
        image = self.images.image(index)
        cams, class_ids = predicted(*self.store.read(image_id), self.cam)
        if cams.shape[1:] != image.shape[:2]:
            raise DataError(f"the CAMs of {image_id} in {self.store.directory} were made for a "
                            f"{cams.shape[2]}x{cams.shape[1]} image but "
                            f"{self.images.image_path(image_id)} is {image.shape[1]}x"
                            f"{image.shape[0]}; rerun the cam stage for this split.")
        item = RefineInput(image, cams, class_ids)
        done = self.folder.has(image_id)
        if self._refiner is None:  # built in the worker process that uses it
            self._refiner = make_refiner(*self.refiner_args)
        refined, unrefined = pseudo_label(item, self.fg, self.bg,
                                          (lambda _, s: s) if done else self._refiner)
        if done:
            refined = self.folder.read(image_id)
        else:
            self.folder.write(image_id, refined)
        return {"refined": refined, "unrefined": unrefined, "mask": self.images.mask(index),
                "seed": seed_from_cams(cams, class_ids, self.seed_tau)}


def _as_is(item: dict) -> dict:
    return item


def pseudo_stage(run: Run) -> dict[str, float]:
    """Make (or complete) the pseudo-labels of ``data.cam_split``; returns ``seg/pseudo_*``."""
    cfg = run.config
    store_path = store_for_reading(run)
    if store_path is None:
        raise DataError("No CAM store for this configuration; run the cam stage first "
                        "(stages=[cam,pseudo,...]) or set model.checkpoint / cam.store_dir.")
    store = CamStore(store_path, max_image_pixels=cfg.data.max_image_pixels)
    images = run.data.open(cfg.data.cam_split, require_masks=run.data.masks_expected)
    ids = pseudo_ids(run, images)
    missing = [i for i in ids if not store.has(i)]
    if missing:
        raise DataError(f"{len(missing)} of {len(ids)} images have no CAMs in {store_path} "
                        f"(e.g. {missing[0]!r}); run the cam stage for this split first.")
    folder = PseudoLabelFolder(pseudo_dir(run), pseudo_settings(run, store_path))
    folder.prepare(len(ids))
    todo = len(folder.missing(ids))
    log.info("pseudo-labels -> %s: %d of %d to make (refiner %s)", folder.directory, todo,
             len(ids), cfg.pseudo.refiner)
    workers = loader_workers(cfg.pseudo.num_workers) if todo else 0
    loader = DataLoader(PseudoJobs(run, images, store, folder, ids), batch_size=None,
                        num_workers=workers, collate_fn=_as_is)
    classes = len(run.class_names()) + 1
    scores = {name: LabelEvaluator(classes) for name in ("refined", "unrefined", "seed")}
    ignored = total = 0
    start = time.perf_counter()
    for item in tqdm(loader, desc="pseudo", unit="img"):
        ignored += int((item["refined"] == UNLABELLED).sum())
        total += item["refined"].size
        if item["mask"] is not None:
            for name, evaluator in scores.items():
                evaluator.accumulate(item[name], item["mask"])
    metrics = {"pseudo/images": float(len(ids)),
               "pseudo/seconds": round(time.perf_counter() - start, 1),
               "seg/pseudo_ignored": round(100.0 * ignored / max(1, total), 2)}
    if scores["refined"].num_images:
        metrics["seg/pseudo_miou"] = _miou(scores["refined"])
        metrics["seg/pseudo_seed_miou"] = _miou(scores["seed"])
        if cfg.pseudo.refiner != "none":
            metrics["seg/pseudo_miou_unrefined"] = _miou(scores["unrefined"])
    return metrics


def _miou(evaluator: LabelEvaluator) -> float:
    return round(float(evaluator.compute()["miou"]), 2)
