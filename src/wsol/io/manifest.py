"""Reading the JSON records beside results, and comparing the settings a folder of results was
made with against the ones asked for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def load_json_dict(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is unreadable, not JSON or not an object
    (a file damaged or written by hand; our own writes are atomic)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


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


def _shown(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def differences(stored: Mapping[str, Any] | None, wanted: Mapping[str, Any],
                limit: int = 4) -> str:
    """``"key: stored X, requested Y; ..."`` for the settings that differ ('' if none).

    Plain values come first, then nested ones by dotted key; a group present on one side
    only (``crf``: None vs a dict) is one entry.
    """
    old, new = jsonable(dict(stored or {})), jsonable(dict(wanted))
    plain, nested = [], []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            fa, fb = flatten(a, f"{key}."), flatten(b, f"{key}.")
            nested += [f"{k}: stored {_shown(fa.get(k, '<unset>'))}, requested "
                       f"{_shown(fb.get(k, '<unset>'))}"
                       for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
        else:
            plain.append(f"{key}: stored {_shown(a)}, requested {_shown(b)}")
    diff = plain + nested
    return "; ".join(diff[:limit]) + ("; ..." if len(diff) > limit else "")
