"""Ranges and choices of every checked config value, tested before any stage runs.

The schema (:mod:`wsol.app.schema`) fixes each key's type; this table says which values make
sense. :func:`config_problems` lists every violation (``scripts/check_data.py`` shows them all);
:func:`validate_config` raises the first as one ConfigError naming the key, the value and what
is allowed, so a bad ``cam.*`` value stops a run before hours of training, not after them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

from wsol.app.schema import RunConfig
from wsol.app.stages import STAGE_ORDER
from wsol.app.value_checks import (
    Rule,
    above,
    arch_name,
    at_least,
    backbones,
    cam_methods,
    device_spec,
    distinct,
    each,
    is_number,
    lazy_choices,
    one_of,
    optional,
    ordered_stages,
    refiners,
    resnets,
    sanity_methods,
    within,
    wsol_methods,
)
from wsol.errors import ConfigError

CAM_CLASSES = ("gt", "topk", "all")
CAM_PRECISIONS = ("fp32", "bf16", "fp16")
CAM_IMAGE_SIZES = ("square", "original")
DATA_FORMATS = ("voc", "coco", "imagenet", "wsolevaluation")
OPTIMIZERS = ("adamw", "sgd", "sgd_nesterov")
SCHEDULES = ("cosine", "poly", "step")
LOSSES = ("multilabel", "softmax")
OUTPUT_STRIDES = (8, 16, 32)
SEGMENT_STRIDES = (8, 16)
DEVICES = ("cpu", "cuda")
SANITY_TESTS = ("cascading", "independent", "data")


MIN_THRESHOLD_STEP = 1e-4
MAX_THRESHOLDS = 10_001
STEP_ALLOWED = f"a number in [{MIN_THRESHOLD_STEP:g}, 1] (wsolevaluation's finest grid is 0.001)"
GRID_ALLOWED = f"null or a non-empty list of at most {MAX_THRESHOLDS} fractions in [0, 1]"
# PxAP (metrics/pixel.py) needs the CAM grid ascending; repeats pass check_thresholds there too.
CAM_GRID_ALLOWED = (f"null or a non-empty list of at most {MAX_THRESHOLDS} fractions in [0, 1] "
                    "in ascending order (PxAP needs thresholds in ascending order; repeats "
                    "allowed)")


def _grid(value: Any) -> bool:
    return each(within(0, 1))(value) and len(value) <= MAX_THRESHOLDS


def _ascending_grid(value: Any) -> bool:
    return value is None or (_grid(value) and all(a <= b for a, b in pairwise(value)))


# A split name becomes a file name (ImageSets/<image_set>/<split>.txt) and a run folder
# (select_<split>/): a plain name, so that no split reads or writes outside its folder.
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
SPLIT_ALLOWED = ("a plain split name: letters, digits, '_', '-', '.', not starting with '.', "
                 "no '/' or '\\' (e.g. train, train_aug, val2014)")


def _split_name(value: Any) -> bool:
    return isinstance(value, str) and _SPLIT_NAME.fullmatch(value) is not None


def _folder(variable: str) -> str:
    return (f"a non-empty folder path (when {variable} is set but empty: unset it, or set "
            f"{variable}=/a/folder)")


def _non_empty_path(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _box_protocols() -> Sequence[str]:
    from wsol.localize.boxes import PROTOCOLS

    return tuple(PROTOCOLS)


RULES: tuple[Rule, ...] = (
    Rule("stages", ordered_stages,
         f"a non-empty list of distinct stages in pipeline order, from {list(STAGE_ORDER)}"),
    Rule("paths.data_dir", _non_empty_path, _folder("WSOL_DATA")),
    Rule("paths.cache_dir", _non_empty_path, _folder("WSOL_CACHE")),
    Rule("data.train_split", optional(_split_name), f"null or {SPLIT_ALLOWED}"),
    Rule("data.val_split", optional(_split_name), f"null or {SPLIT_ALLOWED}"),
    Rule("data.cam_split", _split_name, SPLIT_ALLOWED),
    Rule("eval.select_split", optional(_split_name), f"null or {SPLIT_ALLOWED}"),
    Rule("data.image_set", optional(_split_name),
         "null or a plain folder name under ImageSets/ (Segmentation, Main; no '/' or '..')"),
    Rule("data.format", one_of(DATA_FORMATS), f"one of {list(DATA_FORMATS)}"),
    Rule("data.input_size", at_least(8), "an integer >= 8 (pixels)"),
    Rule("data.batch_size", at_least(1), "an integer >= 1"),
    Rule("data.num_workers", optional(at_least(0)),
         "null (from the CPUs this process may use) or an integer >= 0"),
    Rule("data.max_image_pixels", within(1, 178_956_970),
         "an integer in [1, 178956970] (PIL's own hard limit)"),
    Rule("data.augment", one_of(("rrc", "irn")), "one of ['rrc', 'irn']"),
    Rule("model.recipe", one_of(("default", "irn")), "one of ['default', 'irn']"),
    Rule("eval.score_size", optional(at_least(1)), "null or an integer >= 1 (pixels)"),
    Rule("data.crop_scale", lambda v: each(within(0, 1))(v) and len(v) == 2
         and 0 < v[0] <= v[1] <= 1, "[min, max] with 0 < min <= max <= 1"),
    Rule("data.crop_ratio", lambda v: each(above(0))(v) and len(v) == 2 and v[0] <= v[1],
         "[min, max] aspect ratios with 0 < min <= max"),
    Rule("model.arch", arch_name,
         lambda: f"one of {sorted(backbones())} or timm:<a timm model name>"),
    Rule("model.output_stride", one_of(OUTPUT_STRIDES), f"one of {list(OUTPUT_STRIDES)}"),
    Rule("model.optimizer", one_of(OPTIMIZERS), f"one of {list(OPTIMIZERS)}"),
    Rule("model.schedule", one_of(SCHEDULES), f"one of {list(SCHEDULES)}"),
    Rule("model.loss", one_of(LOSSES), f"one of {list(LOSSES)}"),
    Rule("model.lr_decay_epochs", at_least(0), "an integer >= 0 (0: no step decay)"),
    Rule("model.target_layer", optional(lambda v: isinstance(v, str) and bool(v)),
         "null (found from the architecture) or a module name"),
    Rule("model.wsol_method", lazy_choices(wsol_methods),
         lambda: f"one of {list(wsol_methods())}"),
    Rule("model.adl_drop_rate", within(0, 1), "a probability in [0, 1]"),
    Rule("model.adl_threshold", within(0, 1), "a fraction of the attention maximum in [0, 1]"),
    Rule("model.has_grid_size", at_least(1), "an integer >= 1 (patch side in pixels)"),
    Rule("model.has_drop_rate", within(0, 1), "a probability in [0, 1]"),
    Rule("model.cutmix_beta", above(0), "a number > 0"),
    Rule("model.cutmix_prob", within(0, 1), "a probability in [0, 1]"),
    Rule("model.lr", above(0), "a number > 0"),
    Rule("model.weight_decay", at_least(0), "a number >= 0"),
    Rule("model.head_lr_mult", above(0), "a number > 0"),
    Rule("model.warmup_fraction", lambda v: is_number(v) and 0 <= v < 1, "a fraction in [0, 1)"),
    Rule("seed", within(0, 2**32 - 1), "an integer in [0, 2**32 - 1]"),
    Rule("threads", optional(within(1, 1024)),
         "null (the CPUs this process may use that are idle) or an integer in [1, 1024]"),
    Rule("trainer.max_epochs", at_least(1), "an integer >= 1"),
    Rule("trainer.devices", device_spec, '"auto", -1, a count >= 1, "0,1" or a list of ids'),
    Rule("trainer.num_nodes", at_least(1), "an integer >= 1"),
    Rule("trainer.log_every_n_steps", at_least(1), "an integer >= 1"),
    Rule("trainer.check_val_every_n_epoch", at_least(1), "an integer >= 1"),
    Rule("trainer.limit_train_batches", optional(above(0)), "null or a number > 0"),
    Rule("trainer.limit_val_batches", optional(at_least(0)), "null or a number >= 0"),
    Rule("cam.method", lazy_choices(cam_methods), lambda: f"one of {list(cam_methods())}"),
    Rule("cam.classes", one_of(CAM_CLASSES), f"one of {list(CAM_CLASSES)}"),
    Rule("cam.topk", at_least(1), "an integer >= 1"),
    Rule("cam.scales", each(above(0)), "a non-empty list of numbers > 0"),
    Rule("cam.precision", one_of(CAM_PRECISIONS), f"one of {list(CAM_PRECISIONS)}"),
    Rule("cam.batch_size", at_least(1), "an integer >= 1"),
    Rule("cam.image_size", one_of(CAM_IMAGE_SIZES), f"one of {list(CAM_IMAGE_SIZES)}"),
    Rule("cam.store_stride", at_least(1), "an integer >= 1"),
    Rule("eval.box_protocol", lazy_choices(_box_protocols),
         lambda: f"one of {list(_box_protocols())}"),
    Rule("eval.box_threshold", optional(within(0, 1)),
         "null (eval.box_protocol's own fraction) or a fraction of the map's maximum in [0, 1]"),
    Rule("eval.cam_threshold_step", within(MIN_THRESHOLD_STEP, 1), STEP_ALLOWED),
    Rule("eval.cam_thresholds", _ascending_grid, CAM_GRID_ALLOWED),
    Rule("eval.iou_thresholds", each(within(1, 100)), "a non-empty list of IoU percents 1..100"),
    Rule("eval.bg_threshold", within(0, 1), "a background score in [0, 1]"),
    Rule("eval.bg_threshold_step", within(MIN_THRESHOLD_STEP, 1), STEP_ALLOWED),
    Rule("eval.bg_thresholds", optional(_grid), GRID_ALLOWED),
    Rule("eval.num_figures", at_least(0), "an integer >= 0"),
    Rule("pseudo.fg_threshold", within(0, 1), "a background score in [0, 1]"),
    Rule("pseudo.bg_threshold", within(0, 1), "a background score in [0, 1]"),
    Rule("pseudo.refiner", lazy_choices(refiners), lambda: f"one of {list(refiners())}"),
    Rule("pseudo.crf.iterations", at_least(1), "an integer >= 1"),
    Rule("pseudo.crf.gt_prob", lambda v: is_number(v) and 0 < v < 1, "a probability in (0, 1)"),
    Rule("pseudo.crf.spatial_sxy", above(0), "a number > 0 (pixels)"),
    Rule("pseudo.crf.spatial_compat", at_least(0), "a number >= 0"),
    Rule("pseudo.crf.bilateral_sxy", above(0), "a number > 0 (pixels)"),
    Rule("pseudo.crf.bilateral_srgb", above(0), "a number > 0 (0..255 colour units)"),
    Rule("pseudo.crf.bilateral_compat", at_least(0), "a number >= 0"),
    Rule("pseudo.max_images", optional(at_least(1)), "null (all) or an integer >= 1"),
    Rule("pseudo.num_workers", optional(at_least(0)),
         "null (from the CPUs this process may use) or an integer >= 0"),
    Rule("pseudo.device", one_of(DEVICES), f"one of {list(DEVICES)}"),
    Rule("segment.arch", lazy_choices(resnets), lambda: f"one of {list(resnets())}"),
    Rule("segment.output_stride", one_of(SEGMENT_STRIDES), f"one of {list(SEGMENT_STRIDES)}"),
    Rule("segment.head_channels", at_least(1), "an integer >= 1"),
    Rule("segment.atrous_rates", optional(each(at_least(1))),
         "null or a non-empty list of integers >= 1"),
    Rule("segment.max_epochs", at_least(1), "an integer >= 1"),
    Rule("segment.batch_size", at_least(1), "an integer >= 1"),
    Rule("segment.crop_size", at_least(8), "an integer >= 8 (pixels)"),
    Rule("segment.scale_range", lambda v: each(above(0))(v) and len(v) == 2 and v[0] <= v[1],
         "[min, max] with 0 < min <= max"),
    Rule("segment.lr", above(0), "a number > 0"),
    Rule("segment.head_lr_mult", above(0), "a number > 0"),
    Rule("segment.weight_decay", at_least(0), "a number >= 0"),
    Rule("segment.test_scales", each(above(0)), "a non-empty list of numbers > 0"),
    Rule("segment.test_refiner", lazy_choices(refiners),
         lambda: f"one of {list(refiners())}"),
    Rule("segment.num_workers", optional(at_least(0)),
         "null (from the CPUs this process may use) or an integer >= 0"),
    Rule("eval.faith_methods", optional(distinct(each(lazy_choices(cam_methods)))),
         lambda: f"null (cam.method) or distinct names from {list(cam_methods())}"),
    Rule("eval.faith_images", optional(at_least(1)), "null (all images) or an integer >= 1"),
    Rule("eval.faith_steps", at_least(1), "an integer >= 1"),
    Rule("report.gallery_per_class", optional(at_least(1)),
         "null (every pair) or an integer >= 1"),
    Rule("report.thumb_height", within(16, 1024), "an integer from 16 to 1024 (pixels)"),
    Rule("sanity.num_images", at_least(2), "an integer >= 2 (a spread needs two images)"),
    Rule("sanity.methods", optional(distinct(each(lazy_choices(sanity_methods)))),
         lambda: f"null (all) or distinct names from {list(sanity_methods())}"),
    Rule("sanity.tests", distinct(each(one_of(SANITY_TESTS))),
         f"a non-empty list of distinct tests from {list(SANITY_TESTS)}"),
)


def _value(config: RunConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _rule_problem(config: RunConfig, rule: Rule) -> str | None:
    value = _value(config, rule.key)
    if rule.ok(value):
        return None
    shown = list(value) if isinstance(value, (list, tuple)) else value
    return f"{rule.key}={shown!r} is not allowed: use {rule.describe()}."


def _cross_key_problems(config: RunConfig, registry: bool = True) -> Iterator[str]:
    """Values allowed alone but not together; those needing a library import come last, and
    only with ``registry`` (a generator: taking the first problem skips the later checks and
    their imports)."""
    model, pseudo = config.model, config.pseudo
    if model.checkpoint and "train" in config.stages:
        yield (f"model.checkpoint={model.checkpoint!r} is set but stages include train, whose "
               "model.pt the cam stage would not explain: drop model.checkpoint, or train out "
               "of stages.")
    if is_number(pseudo.bg_threshold) and is_number(pseudo.fg_threshold) \
            and pseudo.bg_threshold > pseudo.fg_threshold:
        yield (f"pseudo.bg_threshold={pseudo.bg_threshold} is above "
               f"pseudo.fg_threshold={pseudo.fg_threshold}: the ignored band needs "
               "bg_threshold <= fg_threshold.")
    select = config.eval.select_split
    if select is not None and (not select or select == config.data.cam_split):
        yield (f"eval.select_split={select!r} is not allowed: use null or a split other than "
               f"data.cam_split={config.data.cam_split!r} (thresholds chosen on the scored "
               "split would score their own choice).")
    if config.data.format == "wsolevaluation" and not config.data.metadata_dir:
        yield ("data.format=wsolevaluation needs data.metadata_dir: the dataset's folder of "
               "wsolevaluation's metadata/ (holding train/ val/ test/).")
    generate = config.data.generate
    if generate is not None:
        if not generate.num_images >= 4:
            yield (f"data.generate.num_images={generate.num_images} is not allowed: use an "
                   "integer >= 4.")
        if not 0 < generate.val_fraction < 1:
            yield (f"data.generate.val_fraction={generate.val_fraction} is not allowed: use "
                   "a fraction in (0, 1).")
    if not registry:
        return
    from wsol.models.backbones import BACKBONES, adl_positions

    spec = BACKBONES.get(model.arch)
    if spec is not None and model.output_stride not in spec.strides:
        yield (f"model.output_stride={model.output_stride} is not allowed for "
               f"model.arch={model.arch}: use one of {list(spec.strides)}.")
    if model.wsol_method == "adl" and "train" in config.stages:
        try:
            adl_positions(model.arch, model.output_stride)
        except ConfigError as err:
            yield str(err)
    from wsol.cam.protocols import check_protocol

    try:  # cam.protocol and the cam settings it needs, before any training
        check_protocol(config.cam.protocol, config.cam.image_size, config.cam.scales,
                       config.cam.flip)
    except ConfigError as err:
        yield str(err)


def config_problems(config: RunConfig) -> list[str]:
    """One message per rule the config breaks, in :data:`RULES` order, then the checks across
    keys."""
    found = [_rule_problem(config, rule) for rule in RULES]
    return [p for p in found if p] + list(_cross_key_problems(config))


def validate_config(config: RunConfig, registry: bool = True) -> None:
    """Raise ConfigError for the first broken rule (see :func:`config_problems`).

    The rules that read no library registry go first: a mistyped number then stops the command
    line without importing torch and torchvision (~5 s of the registries' imports).
    ``registry=False`` checks only those (a sweep checks every job's before any registry).
    """
    def lazily() -> Iterator[str | None]:  # a generator: nothing past the first problem runs
        yield from (_rule_problem(config, r) for r in RULES if not r.reads_registry)
        yield from _cross_key_problems(config, registry=False)
        if registry:
            yield from (_rule_problem(config, r) for r in RULES if r.reads_registry)
            yield from _cross_key_problems(config)  # its cheap checks passed above

    problem = next((p for p in lazily() if p), None)
    if problem:
        raise ConfigError(problem)
