"""CAM stage: class activation maps for the configured classes of every image, into the CAM store.

Runs under ``trainer.predict`` (so DDP ranks each write their own images) with
``inference_mode=False``; the engine turns gradients on for its head-only backward.
"""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from wsol.app.build import Run
from wsol.app.cam_cache import cam_location, write_cam_record
from wsol.app.distributed import RankShard
from wsol.app.map_classes import topk_then_labelled
from wsol.app.schema import CamConfig, RunConfig
from wsol.app.selection import selection_run
from wsol.app.threads import run_cpus
from wsol.cam import CamStore, GradCAM, multiscale_cams
from wsol.cam.background import BackgroundWrites
from wsol.cam.batching import header_sizes, size_batches
from wsol.cam.compose import infer_stride
from wsol.cam.finite import require_finite
from wsol.cam.protocols import check_protocol
from wsol.cam.tta import scale_maps
from wsol.io.cpus import loader_workers
from wsol.training.datamodule import CamDataset
from wsol.training.threads import KeepThreads

log = logging.getLogger(__name__)


class CamPredictor(pl.LightningModule):
    """Wraps a classifier and the CAM engine; ``predict_step`` returns one record per image."""

    def __init__(self, net: torch.nn.Module, target_layer: str, cam_cfg: CamConfig,
                 model_name: str = "being explained") -> None:
        super().__init__()
        self.model_name = model_name  # for the message when its outputs are not finite
        self.net = net
        self.target_layer = target_layer
        self.cam_cfg = cam_cfg
        self.protocol = check_protocol(cam_cfg.protocol, cam_cfg.image_size, cam_cfg.scales,
                                       cam_cfg.flip)
        self.engine: GradCAM | None = None

    def on_predict_start(self) -> None:
        self.net.eval()
        self.engine = GradCAM(self.net, self.target_layer, method=self.cam_cfg.method,
                              precision=self.cam_cfg.precision,
                              channels_last=self.cam_cfg.channels_last,
                              relu=self.protocol.relu)

    def on_predict_end(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def _classes_per_image(self, batch: dict):
        """Per-image lists, or for top-k a picker applied to the CAM forward's own logits: the
        ranked classes, then the labelled ones outside them (:mod:`wsol.app.map_classes`)."""
        labels = batch["labels"]
        if self.cam_cfg.classes == "gt":
            return [torch.nonzero(row > 0).flatten().tolist() for row in labels]
        if self.cam_cfg.classes == "all":
            return [list(range(labels.shape[1]))] * labels.shape[0]
        return lambda logits: topk_then_labelled(logits, labels, self.cam_cfg.topk)

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        if self.protocol.layout != "resized":
            return self._predict_levels(batch)
        classes = self._classes_per_image(batch)
        stride = int(self.cam_cfg.store_stride)
        height, width = batch["image"].shape[-2:]  # the size fed: square, or the original
        maps, logits = multiscale_cams(
            self.engine, batch["image"], classes, scales=tuple(self.cam_cfg.scales),
            flip=bool(self.cam_cfg.flip),
            out_size=(max(1, height // stride), max(1, width // stride)), return_logits=True)
        maps = [m.float().cpu() for m in maps]
        require_finite(logits, maps, batch["image_id"], self.model_name,
                       self.cam_cfg.precision)
        if callable(classes):  # what the picker chose from these very logits
            classes = classes(logits)
        # multi-label classifier: each class's own sigmoid is its score (boxes.json "score")
        probs = torch.sigmoid(logits.float()).cpu()
        return [{"image_id": image_id, "cams": m, "class_ids": c, "orig_size": tuple(orig),
                 "scores": p[c]}
                for image_id, m, c, orig, p in zip(batch["image_id"], maps, classes,
                                                   batch["orig_size"], probs, strict=True)]


    def _predict_levels(self, batch: dict) -> list[dict]:
        """cam.protocol irn / wsolevaluation: raw per-scale maps, composed when read."""
        pyramid = batch["pyramid"] if self.protocol.pyramid else [batch["image"]]
        levels = scale_maps(self.engine, pyramid, self._classes_per_image(batch),
                            flip=bool(self.cam_cfg.flip), return_logits=True)
        levels.maps = [m.float().cpu() for m in levels.maps]  # one copy per scale, not per image
        per_image = [levels.of_image(b) for b in range(len(batch["image_id"]))]
        require_finite(levels.logits, [torch.cat([m.flatten() for m in maps]) for maps in
                                       per_image], batch["image_id"], self.model_name,
                       self.cam_cfg.precision)
        classes = levels.classes if levels.classes is not None else \
            [list(range(levels.maps[0].shape[1]))] * len(batch["image_id"])
        first = levels.maps[0]
        stride = infer_stride(pyramid[0].shape[-2:], first.shape[-2:]) \
            if self.protocol.layout == "irn" and first.shape[1] else 0
        probs = torch.sigmoid(levels.logits.float()).cpu()
        return [{"image_id": image_id, "levels": maps,
                 "layout": self.protocol.layout, "stride": stride, "class_ids": c,
                 "orig_size": tuple(orig), "scores": p[c]}
                for image_id, maps, c, orig, p in zip(batch["image_id"], per_image, classes,
                                                      batch["orig_size"], probs, strict=True)]


class CamStoreWriter(BasePredictionWriter):
    """Writes each batch's maps to the store as soon as they exist (a killed run keeps them),
    on a background thread (:mod:`wsol.cam.background`): call :meth:`finish` after predict."""

    def __init__(self, store: CamStore) -> None:
        super().__init__(write_interval="batch")
        self.store = store
        self.writes = BackgroundWrites()

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch,
                           batch_idx, dataloader_idx=0) -> None:
        for record in prediction:
            self.writes.submit(self._write, record)  # raises an earlier write's error

    def _write(self, record: dict) -> None:
        if self.store.has(record["image_id"]):  # part of a batch a killed run wrote
            return
        if "levels" in record:
            self.store.write_levels(record["image_id"], record["levels"], record["class_ids"],
                                    record["orig_size"], record["layout"], record["stride"],
                                    record["scores"])
        else:
            self.store.write(record["image_id"], record["cams"], record["class_ids"],
                             record["orig_size"], record["scores"])

    def finish(self, raise_error: bool = True) -> None:
        """Wait until every map is on disk; raise the first write error (see BackgroundWrites)."""
        self.writes.finish(raise_error)


class FixedBatches(Dataset):
    """Pre-composed batches: item j is ``collate([images[i] for i in batches[j]])``.

    Batches are cut from the whole split (:func:`batch_plan`) and only those with a missing
    image are run, so a resumed run computes every image in the same batch as an uninterrupted
    one (kernels depend on the batch) and the maps match bit for bit.
    """

    def __init__(self, images: CamDataset, batches: list[list[int]]) -> None:
        self.images = images
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return CamDataset.collate([self.images[i] for i in self.batches[index]])


def _only(items: list[dict]) -> dict:
    # batch_size=1 over pre-collated batches: a plain sampler Lightning can shard across ranks
    return items[0]


def cam_input_size(cfg: RunConfig) -> int | None:
    """``data.input_size`` for ``cam.image_size=square``; None (original size) for
    ``original``, IRN's protocol: maps at each image's own resolution and aspect."""
    return None if cfg.cam.image_size == "original" else cfg.data.input_size


def batch_plan(images, cfg: RunConfig, threads: int) -> list[list[int]]:
    """Index batches over the whole split: ``cam.batch_size`` consecutive images at a time for
    square inputs; at the original size, images of equal size (read from the file headers)
    together (:func:`wsol.cam.batching.size_batches`)."""
    if cfg.cam.image_size != "original":
        return size_batches([0] * len(images), cfg.cam.batch_size)
    start = time.perf_counter()
    sizes = header_sizes([images.image_path(i) for i in images.ids],
                         cfg.data.max_image_pixels, threads=max(4, threads))
    batches = size_batches(sizes, cfg.cam.batch_size)
    log.info("CAM batches by image size: %d distinct sizes, %d batches of up to %d for %d "
             "images (headers read in %.2f s)", len({s for s in sizes if s is not None}),
             len(batches), cfg.cam.batch_size, len(images), time.perf_counter() - start)
    return batches


def pending_batches(ids: list[str], store: CamStore, batches: list[list[int]],
                    workers: int = 1) -> list[list[int]]:
    """The ``batches`` over ``ids`` that hold at least one image without an intact file
    (missing, or damaged: :meth:`CamStore.intact` removes those, reading over ``workers``
    processes)."""
    done = store.intact(ids, workers)
    return [b for b in batches if any(ids[i] not in done for i in b)]


def cam_stage(run: Run) -> dict[str, float]:
    """Make CAMs for ``data.cam_split`` into the keyed store (or ``cam.store_dir``), and for
    ``eval.select_split`` when it is set (wsolevaluation's train-fullsup protocol).

    Images already stored are kept, so rerunning a killed run resumes it; the store path and
    key go to ``<run_dir>/cam_store.json`` for the later stages.
    """
    metrics = _cams_of_split(run)
    selection = selection_run(run)
    if selection is not None:
        split = selection.config.data.cam_split
        metrics[f"{split}/cam/images"] = _cams_of_split(selection)["cam/images"]
    return metrics


def _cams_of_split(run: Run) -> dict[str, float]:
    cfg = run.config
    names = run.class_names()
    if cfg.cam.classes == "topk" and cfg.cam.topk > len(names):
        log.warning("cam.topk=%d is more than the %d classes: every class is ranked and gets "
                    "a map", cfg.cam.topk, len(names))
    net, target_layer = run.classifier.load(names)
    images = run.data.open(cfg.data.cam_split)
    location = cam_location(run, images)
    store = CamStore(location.path, location.inputs, key=location.key,
                     expected_images=len(images), max_image_pixels=cfg.data.max_image_pixels)
    write_cam_record(run, location)
    run._memo["store"] = location.path  # the later stages of this run read this store
    threads = run_cpus(run)
    todo = pending_batches(list(images.ids), store, batch_plan(images, cfg, threads), threads)
    if not todo:
        log.info("all %d images already have CAMs in %s", len(images), store.directory)
        return {"cam/images": float(len(images))}
    log.info("CAM store %s: %d of %d images to compute", store.directory,
             sum(len(b) for b in todo), len(images))
    protocol = check_protocol(cfg.cam.protocol, cfg.cam.image_size, cfg.cam.scales, cfg.cam.flip)
    scales = tuple(float(s) for s in cfg.cam.scales) if protocol.pyramid else None
    cam_images = CamDataset(images, cam_input_size(cfg), protocol.resample, scales)
    loader = DataLoader(FixedBatches(cam_images, todo),
                        batch_size=1, sampler=RankShard(len(todo)),
                        num_workers=loader_workers(cfg.data.num_workers), collate_fn=_only)
    # Under DDP every rank lists ``todo`` before any rank writes (nothing writes maps between
    # the previous barrier and predict's setup barrier), so all ranks shard the same list;
    # RankShard gives each rank its own batches, never padded or repeated (a rank may get none).
    writer = CamStoreWriter(store)
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy, num_nodes=cfg.trainer.num_nodes,
        use_distributed_sampler=False, logger=False, inference_mode=False,
        callbacks=[writer, KeepThreads(threads)], enable_checkpointing=False,
        default_root_dir=str(run.run_dir),
    )
    source = run.classifier
    model_name = f"torchvision {cfg.model.arch} {cfg.model.weights}" \
        if source.kind == "pretrained" else str(source.checkpoint)
    predictor = CamPredictor(net, target_layer, cfg.cam, model_name)
    predictor.allow_zero_length_dataloader_with_multiple_devices = True  # see RankShard
    try:
        trainer.predict(predictor, loader, return_predictions=False)
    except BaseException:
        writer.finish(raise_error=False)  # what failed is being raised; stop the writes
        raise
    writer.finish()  # every map of this rank is on disk (or its write error is raised)
    log.info("cam rank %d/%d: computed %d of %d pending batches", trainer.global_rank,
             trainer.world_size, len(loader.sampler), len(todo))
    trainer.strategy.barrier("wsol_cams_written")  # every rank's maps are on disk
    return {"cam/images": float(len(images))}
