#!/usr/bin/env python
"""Entry point: ``python scripts/run.py [experiment=NAME] [key=value ...]``.

With no arguments it runs the embedded demo end to end. Returns the metric named by
``optimize_metric`` so Hydra sweepers can optimise it; exits with status 2 on a user error
(one ``wsol: error:`` line), including a mistyped config key (``+key`` too), group option or
value, which is checked before Hydra starts; with ``-m`` every sweep job's values are checked
before the first job runs. The run directory is ``hydra.run.dir=DIR`` (``paths.run_dir`` is
for in-process use and refused here).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from wsol.app import schema  # noqa: F401  (registers the config schema with Hydra)
from wsol.app.compose import override_key
from wsol.errors import WsolError, user_message

log = logging.getLogger("wsol")


def fail(message: str) -> None:
    print(f"\nwsol: error: {message}", file=sys.stderr)
    sys.exit(2)


def refused_key(overrides: list[str]) -> str | None:
    """Why an override is for in-process use only: ``paths.run_dir`` is Hydra's output dir,
    and setting it alone would put the results in one folder, run.log and .hydra/ in another."""
    for override in overrides:
        if override_key(override) == "paths.run_dir":
            return (f"{override}: the run directory is Hydra's output dir; choose it with "
                    "hydra.run.dir=DIR (hydra.sweep.dir=DIR with -m), so run.log, .hydra/ and "
                    "the results share it")
    return None


def check_command_line(argv: list[str]) -> DictConfig | None:
    """Stop with one line on an override Hydra would refuse with a traceback-like report, and
    on any sweep job whose values a rule refuses; the composed config of a single run (None
    for a sweep or Hydra's own help and printing)."""
    from wsol.app.compose import compose_config
    from wsol.app.sweep_jobs import check_sweep

    overrides = [a for a in argv if not a.startswith("-")]
    if any(a in ("-h", "--help", "--hydra-help", "--info", "-c", "--cfg") for a in argv):
        return None  # Hydra's own help and config printing
    problem = refused_key(overrides)
    if problem:
        fail(problem)
    try:
        if any(a in ("-m", "--multirun") for a in argv):
            check_sweep(overrides)  # every job composed and its values checked
            return None
        return compose_config(overrides)
    except WsolError as err:  # a mistyped key, option or value: one line, before Hydra
        fail(user_message(err))


def check_values(cfg: DictConfig) -> None:
    """Stop with one line on a value the config rules refuse (``wsol.app.validate``), before
    Hydra starts and, for most keys, before torch is imported."""
    from wsol.app.sweep_jobs import typed_for_checks
    from wsol.app.validate import validate_config

    config = typed_for_checks(cfg)
    if config is None:  # an ${hydra:...} only the app resolves: the run checks the values
        return
    try:
        validate_config(config)
    except WsolError as err:
        fail(user_message(err))


@hydra.main(version_base="1.3", config_path="../configs", config_name="run")
def main(cfg: DictConfig) -> float | None:
    from wsol.app.pipeline import run

    try:
        metrics = run(cfg)
    except WsolError as err:
        message = sweep_job_prefix() + user_message(err)
        log.error("%s", message)
        fail(message)
    return metrics.get(cfg.optimize_metric)


def sweep_job_prefix() -> str:
    """``"sweep job N (overrides): "`` inside a ``-m`` job (the jobs before it have finished
    in their folders), as a value refused before the sweep names its job; else ``""``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return ""
    return f"sweep job {hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task)}): "


if __name__ == "__main__":
    composed = check_command_line(sys.argv[1:])
    from wsol.app.output_dir import output_dir_problem

    problem = output_dir_problem(sys.argv[1:], Path(os.getcwd()))
    if problem:  # Hydra would create it before main() and fail with a traceback
        fail(problem)
    if composed is not None:
        check_values(composed)
    main()
