"""Sanity stage: do the maps depend on the model? (Adebayo et al. 2018)

Loads the classifier the cam stage explains (this run's model.pt, ``model.checkpoint`` or
torchvision's weights), picks ``sanity.num_images`` images of ``data.cam_split`` spread over the
split, explains each image's first ground-truth class with every method, and compares the maps
with those of randomised copies (and, with ``data`` in ``sanity.tests``, of a classifier trained
on permuted labels). Randomised copies live in memory only: model.pt and the CAM cache are read,
never written. Writes ``sanity.csv`` and ``figures/sanity.png``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from wsol.app.build import Run
from wsol.app.distributed import inference_device
from wsol.cam import METHODS
from wsol.datasets.records import LabelledImages, spread_indices
from wsol.errors import DataError
from wsol.io.atomic import atomic_write_text
from wsol.sanity import GUIDED_METHODS, run_sanity
from wsol.sanity.figure import save_sanity_figure
from wsol.training.transforms import normalize, resize_image, to_chw_tensor

log = logging.getLogger(__name__)


def sanity_methods(methods: list[str] | None) -> list[str]:
    """``sanity.methods``, or with null every CAM method and the two guided ones."""
    return list(methods) if methods is not None else [*METHODS, *GUIDED_METHODS]


def sanity_batch(images: LabelledImages, count: int, input_size: int
                 ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, list[str]]:
    """(images (N, 3, S, S) normalised, classes (N,), first image (S, S, 3) uint8, ids) of
    ``count`` labelled images spread evenly over the split; each image's class is its
    lowest-numbered ground-truth class."""
    labelled = [i for i in range(len(images)) if images.labels[i].any()]
    if not labelled:
        raise DataError(f"split {images.ids[:1]}...: no image has a label to explain; the "
                        "sanity stage needs a split with labelled images (data.cam_split).")
    picked = [labelled[i] for i in spread_indices(len(labelled), count)]
    shown = [resize_image(images.image(i), input_size) for i in picked]
    batch = torch.stack([normalize(to_chw_tensor(image)) for image in shown])
    classes = torch.tensor([int(np.flatnonzero(images.labels[i])[0]) for i in picked])
    return batch, classes, shown[0], [images.ids[i] for i in picked]


def sanity_stage(run: Run) -> dict[str, float]:
    """Run the configured randomisation tests; returns ``sanity/*`` (mean similarity over each
    test's steps, per method and measure)."""
    cfg = run.config
    device = inference_device(cfg.trainer.accelerator)
    net, layer = run.classifier.load(run.class_names())
    net = net.to(device)
    images = run.data.open(cfg.data.cam_split)
    batch, classes, first, ids = sanity_batch(images, cfg.sanity.num_images,
                                              cfg.data.input_size)
    batch, classes = batch.to(device), classes.to(device)
    comparisons, extra = {}, {}
    if "data" in cfg.sanity.tests:
        from wsol.app.stages.sanity_data import permuted_label_model

        permuted, extra = permuted_label_model(run)
        comparisons["permuted_labels"] = permuted.to(device)
    log.info("sanity: %d images, tests %s", len(ids), list(cfg.sanity.tests))
    result = run_sanity(net, layer, batch, classes, sanity_methods(cfg.sanity.methods),
                        tests=tuple(cfg.sanity.tests), seed=cfg.seed, comparisons=comparisons)
    for method, why in result.skipped.items():
        log.warning("sanity: %s left out: %s", method, why)
    for method, count in result.constant.items():
        if count:
            log.warning("sanity: %s: the trained model's map is constant (nothing to compare) "
                        "for %d of %d images; they are left out of its rows (n)", method, count,
                        len(ids))
    atomic_write_text(run.run_dir / "sanity.csv", result.csv_text())
    save_sanity_figure(run.figures_dir / "sanity.png", result, first)
    return {**result.summary(), **extra, "sanity/images": float(len(ids))}
