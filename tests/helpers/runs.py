"""Configs and runs in-process: the composition ``scripts/run.py`` does, without a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from wsol.app import pipeline
from wsol.app.build import Run, build_run
from wsol.app.compose import compose_config


def compose(*overrides: str) -> DictConfig:
    """``configs/run.yaml`` with ``overrides`` (checked as the command line checks them)."""
    return compose_config(list(overrides))


def build(run_dir: Path, *overrides: str) -> Run:
    """The run objects of ``overrides`` with its directory at ``run_dir``."""
    return build_run(compose(f"paths.run_dir={run_dir}", *overrides))


def run_pipeline(run_dir: Path, *overrides: str, cache_dir: Path | None = None
                 ) -> dict[str, float]:
    """``pipeline.run`` of ``overrides`` in ``run_dir`` (CAM cache in ``cache_dir``, default
    ``<run_dir>/../cache``); returns the metrics it wrote."""
    cache = cache_dir if cache_dir is not None else Path(run_dir).parent / "cache"
    return pipeline.run(compose(f"paths.run_dir={run_dir}", f"paths.cache_dir={cache}",
                                *overrides))


def cam_store_path(run_dir: Path) -> Path:
    """The CAM store a run's cam stage recorded in ``<run_dir>/cam_store.json``."""
    return Path(json.loads((Path(run_dir) / "cam_store.json").read_text())["path"])
