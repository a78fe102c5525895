"""Every experiment config composes, with the keys the stages read."""

from pathlib import Path

import pytest
from helpers.runs import compose
from omegaconf import OmegaConf

from wsol.app.stages import STAGE_ORDER
from wsol.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


def _compose(*overrides):
    return compose(*overrides)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_the_keys_stages_read(experiment):
    cfg = _compose(f"experiment={experiment}")
    for key in ("data.root", "data.classes", "data.cam_split", "data.val_split", "model.arch",
                "cam.method", "cam.store_stride", "eval.bg_threshold", "trainer.max_epochs",
                "seed"):
        assert OmegaConf.select(cfg, key) is not None, key
    assert set(cfg.stages) <= set(STAGE_ORDER)


def test_no_argument_run_is_the_demo():
    cfg = _compose()
    assert cfg.data.name == "demo" and cfg.model.arch == "resnet18_quarter"
    assert list(cfg.stages)[:4] == ["train", "cam", "localize", "evaluate"]


def test_voc_resnet_is_the_irn_recipe():
    cfg = _compose("experiment=voc_resnet")
    assert cfg.model.arch == "resnet50" and cfg.model.output_stride == 16
    assert list(cfg.cam.scales) == [1.0, 0.5, 1.5, 2.0] and cfg.cam.flip
    assert cfg.data.cam_split == "train" and cfg.eval.bg_threshold == 0.15
    assert cfg.data.classes == "voc"


def test_unknown_experiment_is_an_error_naming_the_choices():
    with pytest.raises(ConfigError, match="voc_resnet"):
        _compose("experiment=nope")


def test_choosing_a_group_gives_its_settings_not_the_demos():
    demo = compose()
    assert demo.data.generate is not None and "report" in demo.stages
    assert (demo.data.input_size, demo.model.output_stride, demo.trainer.max_epochs) == (64, 8, 11)
    voc = compose("data=voc", "model=resnet50")
    assert voc.data.generate is None and voc.data.input_size == 448
    assert voc.model.output_stride == 16 and voc.trainer.max_epochs == 5
    assert list(voc.stages) == ["train", "cam", "localize", "evaluate"]
    assert voc.cam.store_stride == 4  # the cam group's default, not the demo's 2
    assert demo.eval.faithfulness and "sanity" in demo.stages  # the demo writes all outputs
    assert not voc.eval.faithfulness and voc.sanity.num_images == 16
    # an experiment that keeps the demo data keeps what the demo data brings
    assert compose("experiment=demo").trainer.max_epochs == 11


def test_a_missing_voc_root_stops_and_nothing_is_generated(tmp_path):
    from helpers.runs import run_pipeline

    from wsol.errors import DataError

    root = tmp_path / "VOC2012"
    with pytest.raises(DataError, match="data.root"):
        run_pipeline(tmp_path / "run", "data=voc", f"data.root={root}", "model.weights=null")
    assert not root.exists()


@pytest.mark.parametrize("override, closest", [
    ("data.rot=x", "data.root"), ("cam.metod=cam", "cam.method"), ("data=vocc", "voc"),
    ("evaluate.bg_threshold=0.1", "eval.bg_threshold")])
def test_a_mistyped_key_or_option_names_the_closest_valid_one(override, closest):
    with pytest.raises(ConfigError, match=f"did you mean '{closest}'"):
        compose(override)


def test_every_key_code_reads_is_declared_once_in_the_schema():
    """The YAML files choose values only: composing each group's files adds no key beyond the
    schema (an undeclared key would fail the merge), and code carries no defaults of its own."""
    import re

    from wsol.app.compose import schema_keys

    keys = set(schema_keys())
    src = Path(__file__).resolve().parents[2] / "src"
    smell = re.compile(r"\bcfg(\.\w+)*\.get\(")
    offenders = [p for p in src.rglob("*.py") if smell.search(p.read_text())]
    assert offenders == []
    for group in ("data", "model", "cam", "eval", "trainer", "pseudo", "segment"):
        for yaml in (CONFIGS / group).glob("*.yaml"):
            cfg = compose(f"{group}={yaml.stem}")
            assert {f"{group}.{k}" for k in cfg[group]} <= keys, yaml


@pytest.mark.parametrize("override, key", [
    ("cam.batch_size=0", "cam.batch_size"), ("cam.store_stride=0", "cam.store_stride"),
    ("cam.topk=0", "cam.topk"), ("data.num_workers=-1", "data.num_workers"),
    ("data.input_size=0", "data.input_size"), ("data.crop_scale=[0.5]", "data.crop_scale"),
    ("eval.num_figures=-1", "eval.num_figures"), ("model.lr=-1", "model.lr"),
    ("model.head_lr_mult=-1", "model.head_lr_mult"), ("model.warmup_fraction=2",
                                                       "model.warmup_fraction"),
    ("trainer.max_epochs=0", "trainer.max_epochs"), ("trainer.devices=0", "trainer.devices"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch"),
    ("seed=-1", "seed"), ("stages=[evaluate,train]", "stages"),
    ("cam.scales=[1.0,-0.5]", "cam.scales"), ("eval.iou_thresholds=[0]", "eval.iou_thresholds"),
    ("cam.method=gradcamm", "cam.method"), ("model.output_stride=12", "model.output_stride"),
    ("data.max_image_pixels=0", "data.max_image_pixels"),
    ("eval.cam_threshold_step=1e-7", "eval.cam_threshold_step"),
    ("eval.bg_threshold_step=0.00005", "eval.bg_threshold_step")])
def test_every_value_out_of_range_stops_before_any_stage(override, key, tmp_path):
    """Even a cam.* value stops a run whose first stage is training (nothing is trained)."""
    from helpers.runs import run_pipeline

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run_pipeline(tmp_path / "run", override, "data.generate.num_images=10")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_recipe_keys_of_issue_10_are_declared(experiment):
    cfg = _compose(f"experiment={experiment}")
    for key in ("cam.protocol", "data.augment", "model.recipe"):
        assert OmegaConf.select(cfg, key) is not None, key
    assert "score_size" in cfg.eval  # null is a value


def test_the_demo_keeps_its_own_recipe():
    cfg = _compose()
    assert (cfg.cam.protocol, cfg.data.augment, cfg.model.recipe) == ("default", "rrc",
                                                                      "default")
    assert cfg.eval.score_size is None and list(cfg.cam.scales) == [1.0]


def test_a_threshold_grid_is_bounded_whether_stepped_or_listed():
    """A step of 1e-7 asked numpy for (classes, 10^7) arrays; the finest grid is 1e-4."""
    import dataclasses

    from wsol.app.build import typed_config
    from wsol.app.validate import validate_config

    config = typed_config(compose("paths.run_dir=.", "eval.cam_threshold_step=0.0001",
                                  "eval.bg_threshold_step=0.0001"))
    validate_config(config)  # 10,001 thresholds: allowed
    for key in ("cam_thresholds", "bg_thresholds"):
        for size, ok in ((10_001, True), (10_002, False)):
            ev = dataclasses.replace(config.eval, **{key: [0.5] * size})
            changed = dataclasses.replace(config, eval=ev)
            if ok:
                validate_config(changed)
            else:
                with pytest.raises(ConfigError, match=f"eval.{key}=.* at most 10001 fractions"):
                    validate_config(changed)
