"""The config turned into run objects, once: where files go, which dataset, which classifier.

:func:`build_run` is the one place a composed config becomes typed objects. Stages are
functions of the :class:`Run` it returns; nothing here reads a dataset or hashes a file until a
stage asks (``run.data.open(split)`` and the CAM store location are explicit calls, memoised,
never properties with a hidden cost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omegaconf import DictConfig, OmegaConf

from wsol.app.schema import DataConfig, ModelConfig, RunConfig
from wsol.datasets.records import LabelledImages
from wsol.errors import ConfigError, DataError
from wsol.io.paths import file_in_the_way


def _open_voc(root: Path, split: str, data: DataConfig, names: tuple[str, ...],
              masks: bool) -> LabelledImages:
    from wsol.datasets.voc import VOCDataset

    return VOCDataset(root, split, names, image_set=data.image_set or "Segmentation",
                      require_masks=masks, mask_dir=data.mask_dir,
                      max_image_pixels=data.max_image_pixels)


def _open_coco(root: Path, split: str, data: DataConfig, names: tuple[str, ...],
               masks: bool) -> LabelledImages:
    from wsol.datasets.coco import COCODataset  # pycocotools only for COCO

    return COCODataset(root, split, names, require_masks=masks,
                       max_image_pixels=data.max_image_pixels)


def _open_imagenet(root: Path, split: str, data: DataConfig, names: tuple[str, ...],
                   masks: bool) -> LabelledImages:
    from wsol.datasets.imagenet import ImageNetDataset

    blacklist = absolute_path(data.blacklist) if data.blacklist else None
    return ImageNetDataset(root, split, names, require_masks=masks,
                           max_image_pixels=data.max_image_pixels, blacklist=blacklist)


def _open_wsolevaluation(root: Path, split: str, data: DataConfig, names: tuple[str, ...],
                         masks: bool) -> LabelledImages:
    from wsol.datasets.wsolevaluation import WsolEvalDataset

    return WsolEvalDataset(root, split, names, metadata_root=metadata_path(data),
                           mask_dir=data.mask_dir, require_masks=masks,
                           max_image_pixels=data.max_image_pixels)


# data.format -> the reader of one split, from the typed ``data`` config.
DATASET_FORMATS: dict[str, Callable[..., LabelledImages]] = {
    "voc": _open_voc, "coco": _open_coco, "imagenet": _open_imagenet,
    "wsolevaluation": _open_wsolevaluation,
}


def absolute_path(path: str | Path) -> Path:
    """A config path resolved against the directory the user launched from (not Hydra's cwd);
    a leading ``~`` is the home folder (``WSOL_CACHE='~/x'`` made a folder named ``~``)."""
    path = Path(path).expanduser()
    try:
        from hydra.utils import to_absolute_path

        return Path(to_absolute_path(str(path)))
    except ValueError:  # not inside a Hydra app (library use, tests)
        return path.resolve()


def metadata_path(data: DataConfig) -> Path | None:
    """``data.metadata_dir`` resolved from the launch directory (wsolevaluation format)."""
    return absolute_path(data.metadata_dir) if data.metadata_dir else None


def root_blocked_message(root: Path, blocker: Path) -> str:
    """One line for a dataset root that cannot be a folder: ``blocker`` (the root or a folder
    above it) is a file."""
    return (f"{blocker} is a file, not a folder, so the dataset root {root} (data.root) cannot "
            "be there: point data.root, or paths.data_dir / WSOL_DATA, at a folder.")


@dataclass(frozen=True)
class DataSource:
    """The configured dataset: its format, root and classes, and its splits on demand."""

    config: DataConfig
    root: Path
    _splits: dict = field(default_factory=dict, compare=False, repr=False)
    # cleared by the data checker (scripts/check_data.py), which must never write a tree
    _may_generate: list = field(default_factory=lambda: [True], compare=False, repr=False)

    def forbid_generation(self) -> None:
        """From now on a demo tree made with other ``data.generate`` settings (or none) is a
        DataError saying so, instead of being (re)generated."""
        self._may_generate[0] = False

    @property
    def masks_expected(self) -> bool:
        """Whether the splits carry segmentation masks to score (VOC Segmentation, COCO; the
        wsolevaluation splits whose localization.txt lists masks, OpenImages)."""
        fmt = self.config.format
        return fmt in ("coco", "wsolevaluation") or (fmt == "voc"
                                                     and self.config.image_set == "Segmentation")

    def ensure_root(self) -> Path:
        """The root, after generating the demo when ``data.generate`` asks for it.

        Raises DataError naming ``data.root`` when a real dataset's root is missing, or when
        a file stands where the root or a folder above it must be.
        """
        blocker = file_in_the_way(self.root)
        if blocker is not None:
            raise DataError(root_blocked_message(self.root, blocker))
        if self.config.generate is not None:
            from dataclasses import asdict

            from wsol.demo.synthetic import demo_tree_problem, ensure_demo_dataset

            params = asdict(self.config.generate)
            if not self._may_generate[0]:
                problem = demo_tree_problem(self.root, **params)
                if problem:
                    raise DataError(problem)
                return self.root
            ensure_demo_dataset(self.root, hold=True, **params)
        elif not self.root.is_dir():
            from wsol.datasets.roots import root_hint

            raise DataError(
                f"Dataset root {self.root} (data.root) does not exist{root_hint(self.root)}. "
                f"Point data.root at your {self.config.name} tree or set WSOL_DATA; "
                "data/README.md shows the expected layout and `python scripts/check_data.py` "
                "checks it.")
        return self.root

    def class_names(self) -> tuple[str, ...]:
        """``data.classes`` resolved: a named list (voc, coco, shapes), an explicit list, or
        ``imagenet`` (the wnids of the tree's LOC_synset_mapping.txt, torchvision's order), or
        ``wsolevaluation`` (from data.metadata_dir's class_labels.txt and image folders)."""
        if "classes" not in self._splits:
            spec = self.config.classes
            named = spec.strip().lower() if isinstance(spec, str) else None
            if named == "imagenet":
                from wsol.datasets.imagenet import imagenet_class_names

                names = imagenet_class_names(self.root)
            elif named == "wsolevaluation":
                from wsol.datasets.wsolevaluation import wsolevaluation_class_names

                names = wsolevaluation_class_names(metadata_path(self.config))
            else:
                from wsol.datasets.classes import resolve_class_names

                names = resolve_class_names(spec)
            self._splits["classes"] = names
        return self._splits["classes"]

    def open(self, split: str, require_masks: bool = False) -> LabelledImages:
        """The split ``split`` (read once per process; the demo is generated first if needed)."""
        if (split, True) in self._splits:  # read with its masks checked: serves both uses
            return self._splits[(split, True)]
        key = (split, require_masks)
        if key not in self._splits:
            opener = DATASET_FORMATS[self.config.format]
            self._splits[key] = opener(self.ensure_root(), split, self.config,
                                       self.class_names(), require_masks)
        return self._splits[key]


ClassifierKind = Literal["trained", "checkpoint", "pretrained", "none"]


@dataclass(frozen=True)
class ClassifierSource:
    """The network the cam stage explains.

    kind: ``trained`` (the model.pt this run's train stage writes), ``checkpoint`` (a model.pt
    given by ``model.checkpoint`` or left in the run directory), ``pretrained`` (torchvision's
    classifier ``model.weights`` as it is, its own head), or ``none`` (nothing to explain).
    """

    kind: ClassifierKind
    checkpoint: Path | None
    model: ModelConfig

    def load(self, class_names: tuple[str, ...]):
        """``(net in eval mode, target layer name)``; ``model.target_layer`` wins when set."""
        if self.kind == "pretrained":
            from wsol.models.backbones import build_backbone

            net, layer = build_backbone(self.model.arch, len(class_names), self.model.weights,
                                        self.model.output_stride, replace_head=False)
            return net.eval(), self.model.target_layer or layer
        from wsol.models.checkpoint import load_classifier, require_checkpoint

        if self.checkpoint is None:
            raise ConfigError("no classifier to explain: set model.checkpoint=PATH/model.pt, "
                              "add train to stages, or name torchvision weights model.weights")
        net, layer, meta = load_classifier(require_checkpoint(self.checkpoint), list(class_names))
        self.require_config_matches(meta)
        return net, self.model.target_layer or layer

    def require_config_matches(self, meta: dict) -> None:
        """Refuse a checkpoint whose network is not the one the config names: the run's
        record (``.hydra/config.yaml``) must say what ran. meta: the checkpoint's metadata."""
        wanted = {"model.arch": self.model.arch, "model.output_stride": self.model.output_stride}
        saved = {"model.arch": meta["arch"], "model.output_stride": meta["output_stride"]}
        differ = [f"{k}={wanted[k]!r} but the checkpoint's is {saved[k]!r}"
                  for k in wanted if wanted[k] != saved[k]]
        if differ:
            raise ConfigError(
                f"{self.checkpoint} is not the network the config names: {'; '.join(differ)}. "
                "Pass the checkpoint's own settings ("
                + " ".join(f"{k}={v}" for k, v in saved.items())
                + ", or the model= / experiment= it was trained with), or another "
                "model.checkpoint.")


@dataclass(frozen=True)
class Run:
    """One run: its typed config, its directory's files, dataset, classifier and CAM cache."""

    config: RunConfig
    run_dir: Path
    data: DataSource
    classifier: ClassifierSource
    cache_dir: Path
    store_dir: Path | None  # cam.store_dir: an explicit store, wins over the keyed cache
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(self.config.stages)

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.pt"

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

    def class_names(self) -> tuple[str, ...]:
        return self.data.class_names()


def typed_config(cfg: DictConfig | RunConfig) -> RunConfig:
    """A composed config as :class:`RunConfig` instances, every interpolation resolved."""
    if isinstance(cfg, RunConfig):
        return cfg
    return OmegaConf.to_object(cfg)


def classifier_source(config: RunConfig, run_dir: Path) -> ClassifierSource:
    """Which network the cam stage will explain, decided from the config and the run dir."""
    model = config.model
    own = run_dir / "model.pt"
    if model.checkpoint:
        return ClassifierSource("checkpoint", absolute_path(model.checkpoint), model)
    if "train" in config.stages:
        return ClassifierSource("trained", own, model)
    if own.is_file():
        return ClassifierSource("checkpoint", own, model)
    if model.weights:
        return ClassifierSource("pretrained", None, model)
    return ClassifierSource("none", None, model)


def build_run(cfg: DictConfig | RunConfig) -> Run:
    """The run objects of a composed config (validated: see :mod:`wsol.app.validate`)."""
    from wsol.app.validate import validate_config

    config = typed_config(cfg)
    validate_config(config)
    run_dir = absolute_path(config.paths.run_dir)
    data = DataSource(config.data, absolute_path(config.data.root))
    store_dir = absolute_path(config.cam.store_dir) if config.cam.store_dir else None
    return Run(config, run_dir, data, classifier_source(config, run_dir),
               absolute_path(config.paths.cache_dir), store_dir)
