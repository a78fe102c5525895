"""A ``-m`` sweep's jobs are composed and checked before the first one runs, numbered as
Hydra's basic sweeper numbers them."""

from __future__ import annotations

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from wsol.app.compose import CONFIG_DIR, compose_config, config_groups
from wsol.app.sweep_jobs import _compose_job, check_sweep, sweep_jobs
from wsol.errors import ConfigError

SWEEP = ["data=voc,coco", "eval.bg_threshold=0.1,0.2", "cam.batch_size=4",
         "eval.bg_threshold=range(0.05,0.2,0.05)", "+hydra.job.env_set.WSOL_X=1"]


def test_jobs_are_numbered_as_hydras_basic_sweeper_numbers_them():
    """Hydra's own split (a private function: this test fails if it goes or changes), read
    back as overrides: product in command-line order, a later key replacing an earlier one."""
    parsed = OverridesParser.create().parse_overrides(SWEEP)
    ours = [[o.input_line for o in job] for job in sweep_jobs(parsed)]
    assert ours == BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]
    tail = ["cam.batch_size=4", "+hydra.job.env_set.WSOL_X=1"]
    assert ours == [[data, f"eval.bg_threshold={tau}", *tail]
                    for data in ("data=voc", "data=coco")
                    for tau in (0.05 + i * 0.05 for i in range(3))]  # range's own floats


def test_a_jobs_config_is_the_one_composing_its_overrides_gives():
    """Jobs share the composition of their group choices; each job's keys are applied on top."""
    parsed = OverridesParser.create().parse_overrides(SWEEP)
    bases: dict = {}
    for job in sweep_jobs(parsed)[::2]:
        lines = [o.input_line for o in job if not o.key_or_group.startswith("hydra")]
        ours = _compose_job(job, config_groups(), CONFIG_DIR, bases)
        assert OmegaConf.to_container(ours) == OmegaConf.to_container(compose_config(lines))
    assert len(bases) == 2  # voc, coco


def test_a_bad_value_in_a_later_job_stops_the_sweep_naming_that_job():
    with pytest.raises(ConfigError) as err:
        check_sweep(["stages=[evaluate]", "eval.bg_threshold=0.1,1.5", "model.checkpoint=/x"])
    assert str(err.value) == ("sweep job 1 (eval.bg_threshold=1.5): eval.bg_threshold=1.5 is not "
                              "allowed: use a background score in [0, 1].")


@pytest.mark.parametrize("sweep, message", [
    (["data=voc,demo", "data.generate.seed=3"], r"sweep job 0 \(data=voc\): cannot set "),
    (["cam.batch_size=2,x"], r"sweep job 1 \(cam.batch_size=x\): .*schema\.py"),
    (["seed=0,1", "model.lr=1,-1"], r"sweep job 1 \(seed=0 model.lr=-1\): model.lr=-1"),
    (["+eval.bg_treshold=0.1,0.2"], "did you mean 'eval.bg_threshold'")])
def test_every_kind_of_job_problem_is_one_line_before_any_job(sweep, message):
    with pytest.raises(ConfigError, match=message):
        check_sweep(sweep)


def test_sweeps_another_sweeper_decides_are_left_to_it():
    assert check_sweep(["hydra/sweeper=basic", "eval.bg_threshold=0.1,2"]) == 0
    assert check_sweep(["eval.bg_threshold=interval(0,1)"]) == 0
    assert check_sweep(["stages=[evaluate]", "eval.bg_threshold=0.1,0.2,0.3"]) == 3


def test_a_one_job_sweep_is_named_by_its_number():
    with pytest.raises(ConfigError, match=r"^sweep job 0: eval.bg_threshold=1.5 is not allowed"):
        check_sweep(["eval.bg_threshold=1.5"])
