"""Where a run's CAM store lives: the content-keyed cache, an explicit directory, or the record.

The cam stage computes the key (hashing the split's ids and the weights file), opens
``${paths.cache_dir}/cams/<key>`` (or ``cam.store_dir`` when set) and writes
``<run_dir>/cam_store.json``; later stages of the run read that record instead of rehashing,
after a cheap check (settings, dataset location, the weights file's size and mtime) that it
still describes this configuration. A run without the record (``stages=[evaluate]`` with
``model.checkpoint``) computes the key and finds the cache the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from wsol.app.context import (
    RunContext,
    absolute_path,
    checkpoint_path,
    class_names,
    dataset,
)
from wsol.cam.cache_key import (
    cache_key,
    cam_map_settings,
    checkpoint_fingerprint,
    file_stamp,
    key_inputs,
    pretrained_fingerprint,
)
from wsol.datasets.records import LabelledImages
from wsol.io.atomic import atomic_write_json
from wsol.models.checkpoint import require_checkpoint


@dataclass(frozen=True)
class CamLocation:
    """A CAM store directory, its key (None for an unkeyed legacy store) and the key's inputs."""

    path: Path
    key: str | None
    inputs: dict[str, Any] | None


def _weights_file(cfg: DictConfig, ctx: RunContext) -> tuple[Path, dict[str, Any]] | None:
    """The file whose bytes are the model: the checkpoint, or torchvision weights used as they
    are (``model.weights`` with no checkpoint and no train stage); None if neither exists."""
    ckpt = checkpoint_path(cfg, ctx)
    if ckpt.is_file() or cfg.model.get("checkpoint"):
        return ckpt, {}
    name = cfg.model.get("weights")
    if name and "train" not in cfg.stages:
        from wsol.models.weights import cached_weights_path, resolve_weights_enum

        enum = resolve_weights_enum(cfg.model.arch, name)
        path = cached_weights_path(enum)
        extra = {"arch": cfg.model.arch, "weights": str(enum),
                 "output_stride": int(cfg.model.get("output_stride", 32))}
        return (path, extra) if path.is_file() else None
    return None


def _quick_check(cfg: DictConfig, weights: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """What the record must match to be trusted without rehashing (no dataset, no hashing)."""
    path, extra = weights
    return {"dataset": {"format": cfg.data.get("format", "voc"),
                        "root": str(absolute_path(cfg.data.root).resolve()),
                        "split": cfg.data.cam_split},
            "input_size": int(cfg.data.input_size), "class_names": list(class_names(cfg)),
            "cam": cam_map_settings(OmegaConf.to_container(cfg.cam, resolve=True)),
            "weights": {**file_stamp(path), **extra}}


def cam_location(cfg: DictConfig, ctx: RunContext,
                 images: LabelledImages | None = None) -> CamLocation:
    """The keyed store for this configuration (hashes the weights file once per process).

    Raises WeightsError when no weights file identifies the model.
    """
    # no weights file: require_checkpoint raises, naming the checkpoint and the fix
    path, extra = _weights_file(cfg, ctx) or (require_checkpoint(checkpoint_path(cfg, ctx)), {})
    model = (pretrained_fingerprint(extra["arch"], extra["weights"], path, extra["output_stride"])
             if extra else checkpoint_fingerprint(require_checkpoint(path)))
    images = images if images is not None else dataset(cfg, cfg.data.cam_split)
    inputs = key_inputs(data_format=cfg.data.get("format", "voc"),
                        root=absolute_path(cfg.data.root), split=cfg.data.cam_split,
                        ids=list(images.ids), input_size=cfg.data.input_size, model=model,
                        class_names=class_names(cfg),
                        cam_cfg=OmegaConf.to_container(cfg.cam, resolve=True),
                        class_lists=[np.flatnonzero(row).tolist() for row in images.labels])
    key = cache_key(inputs)
    if ctx.cam_store is not None:
        store = ctx.cam_store  # explicit cam.store_dir wins; its manifest still guards it
    elif ctx.cache_dir is not None:
        store = ctx.cache_dir / "cams" / key
    else:  # a context built without a cache (library use)
        store = ctx.run_dir / "cams"
    return CamLocation(store, key, inputs)


def write_cam_record(cfg: DictConfig, ctx: RunContext, location: CamLocation) -> None:
    """``<run_dir>/cam_store.json``: the store path and key, for the run's later stages."""
    weights = _weights_file(cfg, ctx)
    atomic_write_json(ctx.cam_record_path, {
        "path": str(location.path), "key": location.key,
        "check": _quick_check(cfg, weights) if weights else None})


def resolve_cam_dir(cfg: DictConfig, ctx: RunContext) -> Path:
    """The store a reading stage (localize, evaluate) should use; see the module docstring.

    Order: ``cam.store_dir``; this run's record if it still matches; the keyed cache when a
    weights file identifies the model; else the unkeyed ``<run_dir>/cams`` of older runs.
    """
    if ctx.cam_store is not None:
        return ctx.cam_store
    weights = _weights_file(cfg, ctx)
    if weights is None:
        return ctx.run_dir / "cams"
    record = _read_record(ctx.cam_record_path)
    if record and record.get("check") == _jsonable(_quick_check(cfg, weights)):
        return Path(record["path"])
    return cam_location(cfg, ctx).path


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None  # an unreadable record is only a missed shortcut: the key is recomputed
    return record if isinstance(record, dict) and "path" in record else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))
