"""Segment stage: DeepLabV3 trained on the pseudo-labels, scored on ``data.val_split``.

Trains under Lightning (every DDP rank, Lightning's distributed sampler) on the pseudo-labels
of the pseudo stage (255 ignored), writes ``segmenter.pt`` (rank 0, atomically), then rank 0
predicts every val image (``segment.test_scales`` x ``test_flip``, optionally a dense CRF),
writes ``segment/<id>.png`` and scores them against the masks with LabelEvaluator:
``seg/val_miou``. A ``segmenter.pt`` made from the same pseudo-labels and settings is reused,
so a rerun after a kill during prediction retrains nothing and writes the same files.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from wsol.app.build import Run
from wsol.app.cam_cache import store_for_reading
from wsol.app.distributed import barrier, is_global_zero
from wsol.app.map_classes import predicted
from wsol.app.stages.pseudo import crf_params, pseudo_dir, pseudo_ids
from wsol.cam import CamStore
from wsol.datasets.voc_format import write_voc_mask
from wsol.errors import ConfigError, DataError, WsolError
from wsol.io.cpus import loader_workers
from wsol.io.manifest import jsonable
from wsol.io.paths import confined_path
from wsol.localize.seeds import seed_from_cams
from wsol.metrics import LabelEvaluator
from wsol.pseudo.folder import PseudoLabelFolder
from wsol.segment.checkpoint import load_segmenter, save_segmenter
from wsol.segment.data import PseudoLabelled
from wsol.segment.figure import save_wsss_figure
from wsol.segment.infer import predict_labels, same_size_batches
from wsol.segment.model import build_deeplabv3
from wsol.segment.module import SegmentModule

log = logging.getLogger(__name__)
TEST_KEYS = ("test_scales", "test_flip", "test_refiner", "num_workers")  # not in the model


def _backbone_state(run: Run) -> dict[str, torch.Tensor] | None:
    """The backbone weights ``segment.weights`` names (None: random initialisation)."""
    seg = run.config.segment
    if seg.weights is None:
        return None
    if seg.weights == "classifier":
        from wsol.models.checkpoint import load_classifier

        path = run.classifier.checkpoint or run.model_path
        net, _, meta = load_classifier(path, list(run.class_names()))
        if meta["arch"] != seg.arch:
            raise ConfigError(f"segment.weights=classifier: {path} is a {meta['arch']}, but "
                              f"segment.arch={seg.arch!r}; set segment.arch={meta['arch']}.")
        return net.state_dict()
    from wsol.models.weights import load_pretrained_state

    return load_pretrained_state(seg.arch, seg.weights)


def _model_meta(run: Run, folder: PseudoLabelFolder, ids: list[str]) -> dict[str, Any]:
    """What the trained segmenter depends on; a saved one with other values is retrained."""
    seg = {k: v for k, v in asdict(run.config.segment).items() if k not in TEST_KEYS}
    return jsonable({"segment": seg, "pseudo": (folder.manifest() or {}).get("settings"),
                     "images": len(ids), "class_names": list(run.class_names()),
                     "seed": run.config.seed})


def _train(run: Run, folder: PseudoLabelFolder, ids: list[str], num_classes: int):
    cfg, seg = run.config, run.config.segment
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # the same model on a rerun
    images = run.data.open(cfg.data.cam_split)
    dataset = PseudoLabelled(images, ids, folder.read, seg.crop_size, seg.scale_range)
    workers = loader_workers(seg.num_workers)
    loader = DataLoader(dataset, batch_size=seg.batch_size, shuffle=True,
                        drop_last=len(dataset) > seg.batch_size, num_workers=workers,
                        persistent_workers=workers > 0)
    net = build_deeplabv3(seg.arch, num_classes, seg.output_stride, seg.head_channels,
                          seg.atrous_rates, _backbone_state(run), seg.dilate)
    module = SegmentModule(net, seg.lr, seg.head_lr_mult, seg.weight_decay)
    trainer_cfg = asdict(cfg.trainer)
    for key in ("max_epochs", "check_val_every_n_epoch", "limit_val_batches"):
        trainer_cfg.pop(key)
    trainer = pl.Trainer(
        default_root_dir=str(run.run_dir), enable_checkpointing=False, max_epochs=seg.max_epochs,
        logger=pl.loggers.CSVLogger(str(run.run_dir), name="segment_logs", version=""),
        **trainer_cfg)
    trainer.fit(module, loader)
    return module.net, trainer.is_global_zero


def segment_stage(run: Run) -> dict[str, float]:
    """Train (or reuse) the segmenter, then score it on ``data.val_split`` (rank 0)."""
    cfg = run.config
    num_classes = len(run.class_names()) + 1
    images = run.data.open(cfg.data.cam_split)
    ids = pseudo_ids(run, images)
    folder = PseudoLabelFolder(pseudo_dir(run))
    missing = folder.missing(ids)
    if missing:
        raise DataError(f"{len(missing)} of {len(ids)} pseudo-labels are missing in "
                        f"{folder.directory} (e.g. {missing[0]!r}): the pseudo stage did not "
                        "finish. Run it again with the same settings; it resumes.")
    path = run.run_dir / "segmenter.pt"
    meta = _model_meta(run, folder, ids)
    start = time.perf_counter()
    net = None
    if path.is_file():
        state, saved = load_segmenter(path)
        if saved == meta:
            log.info("reusing %s (same pseudo-labels and settings)", path)
            net = _rebuilt(run, num_classes, state)
    trained = net is None
    if trained:
        net, zero = _train(run, folder, ids, num_classes)
        if zero:
            save_segmenter(path, net, meta)
        barrier()  # nobody reads segmenter.pt before it exists
    metrics = {"segment/train_seconds": round(time.perf_counter() - start, 1)} if trained else {}
    if not is_global_zero():
        return metrics
    metrics.update(_score(run, net.eval(), num_classes, folder, ids))
    return metrics


def _rebuilt(run: Run, num_classes: int, state: dict[str, torch.Tensor]):
    seg = run.config.segment
    net = build_deeplabv3(seg.arch, num_classes, seg.output_stride, seg.head_channels,
                          seg.atrous_rates, dilate=seg.dilate)
    net.load_state_dict(state)
    return net


def _score(run: Run, net, num_classes: int, folder: PseudoLabelFolder,
           ids: list[str]) -> dict[str, float]:
    """Predict and score every val image; write ``segment/<id>.png`` and the figure."""
    cfg, seg = run.config, run.config.segment
    val = run.data.open(cfg.data.val_split, require_masks=True)
    device = next(net.parameters()).device
    crf = crf_params(run) if seg.test_refiner == "crf" else None
    segmenter = lambda x: net(x)["out"]  # noqa: E731
    evaluator = LabelEvaluator(num_classes)
    pairs = ((i, val.image(i)) for i in range(len(val)))
    for batch, stack in tqdm(same_size_batches(pairs, seg.batch_size), desc="segment val",
                             unit="batch"):
        labels = predict_labels(segmenter, stack, seg.test_scales, seg.test_flip, crf, device)
        for index, label in zip(batch, labels, strict=True):
            write_voc_mask(confined_path(run.run_dir / "segment", val.ids[index], "the split",
                                         suffix=".png"), label)
            mask = val.mask(index)
            if mask is not None:
                evaluator.accumulate(label, mask)
    if not evaluator.num_images:
        raise DataError(f"data.val_split={cfg.data.val_split!r} has no masks to score the "
                        "segmenter against; pick a split with segmentation masks.")
    rows = _figure_rows(run, segmenter, folder, ids[: cfg.eval.num_figures], crf, device)
    save_wsss_figure(run.figures_dir / "wsss.png", rows, cfg.eval.bg_threshold)
    return {"seg/val_miou": round(float(evaluator.compute()["miou"]), 2),
            "segment/val_images": float(evaluator.num_images)}


def _figure_rows(run: Run, segmenter, folder: PseudoLabelFolder, ids: list[str], crf,
                 device) -> list[dict]:
    """Image, seed (when the CAM store is at hand), pseudo-label, prediction and mask."""
    cfg = run.config
    images = run.data.open(cfg.data.cam_split)
    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    try:
        store_path = store_for_reading(run)
    except WsolError:
        store_path = None
    store = CamStore(store_path, max_image_pixels=run.config.data.max_image_pixels) \
        if store_path is not None else None
    rows = []
    for image_id in ids:
        index = index_of[image_id]
        image = images.image(index)
        seed = None
        if store is not None and store.has(image_id):
            cams, class_ids = store.read(image_id)
            seed = seed_from_cams(*predicted(cams, class_ids, cfg.cam), cfg.eval.bg_threshold)
        rows.append({"id": image_id, "image": image, "seed": seed,
                     "pseudo": folder.read(image_id), "gt": images.mask(index),
                     "prediction": predict_labels(segmenter, image[None], cfg.segment.test_scales,
                                                  cfg.segment.test_flip, crf, device)[0]})
    return rows
