"""Where a run's files live and how a stage finds its dataset (shared by every stage)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from wsol.data.classes import resolve_class_names
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


def voc_dataset(cfg: DictConfig, split: str, require_masks: bool = False):
    """The VOC-format dataset of ``split`` under :func:`data_root`."""
    if cfg.data.format != "voc":
        raise ConfigError(f"data.format={cfg.data.format!r} is not supported yet; use 'voc'.")
    from wsol.data.voc import VOCDataset

    return VOCDataset(data_root(cfg), split, class_names(cfg), image_set=cfg.data.image_set,
                      require_masks=require_masks)


def checkpoint_path(cfg: DictConfig, ctx: RunContext) -> Path:
    """``model.checkpoint`` when set, else the ``model.pt`` the train stage wrote in this run."""
    chosen = cfg.model.get("checkpoint")
    return absolute_path(chosen) if chosen else ctx.model_path
