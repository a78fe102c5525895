"""Command-line overrides read up front: ``+key`` checked like a plain key, values Hydra's
grammar cannot read or would sweep answered with the quoting that keeps them whole."""

from __future__ import annotations

import pytest
from helpers.runs import compose

from wsol.app.compose import check_overrides, compose_config, quoted
from wsol.errors import ConfigError


@pytest.mark.parametrize("override, closest", [
    ("+eval.bg_treshold=0.05,0.5", "eval.bg_threshold"),
    ("+model.checkpont=/x", "model.checkpoint"), ("++eval.bg_treshold=0.3", "eval.bg_threshold"),
    ("+cam.metod=cam", "cam.method")])
def test_an_added_key_the_schema_does_not_declare_is_refused_like_a_mistyped_one(override,
                                                                                  closest):
    with pytest.raises(ConfigError, match=f"is not a config key; did you mean '{closest}'"):
        check_overrides([override])  # the -m check: sweeps allowed
    with pytest.raises(ConfigError, match=f"did you mean '{closest}'"):
        compose_config([override.split(",")[0]])


def test_a_key_with_nothing_close_is_refused_with_a_plus_too():
    with pytest.raises(ConfigError, match=r"^typo_key is not a config key \(every key is decl"):
        compose("+typo_key=5")


def test_hydras_own_keys_and_declared_keys_still_take_a_plus():
    check_overrides(["+hydra.job.env_set.WSOL_X=1", "hydra/launcher=local_parallel"])
    assert compose("++eval.bg_threshold=0.3").eval.bg_threshold == 0.3
    with pytest.raises(ConfigError, match=r"^\+data=voc adds a second choice for config group "
                                          r"'data'; drop the '\+'"):
        compose("+data=voc")


@pytest.mark.parametrize("value", ["/tmp/é b", "/x/a=b", "/x/a&b", "/x/(1)"])
def test_a_value_the_grammar_refuses_names_the_quoting_that_reads_it(value):
    with pytest.raises(ConfigError) as err:
        compose_config([f"data.root={value}"])
    message = str(err.value)
    assert message.startswith(f"cannot read the override 'data.root={value}' (")
    assert message.endswith(f"quote the value: 'data.root=\"{value}\"'")
    assert "schema.py" not in message  # grammar, not a type
    shell_word = quoted(f"data.root={value}")[1:-1]  # what the shell hands over
    assert compose(shell_word).data.root == value


def test_a_comma_outside_a_sweep_says_to_quote_not_that_the_type_is_wrong():
    for override in ("data.root=/x/a,b", "hydra.run.dir=/tmp/a,b"):
        with pytest.raises(ConfigError) as err:
            compose_config([override])
        key, value = override.split("=")
        assert str(err.value) == (
            f"{override} is a sweep (a comma-list or range), which only a -m run takes; to keep "
            f"the value whole quote it: '{key}=\"{value}\"' (a list is written [a,b])")
    assert compose('data.root="/x/a,b"').data.root == "/x/a,b"


def test_a_value_of_the_wrong_type_still_points_at_the_schema():
    with pytest.raises(ConfigError, match=r"cam.batch_size=x.*schema\.py"):
        compose("cam.batch_size=x")


def test_a_value_holding_double_quotes_is_quoted_with_single_ones():
    assert quoted('data.root=/x/"a" b') == "\"data.root='/x/\"a\" b'\""
    assert compose("data.root='/x/\"a\" b'").data.root == '/x/"a" b'


@pytest.mark.parametrize("overrides", [["experiment=voc_resnet", "data=coco"],
                                       ["experiment=voc_wsss", "data=demo"]])
def test_a_recipe_for_one_dataset_with_another_data_choice_is_refused(overrides):
    """Its data.* settings (IRN's train_aug, the VOC sizes) would run on the other dataset."""
    with pytest.raises(ConfigError,
                       match=r"recipe for data=voc and sets .*data.train_split.* use experiment="):
        compose(*overrides)


def test_recipes_that_set_no_data_keys_take_any_dataset():
    assert compose("experiment=cub_resnet50_cam", "data=ilsvrc_wsol").data.name == "ilsvrc_wsol"
    assert compose("experiment=demo", "data=voc").data.format == "voc"
    assert compose("experiment=voc_resnet", "data=voc").data.train_split == "train_aug"
