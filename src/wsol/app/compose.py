"""Composing configs outside ``@hydra.main`` and checking command-line overrides up front.

``scripts/run.py`` checks its overrides with :func:`check_overrides` before Hydra composes, so a
mistyped key (``data.rot=...``, ``+eval.bg_treshold=...``) or group option (``data=vocc``) stops
with one line naming the closest valid one, an override Hydra's grammar cannot read with one
line saying how to quote it, and a value of the wrong type with one line naming the key.
:func:`compose_config` is what ``scripts/check_data.py``, the benchmarks and the tests use to
build the same config in-process.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

from omegaconf import DictConfig

from wsol.app import schema
from wsol.errors import ConfigError

if typing.TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

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


def hydra_owned(name: str) -> bool:
    """Whether an override's key or group is Hydra's own (``hydra.run.dir``, ``hydra/launcher``),
    which the wsol schema does not declare."""
    return name == "hydra" or name.startswith(("hydra.", "hydra/"))


def override_key(text: str) -> str:
    """The key (or group) a command-line override ``[+|++|~]key[=value]`` sets."""
    return text.lstrip("+~").split("=", 1)[0]


def last_override_value(overrides: Sequence[str], key: str) -> str | None:
    """The value of the last override of ``key`` as Hydra reads it (``'k="/x/a b"'`` is
    ``/x/a b``, without the quotes the shell left in); None when none sets it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = [o for o in overrides if "=" in o and override_key(o) == key]
    if not given:
        return None
    try:
        value = OverridesParser.create().parse_override(given[-1]).value()
    except Exception:  # noqa: BLE001 - the override check names a grammar error first
        value = None
    return value if isinstance(value, str) else given[-1].split("=", 1)[1]


def _closest(name: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def quoted(text: str) -> str:
    """``key=value`` as the shell and Hydra's grammar both keep it whole: ``'key="a b,c"'``."""
    key, _, value = text.partition("=")
    if '"' in value and "'" not in value:
        return f"\"{key}='{value}'\""
    return f"'{key}=\"{value}\"'"


def override_text(key: str, value: object) -> str:
    """``key=value`` as the command line writes it (null, true, [a,b], quoted when needed)."""
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, list):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    text = f"{key}={value}"
    return quoted(text) if any(c in str(value) for c in " ,=()&#'\"") else text


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    """Hydra's reading of each override; ConfigError naming the one its grammar refuses and
    how to quote it (a space is fine, but ``=``, ``(``, ``&``, ``#`` or a letter outside ASCII
    in an unquoted value is not)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except Exception as err:  # noqa: BLE001 - Hydra's grammar errors, shown as one line
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            fix = (f"quote the value: {quoted(text)}" if "=" in text
                   else "write it as key=value")
            raise ConfigError(f"cannot read the override {text!r} ({reason}); {fix}") from None
    return parsed


def check_overrides(overrides: Sequence[str], config_dir: Path = CONFIG_DIR) -> list[Override]:
    """ConfigError for an override naming an unknown key or group option (sweeps allowed);
    ``+key`` / ``++key`` too, since the schema has no open section a key could be added to.
    Returns Hydra's reading of the overrides."""
    parsed = parse_overrides(overrides)
    groups = config_groups(config_dir)
    keys = schema_keys()
    for override in parsed:
        name = override.key_or_group
        if hydra_owned(name):
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
            added = ", and a leading + adds none" if override.is_add() or \
                override.is_force_add() else ""
            raise ConfigError(f"{name} is not a config key{_closest(name, keys)} (every key is "
                              f"declared in src/wsol/app/schema.py{added})")
    _check_recipe_data(parsed, config_dir)
    return parsed


def _options(override: Override) -> list:
    values = override.value()
    return values if isinstance(values, list) else [values]


