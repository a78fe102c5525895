#!/usr/bin/env python
"""Entry point: ``python scripts/run.py [experiment=NAME] [key=value ...]``.

With no arguments it runs the embedded demo end to end. Returns the metric named by
``optimize_metric`` so Hydra sweepers can optimise it; exits with status 2 on a user error
(one ``wsol: error:`` line), including a mistyped config key, group option or value, which is
checked before Hydra starts.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from wsol.app import schema  # noqa: F401  (registers the config schema with Hydra)
from wsol.errors import WsolError, user_message

log = logging.getLogger("wsol")


def fail(message: str) -> None:
    print(f"\nwsol: error: {message}", file=sys.stderr)
    sys.exit(2)


def check_command_line(argv: list[str]) -> DictConfig | None:
    """Stop with one line on an override Hydra would refuse with a traceback-like report; the
    composed config of a single run (None for a sweep or Hydra's own help and printing)."""
    from wsol.app.compose import check_overrides, compose_config

    overrides = [a for a in argv if not a.startswith("-")]
    if any(a in ("-h", "--help", "--hydra-help", "--info", "-c", "--cfg") for a in argv):
        return None  # Hydra's own help and config printing
    try:
        if any(a in ("-m", "--multirun") for a in argv):
            check_overrides(overrides)  # sweep values: keys and group options only
            return None
        return compose_config(overrides)
    except WsolError as err:  # a mistyped key, option or value type: one line, before Hydra
        fail(user_message(err))


def check_values(cfg: DictConfig) -> None:
    """Stop with one line on a value the config rules refuse (``wsol.app.validate``), before
    Hydra starts and, for most keys, before torch is imported."""
    from wsol.app.build import typed_config
    from wsol.app.validate import validate_config

    cfg.paths.run_dir = "."  # Hydra's output dir is not known yet; no rule reads it
    try:
        config = typed_config(cfg)
    except OmegaConfBaseException:  # an ${hydra:...} only the app resolves: the run checks
        return  # the values itself
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
        message = user_message(err)
        log.error("%s", message)
        fail(message)
    return metrics.get(cfg.optimize_metric)


if __name__ == "__main__":
    composed = check_command_line(sys.argv[1:])
    from wsol.app.output_dir import output_dir_problem

    problem = output_dir_problem(sys.argv[1:], Path(os.getcwd()))
    if problem:  # Hydra would create it before main() and fail with a traceback
        fail(problem)
    if composed is not None:
        check_values(composed)
    main()
