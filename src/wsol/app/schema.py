"""Every configuration key, declared once with its type and default.

The dataclasses below are registered with Hydra's ConfigStore as ``wsol_schema``, the first
entry of ``configs/run.yaml``'s defaults list, so every YAML file and command-line override is
merged into a typed node: an unknown key or a value of the wrong type stops composition. The
YAML files under ``configs/`` choose values; they never add keys. Ranges and choices are checked
by :mod:`wsol.app.validate` before any stage runs.

Code reads a composed config as ``RunConfig`` (``OmegaConf.to_object``), never through a
lookup with a fallback value: a default lives here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SCHEMA_NAME = "wsol_schema"


@dataclass
class PathsConfig:
    """Where data, the CAM cache and the run directory live (relative: from the launch dir)."""

    data_dir: str = "${oc.env:WSOL_DATA,data}"
    cache_dir: str = "${oc.env:WSOL_CACHE,cache}"
    run_dir: str = "${hydra:runtime.output_dir}"


@dataclass
class GenerateConfig:
    """The generated demo dataset (``data.generate``; null for real datasets)."""

    num_images: int = 3000
    image_size: int = 64
    val_fraction: float = 0.2
    seed: int = 0
    style: str = "standard"


@dataclass
class DataConfig:
    """One dataset: its format, tree, classes, splits and the classifier's input pipeline."""

    name: str = "demo"
    format: str = "voc"  # voc | coco | imagenet | wsolevaluation
    root: str = "${paths.data_dir}/demo/VOCshapes"
    # voc | coco | shapes | imagenet | wsolevaluation | an explicit list of names
    classes: Any = "shapes"
    image_set: str | None = "Segmentation"  # VOC: ImageSets/<image_set>/<split>.txt
    # VOC: masks folder (SBD: SegmentationClassAug); wsolevaluation: the folder under root the
    # mask paths of localization.txt are relative to ("." = root)
    mask_dir: str = "SegmentationClass"
    metadata_dir: str | None = None  # wsolevaluation: metadata/<NAME> (train/ val/ test/)
    train_split: str | None = "train"
    cam_split: str = "val"
    val_split: str | None = "val"
    input_size: int = 128
    batch_size: int = 64
    num_workers: int | None = None  # null: from the CPUs this process may use
    cache_images: bool = False
    crop_scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    # random resized crop: aspect range (w/h as fractions of the image's sides; [1, 1] with a
    # fixed crop_scale is wsolevaluation's resize-to-256, random 224 crop)
    crop_ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])
    # decoded images and masks above this many pixels are refused from their header (a
    # decompression bomb); the field's largest real images are far inside 8192²
    max_image_pixels: int = 67108864
    augment: str = "rrc"  # rrc (random resized crop) | irn (IRN's long-side rescale + 512 crop)
    blacklist: str | None = None  # ILSVRC: the 2014 localization blacklist file to leave out
    generate: GenerateConfig | None = None


@dataclass
class ModelConfig:
    """The classifier: architecture, initial weights, output stride and its optimisation."""

    arch: str = "resnet18_quarter"
    weights: str | None = None  # torchvision enum name, read from the local torch cache
    output_stride: int = 32
    optimizer: str = "adamw"  # adamw | sgd | sgd_nesterov (momentum 0.9)
    lr: float = 0.001
    weight_decay: float = 0.0001
    head_lr_mult: float = 1.0
    schedule: str = "cosine"  # cosine | poly | step (x0.1 every lr_decay_epochs epochs)
    warmup_fraction: float = 0.05
    freeze_bn: bool = False
    channels_last: bool = False
    checkpoint: str | None = None  # model.pt to explain; null: this run's own
    loss: str = "multilabel"  # multilabel (per-class sigmoid) | softmax (one class per image)
    lr_decay_epochs: int = 0  # schedule=step: epochs between x0.1 decays (wsolevaluation)
    target_layer: str | None = None  # the CAM target; null: the architecture's own
    # training-time WSOL method (wsol.models.wsol_methods): cam (none) | has | adl | cutmix,
    # with wsolevaluation's published hyperparameters as defaults
    wsol_method: str = "cam"
    adl_drop_rate: float = 0.75
    adl_threshold: float = 0.9
    has_grid_size: int = 4
    has_drop_rate: float = 0.5
    cutmix_beta: float = 1.0
    cutmix_prob: float = 1.0
    recipe: str = "default"  # default | irn (IRN's train_cam: what trains, BN, bias-free head)



@dataclass
class TrainerConfig:
    """Passed to ``pytorch_lightning.Trainer`` as keyword arguments."""

    max_epochs: int = 5
    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: Any = "32-true"
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    limit_train_batches: Any | None = None
    limit_val_batches: Any | None = None
    deterministic: bool = False


@dataclass
class CamConfig:
    """The cam stage: which maps, how they are made and where they are stored."""

    method: str = "gradcam"
    classes: str = "gt"  # gt | topk | all
    topk: int = 1
    scales: list[float] = field(default_factory=lambda: [1.0])
    flip: bool = False
    precision: str = "fp32"  # fp32 | bf16 | fp16
    channels_last: bool = False
    batch_size: int = 64
    image_size: str = "square"  # square | original
    store_stride: int = 4
    store_dir: str | None = None  # null: the content-keyed cache under paths.cache_dir
    protocol: str = "default"  # default | irn | wsolevaluation (src/wsol/cam/protocols.py)


