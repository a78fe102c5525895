"""The benchmark's config values are checked before any stage: each message names the key and
what is allowed."""

from __future__ import annotations

import pytest
from helpers.runs import compose

from wsol.app.build import typed_config
from wsol.app.validate import config_problems


@pytest.mark.parametrize("overrides, words", [
    (("model.output_stride=32",), "model.output_stride=32 is not allowed for model.arch=vgg16_cam"),
    (("model.arch=timm:deit_tiny_patch16_224", "model.wsol_method=adl"), "ADL layers"),
    (("model.arch=timm:no_such_model",), "timm:<a timm model name>"),
    (("eval.select_split=test",), "eval.select_split='test' is not allowed"),
    (("data.metadata_dir=null",), "needs data.metadata_dir"),
    (("model.wsol_method=mixup",), "model.wsol_method='mixup' is not allowed"),
    (("model.has_drop_rate=1.5",), "model.has_drop_rate=1.5 is not allowed"),
    (("model.loss=focal",), "model.loss='focal' is not allowed"),
    (("data.crop_ratio=[2.0,1.0]",), "data.crop_ratio"),
])
def test_benchmark_values_out_of_range_are_named(overrides, words):
    config = typed_config(compose("paths.run_dir=.", "experiment=cub_vgg16_cam", *overrides))
    problems = config_problems(config)
    assert len(problems) == 1 and words in problems[0], problems


def test_the_recipes_and_timm_names_pass():
    for overrides in ((), ("model.arch=timm:resnet18", "model.weights=null"),
                      ("model.wsol_method=adl",), ("model.output_stride=8",)):
        config = typed_config(compose("paths.run_dir=.", "experiment=cub_vgg16_cam", *overrides))
        assert config_problems(config) == []
