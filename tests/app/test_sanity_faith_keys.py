"""The sanity and faithfulness keys: declared with defaults, and their ranges checked up front."""

from __future__ import annotations

import pytest
from helpers.runs import build

from wsol.errors import ConfigError


def test_defaults_are_opt_in(tmp_path):
    """Outside the demo (which turns both on, cheaply) faithfulness is off and the sanity
    stage is not in the stage list; its own defaults compare every method."""
    config = build(tmp_path, "data=voc", "model=resnet50").config
    assert config.eval.faithfulness is False and config.eval.faith_methods is None
    assert "sanity" not in config.stages
    assert config.sanity.tests == ["cascading", "independent"]
    assert config.sanity.methods is None and config.sanity.num_images == 16


@pytest.mark.parametrize("override, key", [
    ("sanity.num_images=1", "sanity.num_images"),
    ("sanity.tests=[cascading,sideways]", "sanity.tests"),
    ("sanity.tests=[]", "sanity.tests"),
    ("sanity.tests=[data,data]", "sanity.tests"),
    ("sanity.methods=[gradcam,guided_nonsense]", "sanity.methods"),
    ("eval.faith_methods=[guided_backprop]", "eval.faith_methods"),  # sanity-only methods
    ("eval.faith_images=0", "eval.faith_images"),
    ("eval.faith_steps=0", "eval.faith_steps"),
])
def test_out_of_range_values_stop_before_any_stage(tmp_path, override, key):
    with pytest.raises(ConfigError, match=f"^{key}=.* is not allowed"):
        build(tmp_path, override)


def test_good_values_pass(tmp_path):
    config = build(tmp_path, "sanity.tests=[independent,data]",
                   "sanity.methods=[gradcam,guided_gradcam]", "eval.faith_methods=[layercam]",
                   "eval.faith_images=10", "eval.faithfulness=true").config
    assert config.sanity.methods == ["gradcam", "guided_gradcam"]
