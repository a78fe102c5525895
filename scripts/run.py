#!/usr/bin/env python
"""Entry point: ``python scripts/run.py [experiment=NAME] [key=value ...]``.

With no arguments it runs the embedded demo end to end. Returns the metric named by
``optimize_metric`` so Hydra sweepers can optimise it; exits with status 2 on a user error.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from wsol.errors import WsolError, user_message

log = logging.getLogger("wsol")


@hydra.main(version_base="1.3", config_path="../configs", config_name="run")
def main(cfg: DictConfig) -> float | None:
    from wsol.app.pipeline import run

    try:
        metrics = run(cfg)
    except WsolError as err:
        message = user_message(err)
        log.error("%s", message)
        print(f"\nwsol: error: {message}", file=sys.stderr)
        sys.exit(2)
    return metrics.get(cfg.optimize_metric)


if __name__ == "__main__":
    from wsol.app.output_dir import output_dir_problem

    problem = output_dir_problem(sys.argv[1:], Path(os.getcwd()))
    if problem:  # Hydra would create it before main() and fail with a traceback
        print(f"wsol: error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
