"""The data randomisation test's second model: this run's recipe on permuted training labels.

Trained in memory on one device (the sanity stage runs on global rank 0 only) and never saved:
model.pt stays the real model's. How well it fits the permuted labels says whether the test is
meaningful (Adebayo et al. trained until the network memorised them).
"""

from __future__ import annotations

import logging

from torch import nn
from torch.utils.data import DataLoader

from wsol.app.build import Run
from wsol.app.stages.train import fit_classifier, validation_map
from wsol.errors import ConfigError
from wsol.sanity.permuted import PermutedLabels
from wsol.training.torch_datasets import ResizedImages, collate_uint8

log = logging.getLogger(__name__)


def permuted_label_model(run: Run) -> tuple[nn.Module, dict[str, float]]:
    """(network in eval mode, ``sanity/data/*`` metrics): the classifier trained on the train
    split with its label rows permuted (seed ``seed``); its mAP on those permuted labels
    (memorisation) and on the real val labels (chance level expected)."""
    cfg = run.config
    train_split = cfg.data.train_split
    if not train_split:
        raise ConfigError("sanity.tests includes data, which trains a model on permuted labels "
                          "of data.train_split, but data.train_split is null; set it or drop "
                          "data from sanity.tests.")
    permuted = PermutedLabels(run.data.open(train_split), cfg.seed)

    def open_split(split: str):
        return permuted if split == train_split else run.data.open(split)

    model, datamodule, _, seconds = fit_classifier(
        run, open_split, devices=1, strategy="auto", num_nodes=1, logger=False)
    fit = DataLoader(ResizedImages(permuted, cfg.data.input_size),
                     batch_size=cfg.data.batch_size, collate_fn=collate_uint8)
    metrics = {"sanity/data/seconds": round(seconds, 1),
               "sanity/data/train_map_permuted": round(100 * validation_map(model, fit), 2)}
    if cfg.data.val_split:
        metrics["sanity/data/val_map"] = round(
            100 * validation_map(model, datamodule.val_dataloader()), 2)
    log.info("permuted-label model: %s", metrics)
    return model.net.cpu().eval(), metrics
