"""Composing configs outside ``@hydra.main`` and checking command-line overrides up front.

``scripts/run.py`` checks its overrides with :func:`check_overrides` before Hydra composes, so a
mistyped key (``data.rot=...``) or group option (``data=vocc``) stops with one line naming the
closest valid one, and a value of the wrong type with one line naming the key.
:func:`compose_config` is what ``scripts/check_data.py``, the benchmarks and the tests use to
build the same config in-process.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

from omegaconf import DictConfig

from wsol.app import schema
from wsol.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"


def config_groups(config_dir: Path = CONFIG_DIR) -> dict[str, list[str]]:
    """Group name (``data``, ``hydra/launcher``, ...) -> its options, from ``configs/``."""
    groups: dict[str, list[str]] = {}
    for yaml in sorted(config_dir.rglob("*.yaml")):
        group = yaml.parent.relative_to(config_dir).as_posix()
        if group != ".":
            groups.setdefault(group, []).append(yaml.stem)
    return groups


def _schema_keys(node: type, prefix: str = "") -> Iterator[str]:
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        key = f"{prefix}{f.name}"
        yield key
        kind = hints[f.name]
        for arg in (kind, *typing.get_args(kind)):  # Optional[GenerateConfig] -> its fields
            if dataclasses.is_dataclass(arg):
                yield from _schema_keys(arg, f"{key}.")


def schema_keys() -> list[str]:
    """Every declared config key, dotted (``data.root``, ``data.generate.seed``, ...)."""
    return list(_schema_keys(schema.RunConfig))


def _closest(name: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def check_overrides(overrides: Sequence[str], config_dir: Path = CONFIG_DIR) -> None:
    """ConfigError for an override naming an unknown key or group option (sweeps allowed)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as err:  # noqa: BLE001 - Hydra's grammar errors, shown as one line
        raise ConfigError(f"cannot parse the overrides {list(overrides)}: "
                          f"{str(err).splitlines()[0]}") from None
    groups = config_groups(config_dir)
    keys = schema_keys()
    for override in parsed:
        name = override.key_or_group
        if name == "hydra" or name.startswith("hydra.") or override.is_add() \
                or override.is_force_add():
            continue
        if name in groups:
            values = override.value()
            options = values if isinstance(values, list) else [values]
            for option in options:
                if isinstance(option, str) and option not in groups[name]:
                    raise ConfigError(
                        f"{name}={option} is not an option of config group {name!r} (choose "
                        f"from {groups[name]}{_closest(option, groups[name])})")
        elif name not in keys:
            raise ConfigError(f"{name} is not a config key{_closest(name, keys)} (every key is "
                              "declared in src/wsol/app/schema.py)")


def compose_config(overrides: Sequence[str] = (), config_dir: Path = CONFIG_DIR) -> DictConfig:
    """``configs/run.yaml`` composed with ``overrides``, as ``scripts/run.py`` would.

    Outside a Hydra app ``paths.run_dir`` has no Hydra output dir: pass ``paths.run_dir=DIR``
    before the config is turned into run objects.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    check_overrides(overrides, config_dir)
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        try:
            return compose(config_name="run", overrides=list(overrides))
        except AssertionError:  # OmegaConf's way of refusing a key under a null node
            nested = [o for o in overrides if o.count(".") >= 2 and "=" in o]
            raise ConfigError(
                f"cannot set {nested or list(overrides)}: a node above the key is null in this "
                "configuration (e.g. data.generate.* when the chosen data has "
                "data.generate=null); drop the override or choose the data it belongs to"
            ) from None
        except (HydraException, OmegaConfBaseException) as err:  # a value of the wrong type
            cause = str(err.__cause__).splitlines()[0] if err.__cause__ else ""
            raise ConfigError(f"{str(err).splitlines()[0]}{': ' + cause if cause else ''} "
                              "(the types are declared in src/wsol/app/schema.py)") from None
