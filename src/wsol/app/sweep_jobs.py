"""Every job of a ``-m`` sweep composed and checked before the first one starts.

Hydra's basic sweeper runs the cartesian product of the comma-list / range overrides in
command-line order; without this check ``-m eval.bg_threshold=0.1,1.5`` would run job 0 in full
before job 1 stopped on its value. Jobs that differ only in keys (not in a config group) share
one composition, and the rules that read no registry run over every job before any that
imports torch, so a bad value stops a sweep in about as long as it stops a single run.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from wsol.app.compose import (
    CONFIG_DIR,
    check_overrides,
    compose_config,
    composition_problem,
    config_groups,
    hydra_owned,
    null_node_problem,
)
from wsol.errors import ConfigError, WsolError

if typing.TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

    from wsol.app.schema import RunConfig


def sweep_jobs(parsed: Sequence[Override]) -> list[list[Override]] | None:
    """Each job's overrides, as Hydra's basic sweeper splits them (its own function, so the
    jobs and their numbers are the ones it runs); None where that sweeper does not decide the
    jobs (``hydra/sweeper=...``, ``hydra.sweeper.*``, a ``glob`` or ``interval``)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if any(o.key_or_group.startswith(("hydra/sweeper", "hydra.sweeper")) for o in parsed):
        return None
    try:
        (jobs,) = BasicSweeper.split_arguments(list(parsed), None)
    except Exception:  # noqa: BLE001 - interval(...) it refuses; glob(...) needs its loader
        return None
    parser = OverridesParser.create()
    return [parser.parse_overrides(job) for job in jobs]


def _compose_job(job: Sequence[Override], groups: dict[str, list[str]], config_dir: Path,
                 bases: dict[tuple[str, ...], DictConfig]) -> DictConfig:
    """The job's config: its group choices composed once per distinct choice, then its key
    overrides applied as Hydra applies command-line keys (after the defaults list)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    wsol = [o for o in job if not hydra_owned(o.key_or_group)]  # no rule reads hydra.*
    chosen = tuple(o.input_line for o in wsol if o.key_or_group in groups)
    if chosen not in bases:
        bases[chosen] = compose_config(chosen, config_dir)
    cfg = copy.deepcopy(bases[chosen])
    keys = [o for o in wsol if o.key_or_group not in groups]
    try:
        ConfigLoaderImpl._apply_overrides_to_config(keys, cfg)
    except AssertionError:
        raise ConfigError(null_node_problem([o.input_line for o in keys])) from None
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(composition_problem(err, [o.input_line for o in keys])) from None
    return cfg


def typed_for_checks(cfg: DictConfig) -> RunConfig | None:
    """``cfg`` as the typed config the rules read (``paths.run_dir`` stands in as ``.``: Hydra's
    output dir is not known yet and no rule reads it); None when it holds an ``${hydra:...}``
    only the running app resolves (the run then checks its values itself)."""
    from omegaconf.errors import OmegaConfBaseException

    from wsol.app.build import typed_config

    cfg.paths.run_dir = "."
    try:
        return typed_config(cfg)
    except OmegaConfBaseException:
        return None


def check_sweep(overrides: Sequence[str], config_dir: Path = CONFIG_DIR) -> int:
    """Compose and validate (:func:`wsol.app.validate.validate_config`) every job of the sweep
    ``overrides`` describe; ConfigError naming the first bad job's number and swept values.
    Returns the number of jobs checked (0 when another sweeper decides the jobs)."""
    from wsol.app.validate import validate_config

    parsed = check_overrides(overrides, config_dir)
    jobs = sweep_jobs(parsed)
    if jobs is None:
        return 0
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    groups, bases = config_groups(config_dir), {}
    configs = []
    for number, job in enumerate(jobs):
        values = " ".join(o.input_line for o in job if o.get_key_element() in swept)
        shown = f"{number} ({values})" if values else f"{number}"
        try:
            configs.append((shown, typed_for_checks(_compose_job(job, groups, config_dir,
                                                                 bases))))
        except WsolError as err:
            raise ConfigError(f"sweep job {shown}: {err}") from None
    for registry in (False, True):  # every job's cheap rules before any registry import
        for shown, config in configs:
            if config is None:
                continue
            try:
                validate_config(config, registry=registry)
            except ConfigError as err:
                raise ConfigError(f"sweep job {shown}: {err}") from None
    return len(jobs)