def recipe_data(experiment: str, config_dir: Path = CONFIG_DIR) -> tuple[str | None, list[str]]:
    """(the ``data`` option an experiment's defaults list chooses, the ``data.*`` keys it sets),
    following the experiments it includes (``voc_wsss`` includes ``voc_resnet``)."""
    import yaml

    try:
        body = yaml.safe_load((config_dir / "experiment" / f"{experiment}.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None, []  # composition reports the file
    body = body if isinstance(body, dict) else {}
    dataset, keys = None, sorted(body.get("data") or {})
    for entry in body.get("defaults") or []:
        if isinstance(entry, dict) and "override /data" in entry:
            dataset = str(entry["override /data"])
        elif isinstance(entry, str) and entry not in ("_self_",):
            included, more = recipe_data(entry, config_dir)
            dataset, keys = dataset or included, sorted(set(keys) | set(more))
    return dataset, keys


def _check_recipe_data(parsed: Sequence[Override], config_dir: Path) -> None:
    """ConfigError when ``data=`` chooses another dataset than an ``experiment=`` recipe that
    sets ``data.*`` keys for its own (split names, masks folder, sizes), which would run on the
    other one (``experiment=voc_resnet data=coco`` reads COCO's ``train_aug``). Recipes that set
    none (the wsolevaluation CAM recipes, the demo) combine with any dataset."""
    chosen = {o.key_or_group: _options(o) for o in parsed
              if o.key_or_group in ("experiment", "data") and not o.is_delete()}
    for experiment in chosen.get("experiment", []):
        wanted, keys = recipe_data(str(experiment), config_dir)
        other = [d for d in chosen.get("data", []) if keys and d != wanted]
        if other:
            shown = ", ".join(f"data.{k}" for k in keys)
            recipes = [p.stem for p in sorted((config_dir / "experiment").glob("*.yaml"))
                       if recipe_data(p.stem, config_dir)[0] == other[0]]
            instead = f"experiment={' or experiment='.join(recipes)}" if recipes else \
                "a recipe of configs/experiment/"
            raise ConfigError(
                f"experiment={experiment} is a recipe for data={wanted} and sets {shown} for "
                f"it, so data={other[0]} would read {wanted}'s splits and folders; use "
                f"{instead} for {other[0]}, or leave experiment= out and set the keys you need")


def _single_values(parsed: Sequence[Override]) -> None:
    """ConfigError for a sweep (``a,b``, ``range(...)``) outside ``-m``: a comma in a value
    (``data.root=/x/a,b``) reads as one, which Hydra would call "ambiguous"."""
    for override in parsed:
        if override.is_sweep_override():
            text = override.input_line
            raise ConfigError(
                f"{text} is a sweep (a comma-list or range), which only a -m run takes; to "
                f"keep the value whole quote it: {quoted(text)} (a list is written [a,b])")


def composition_problem(err: Exception, overrides: Sequence[str]) -> str:
    """One line for Hydra's refusal to compose ``overrides``: the key's type for a value of
    the wrong type, dropping the ``+`` for a group chosen twice or a key set twice."""
    from omegaconf.errors import ValidationError

    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    cause = err.__cause__
    if isinstance(cause, ValidationError) or isinstance(err, ValidationError):
        detail = f": {str(cause).splitlines()[0]}" if cause else ""
        return f"{first}{detail} (the types are declared in src/wsol/app/schema.py)"
    twice = re.match(r"Multiple values for (\S+)\.|(\S+) appears more than once", first)
    if twice:
        group = twice.group(1) or twice.group(2)
        added = [o for o in overrides if override_key(o) == group]
        shown = added[0] if added else f"+{group}=..."
        return (f"{shown} adds a second choice for config group {group!r}; drop the '+' to "
                f"choose another option ({shown.lstrip('+')})")
    if "does not support deletion" in str(cause):
        return (f"{first}: every key is declared in src/wsol/app/schema.py; set its value "
                "instead of deleting it")
    if first.startswith("Could not append to config"):
        return f"{first} Drop the '+' to set a declared key."
    return f"{first}{': ' + str(cause).splitlines()[0] if cause else ''}"


def compose_config(overrides: Sequence[str] = (), config_dir: Path = CONFIG_DIR) -> DictConfig:
    """``configs/run.yaml`` composed with ``overrides``, as ``scripts/run.py`` would.

    Outside a Hydra app ``paths.run_dir`` has no Hydra output dir: pass ``paths.run_dir=DIR``
    before the config is turned into run objects (in-process only; ``scripts/run.py`` takes
    ``hydra.run.dir=DIR`` instead).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    _single_values(check_overrides(overrides, config_dir))
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        try:
            return compose(config_name="run", overrides=list(overrides))
        except AssertionError:  # OmegaConf's way of refusing a key under a null node
            raise ConfigError(null_node_problem(overrides)) from None
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(composition_problem(err, overrides)) from None


def null_node_problem(overrides: Sequence[str]) -> str:
    """The message for a key set under a node that is null in this configuration."""
    nested = [o for o in overrides if o.count(".") >= 2 and "=" in o]
    return (f"cannot set {nested or list(overrides)}: a node above the key is null in this "
            "configuration (e.g. data.generate.* when the chosen data has "
            "data.generate=null); drop the override or choose the data it belongs to")
