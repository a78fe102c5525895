"""Where a run's files live and how a stage finds its dataset (shared by every stage)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig

from wsol.datasets.classes import resolve_class_names
from wsol.datasets.records import LabelledImages
from wsol.errors import ConfigError, DataError


@dataclass(frozen=True)
class RunContext:
    """The files of one run directory and the CAM cache; stages read and write only these.

    ``cam_dir`` is the CAM store of this configuration: ``cam.store_dir`` when set, else
    ``<cache_dir>/cams/<key>`` keyed by what determines the maps (see
    :mod:`wsol.app.cam_cache`); without ``cfg`` (library use) ``<run_dir>/cams``.
    """

    run_dir: Path
    cam_store: Path | None = None  # cam.store_dir: an explicit store (wins over the cache)
    cache_dir: Path | None = None  # paths.cache_dir: root of the content-keyed CAM cache
    cfg: DictConfig | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> RunContext:
        """The context of ``cfg``'s run (paths resolved against the launch directory)."""
        store_dir = cfg.cam.get("store_dir")
        cache_dir = cfg.paths.get("cache_dir")
        return cls(absolute_path(cfg.paths.run_dir),
                   absolute_path(store_dir) if store_dir else None,
                   absolute_path(cache_dir) if cache_dir else None, cfg)

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.pt"

    @property
    def cam_dir(self) -> Path:
        if self.cfg is None:
            return self.cam_store or self.run_dir / "cams"
        from wsol.app.cam_cache import resolve_cam_dir  # it imports this module

        return resolve_cam_dir(self.cfg, self)

    @property
    def cam_record_path(self) -> Path:
        """``cam_store.json``: the store path and key the cam stage of this run used."""
        return self.run_dir / "cam_store.json"

    @property
    def boxes_path(self) -> Path:
        return self.run_dir / "boxes.json"

    @property
    def seeds_dir(self) -> Path:
        return self.run_dir / "seeds"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.json"

    @property
    def curves_path(self) -> Path:
        return self.run_dir / "curves.csv"

    @property
    def figures_dir(self) -> Path:
        return self.run_dir / "figures"


def absolute_path(path: str | Path) -> Path:
    """Resolve a config path against the directory the user launched from (not Hydra's cwd)."""
    try:
        from hydra.utils import to_absolute_path

        return Path(to_absolute_path(str(path)))
    except ValueError:  # not inside a Hydra app (library use, tests)
        return Path(path).resolve()


def class_names(cfg: DictConfig, root: Path | None = None) -> tuple[str, ...]:
    """The configured class list (``data.classes``: ``voc``, ``coco``, ``shapes``, ``imagenet``
    (the wnids of the tree's LOC_synset_mapping.txt, in torchvision's order) or a list).

    root: the dataset root when the caller has it (default :func:`data_root`, which may
    generate the demo); only ``imagenet`` reads it.
    """
    spec = cfg.data.classes
    if isinstance(spec, str) and spec.strip().lower() == "imagenet":
        from wsol.datasets.imagenet import imagenet_class_names

        return imagenet_class_names(root if root is not None else data_root(cfg))
    return resolve_class_names(spec)


def data_root(cfg: DictConfig) -> Path:
    """The dataset root, generated first when the data config asks for the embedded demo."""
    root = absolute_path(cfg.data.root)
    if cfg.data.get("generate"):
        from wsol.demo.synthetic import ensure_demo_dataset

        ensure_demo_dataset(root, **cfg.data.generate)
    elif not root.is_dir():
        from wsol.datasets.roots import root_hint

        raise DataError(
            f"Dataset root {root} (data.root) does not exist{root_hint(root)}. Point data.root "
            f"at your {cfg.data.name} tree or set WSOL_DATA; data/README.md shows the expected "
            f"layout and `python scripts/check_data.py` checks it."
        )
    return root


# data.format -> "module:class"; each class has ``from_config(root, split, data_cfg,
# class_names, require_masks)``. Imported only when used (pycocotools only for COCO).
DATASET_FORMATS: dict[str, str] = {
    "voc": "wsol.datasets.voc:VOCDataset",
    "coco": "wsol.datasets.coco:COCODataset",
    "imagenet": "wsol.datasets.imagenet:ImageNetDataset",
}


def dataset(cfg: DictConfig, split: str, require_masks: bool = False) -> LabelledImages:
    """The ``split`` of the configured dataset (any format) under :func:`data_root`."""
    fmt = cfg.data.get("format", "voc")
    if fmt not in DATASET_FORMATS:
        raise ConfigError(f"data.format={fmt!r} is not supported; choose one of "
                          f"{sorted(DATASET_FORMATS)}.")
    module, name = DATASET_FORMATS[fmt].split(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.from_config(data_root(cfg), split, cfg.data, class_names(cfg), require_masks)


def uses_pretrained_classifier(cfg: DictConfig, ctx: RunContext) -> bool:
    """True when the cam stage explains torchvision's pretrained classifier (``model.weights``,
    its own head) as it is: no ``model.checkpoint``, no train stage, no model.pt in the run."""
    return (not cfg.model.get("checkpoint") and "train" not in cfg.stages
            and bool(cfg.model.get("weights")) and not ctx.model_path.is_file())


def cam_classifier(cfg: DictConfig, ctx: RunContext) -> tuple[torch.nn.Module, str]:
    """(net in eval mode, target layer) the cam stage explains: the checkpoint
    (``model.checkpoint`` or this run's model.pt), else the pretrained classifier."""
    names = class_names(cfg)
    if uses_pretrained_classifier(cfg, ctx):
        from wsol.models.backbones import build_backbone

        net, layer = build_backbone(cfg.model.arch, len(names), cfg.model.weights,
                                    int(cfg.model.get("output_stride", 32)), replace_head=False)
        return net.eval(), layer
    from wsol.models.checkpoint import load_classifier

    net, layer, _ = load_classifier(checkpoint_path(cfg, ctx), list(names))
    return net, layer


def require_model_inputs(cfg: DictConfig, ctx: RunContext) -> None:
    """Before any work: the pretrained weights file a stage will read, or the checkpoint the
    cam stage needs, must exist (WeightsError naming the file, the URL and the fix)."""
    from wsol.models.checkpoint import require_checkpoint
    from wsol.models.weights import require_pretrained_file

    weights = cfg.model.get("weights")
    if weights and ("train" in cfg.stages or uses_pretrained_classifier(cfg, ctx)):
        require_pretrained_file(cfg.model.arch, weights)
    if "cam" in cfg.stages and "train" not in cfg.stages \
            and not uses_pretrained_classifier(cfg, ctx):
        require_checkpoint(checkpoint_path(cfg, ctx))


def checkpoint_path(cfg: DictConfig, ctx: RunContext) -> Path:
    """``model.checkpoint`` when set, else the ``model.pt`` the train stage wrote in this run."""
    chosen = cfg.model.get("checkpoint")
    return absolute_path(chosen) if chosen else ctx.model_path
