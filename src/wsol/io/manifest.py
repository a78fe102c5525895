"""Comparing the settings a folder of results was made with against the ones asked for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def differences(stored: Mapping[str, Any] | None, wanted: Mapping[str, Any],
                limit: int = 4) -> str:
    """``"key: stored X, requested Y; ..."`` for the settings that differ ('' if none)."""
    old, new = flatten(jsonable(dict(stored or {}))), flatten(jsonable(dict(wanted)))
    diff = [f"{k}: stored {old.get(k, '<unset>')!r}, requested {new.get(k, '<unset>')!r}"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(diff[:limit]) + ("; ..." if len(diff) > limit else "")
