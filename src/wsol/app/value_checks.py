"""The building blocks of the config value rules (:mod:`wsol.app.validate`): a rule, the checks
it is made of (ranges, choices, lists, optional values), and the registries whose names are
valid choices, loaded only when a rule that names them is checked (they import torch)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wsol.app.stages import STAGE_ORDER


@dataclass(frozen=True)
class Rule:
    """``key`` holds a value for which ``ok(value)`` must be true; ``allowed`` says what is."""

    key: str
    ok: Callable[[Any], bool]
    allowed: str | Callable[[], str]  # a callable names choices from a registry, lazily

    def describe(self) -> str:
        return self.allowed() if callable(self.allowed) else self.allowed

    @property
    def reads_registry(self) -> bool:
        """Whether checking it imports a library registry (and with it torch)."""
        return callable(self.allowed)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: is_number(v) and v >= low


def above(low: float) -> Callable[[Any], bool]:
    return lambda v: is_number(v) and v > low


def within(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: is_number(v) and low <= v <= high


def one_of(choices: Sequence[Any]) -> Callable[[Any], bool]:
    return lambda v: v in choices


def each(check: Callable[[Any], bool], min_len: int = 1) -> Callable[[Any], bool]:
    return lambda v: v is not None and len(v) >= min_len and all(check(x) for x in v)


def optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def ordered_stages(stages: Sequence[str]) -> bool:
    if not stages or any(s not in STAGE_ORDER for s in stages) or len(set(stages)) != len(stages):
        return False
    positions = [STAGE_ORDER.index(s) for s in stages]
    return positions == sorted(positions)


def device_spec(value: Any) -> bool:
    """Lightning's ``devices``: "auto", -1 (all), a count >= 1, "0,1" or a list of ids."""
    if value in ("auto", -1, "-1"):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(isinstance(v, int) and v >= 0 for v in value)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        return bool(parts) and all(p.isdigit() for p in parts) and (len(parts) > 1 or
                                                                    int(parts[0]) >= 1)
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def lazy_choices(loader: Callable[[], Sequence[str]]) -> Callable[[Any], bool]:
    """Choices from a library registry, imported only when the rule runs."""
    return lambda v: v in loader()


def backbones() -> Sequence[str]:
    from wsol.models.backbones import BACKBONES

    return tuple(BACKBONES)


def arch_name(value: Any) -> bool:
    """A backbone of the registry, or ``timm:<name>`` naming a timm model (timm installed)."""
    if value in backbones():
        return True
    if not (isinstance(value, str) and value.startswith("timm:")):
        return False
    try:
        import timm
    except ImportError:
        return False
    return timm.is_model(value.partition(":")[2])


def wsol_methods() -> Sequence[str]:
    from wsol.models.wsol_methods import METHODS

    return METHODS


def cam_methods() -> Sequence[str]:
    from wsol.cam.methods import METHODS

    return METHODS


def refiners() -> Sequence[str]:
    from wsol.pseudo.refiners import REFINERS

    return tuple(REFINERS)


def resnets() -> Sequence[str]:
    from wsol.segment.model import SEGMENT_BACKBONES

    return SEGMENT_BACKBONES
def sanity_methods() -> Sequence[str]:
    from wsol.cam.methods import METHODS
    from wsol.sanity.guided import GUIDED_METHODS

    return (*METHODS, *GUIDED_METHODS)


def distinct(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: check(v) and len(set(v)) == len(v)


# A threshold sweep's finest grid: 10,001 thresholds (wsolevaluation's finest is 0.001). The
# per-threshold counts and curves scale with it; 1e-7 asked numpy for gigabytes.