@dataclass
class EvalConfig:
    """Box protocol, threshold sweeps and what the evaluate stage scores."""

    box_protocol: str = "gradcam"  # gradcam (15 %) | cam (20 %)
    box_threshold: float | None = None  # null: box_protocol's own; a fraction overrides it
    cam_threshold_step: float = 0.01
    cam_thresholds: list[float] | None = None  # explicit grid instead of the step
    iou_thresholds: list[int] = field(default_factory=lambda: [30, 50, 70])
    multi_contour: bool = False
    bg_threshold: float = 0.15
    bg_threshold_step: float = 0.05
    bg_thresholds: list[float] | None = None  # explicit grid instead of the step
    num_figures: int = 6
    seeds_dir: str | None = None  # score this folder of label PNGs as well
    score_size: int | None = None  # score maps, boxes and masks at N x N (wsolevaluation: 224)
    # wsolevaluation's protocol: the split (train-fullsup: val) whose maps choose the operating
    # thresholds that are then scored on data.cam_split; null: no selection split
    select_split: str | None = None
    faithfulness: bool = False  # deletion / insertion AUC, Average Drop / Increase (faith/*)
    faith_methods: list[str] | None = None  # null: cam.method
    faith_images: int | None = None  # null: every image of the split; N: N spread over it
    faith_steps: int = 32  # deletion / insertion steps (pixels changed per step: H*W / steps)


@dataclass
class CrfConfig:
    """Dense CRF by mean field (``pseudo.crf``); the defaults are IRN's crf_inference_label."""

    iterations: int = 10
    gt_prob: float = 0.7  # confidence given to a seed's label in the unary
    spatial_sxy: float = 3.0  # smoothness kernel: position std (pixels) and weight
    spatial_compat: float = 3.0
    bilateral_sxy: float = 50.0  # appearance kernel: position std, colour std (0..255), weight
    bilateral_srgb: float = 5.0
    bilateral_compat: float = 10.0


@dataclass
class PseudoConfig:
    """The pseudo stage: IRN's confident fg / bg pseudo-labels from the CAM store, refined."""

    fg_threshold: float = 0.30  # foreground where the seed at this tau is foreground
    bg_threshold: float = 0.05  # background where the seed at this tau is background
    refiner: str = "crf"  # crf | none (wsol.pseudo.refiners.REFINERS)
    crf: CrfConfig = field(default_factory=CrfConfig)
    max_images: int | None = None  # the first N images of data.cam_split; null: all
    num_workers: int | None = None  # CRF processes; null: from the CPUs this process may use
    device: str = "cpu"  # cpu | cuda: where the CRF runs
    dir: str | None = None  # null: <run_dir>/pseudo


@dataclass
class SegmentConfig:
    """The segment stage: DeepLabV3 trained on the pseudo-labels, scored on data.val_split."""

    arch: str = "resnet50"  # a ResNet of wsol.models.backbones
    output_stride: int = 16  # 8 | 16 (layer4, and layer3 for 8, keep their resolution)
    dilate: bool = True  # those stages dilate (DeepLab); false: rate 1, as IRN's classifier
    weights: str | None = None  # null: scratch | classifier: model.pt's backbone | enum name
    head_channels: int = 256  # ASPP width
    atrous_rates: list[int] | None = None  # null: (6, 12, 18) at stride 16, doubled at 8
    max_epochs: int = 20
    batch_size: int = 16
    crop_size: int = 512
    scale_range: list[float] = field(default_factory=lambda: [0.5, 1.5])
    lr: float = 0.01  # SGD, momentum 0.9, poly schedule (power 0.9) per step
    head_lr_mult: float = 10.0
    weight_decay: float = 0.0001
    test_scales: list[float] = field(default_factory=lambda: [1.0])
    test_flip: bool = False
    test_refiner: str = "none"  # none | crf (pseudo.crf, unary from the softmax)
    num_workers: int | None = None  # loader workers; null: from the CPUs this process may use


@dataclass
class SanityConfig:
    """The sanity stage: Adebayo et al.'s randomisation tests of the maps."""

    num_images: int = 16  # images of data.cam_split, spread over the split
    methods: list[str] | None = None  # null: every cam.method choice + the two guided methods
    tests: list[str] = field(default_factory=lambda: ["cascading", "independent"])  # + data


@dataclass
class ReportConfig:
    """The report stage: where it and scripts/make_tables.py look for earlier runs, and the
    gallery of report.html."""

    search_dirs: list[str] = field(default_factory=lambda: ["outputs", "multirun"])
    gallery_per_class: int | None = 6  # report.html: best and worst pairs per class; null: all
    thumb_height: int = 96  # report.html: gallery thumbnail height (pixels)


@dataclass
class RunConfig:
    """The whole run (``configs/run.yaml`` composes one)."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    cam: CamConfig = field(default_factory=CamConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    sanity: SanityConfig = field(default_factory=SanityConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    stages: list[str] = field(default_factory=lambda: ["train", "cam", "localize", "evaluate"])
    seed: int = 0
    optimize_metric: str = "seg/miou_best"  # the metrics.json key returned to Hydra sweepers
    # CPUs one process of the run uses: torch's intra-op threads and the worker processes of
    # localize / evaluate; null: those of its affinity / cgroup quota / OMP_NUM_THREADS, split
    # between DDP ranks, that other processes leave idle when the run starts (wsol.io.cpus)
    threads: int | None = None


def register() -> None:
    """Register :class:`RunConfig` with Hydra's ConfigStore (idempotent)."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunConfig)


register()
