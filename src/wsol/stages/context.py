"""Where a run's files live and how a stage finds its dataset (shared by every stage)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from wsol.data.classes import resolve_class_names
from wsol.data.records import LabelledImages
from wsol.errors import ConfigError, DataError


@dataclass(frozen=True)
class RunContext:
    """The files of one run directory; stages read and write only these."""

    run_dir: Path
    cam_store: Path | None = None  # cam.store_dir: reuse another run's maps (e.g. in sweeps)

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.pt"

    @property
    def cam_dir(self) -> Path:
        return self.cam_store or self.run_dir / "cams"

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


def class_names(cfg: DictConfig) -> tuple[str, ...]:
    """The configured class list (``data.classes``: ``voc``, ``shapes`` or an explicit list)."""
    return resolve_class_names(cfg.data.classes)


def data_root(cfg: DictConfig) -> Path:
    """The dataset root, generated first when the data config asks for the embedded demo."""
    root = absolute_path(cfg.data.root)
    if cfg.data.get("generate"):
        from wsol.data.synthetic import ensure_demo_dataset

        ensure_demo_dataset(root, **cfg.data.generate)
    elif not root.is_dir():
        raise DataError(
            f"Dataset root {root} (data.root) does not exist. Point data.root at your "
            f"{cfg.data.name} tree or set WSOL_DATA; data/README.md shows the expected layout."
        )
    return root


# data.format -> "module:class"; each class has ``from_config(root, split, data_cfg,
# class_names, require_masks)``. Imported only when used (pycocotools only for COCO).
DATASET_FORMATS: dict[str, str] = {
    "voc": "wsol.data.voc:VOCDataset",
    "coco": "wsol.data.coco:COCODataset",
    "imagenet": "wsol.data.imagenet:ImageNetDataset",
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


def checkpoint_path(cfg: DictConfig, ctx: RunContext) -> Path:
    """``model.checkpoint`` when set, else the ``model.pt`` the train stage wrote in this run."""
    chosen = cfg.model.get("checkpoint")
    return absolute_path(chosen) if chosen else ctx.model_path
