"""Every experiment config composes, with the keys the stages read."""

from pathlib import Path

import pytest
from helpers.runs import compose
from omegaconf import OmegaConf

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
    assert set(cfg.stages) <= {"train", "cam", "localize", "evaluate", "report"}


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
