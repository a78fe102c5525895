"""The output directory checked before Hydra creates it.

Hydra makes the run (or sweep) directory and writes ``.hydra/`` into it before any wsol code
runs, so a path that is a file, passes through a file, or lies on a read-only mount would end
in Hydra's traceback. The entry point calls :func:`output_dir_problem` on the command line
first and stops with one line instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from wsol.app.compose import last_override_value

# Hydra's defaults in configs/hydra/default.yaml, up to their first interpolation.
DEFAULT_BASES = {"run": "outputs", "sweep": "multirun"}


def _static_prefix(value: str) -> Path:
    """The part of a directory override before its first ``${...}`` interpolation."""
    parts = []
    for part in Path(value).parts:
        if "${" in part:
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def output_dir_problem(argv: Sequence[str], cwd: Path) -> str | None:
    """Why the run / sweep directory the command line asks for cannot be written, or None.

    Looks at ``hydra.run.dir=`` (``hydra.sweep.dir=`` with ``-m``), else Hydra's default
    base folder, relative to ``cwd``: no component may be a file, and the deepest existing
    folder must be writable.
    """
    multirun = any(a in ("-m", "--multirun") for a in argv)
    kind = "sweep" if multirun else "run"
    key = f"hydra.{kind}.dir"
    given = last_override_value(argv, key)
    target = cwd / _static_prefix(given if given is not None else DEFAULT_BASES[kind])
    fix = (f"choose another with {key}=DIR, or make it writable (chmod u+w, or check the disk "
           f"is mounted read-write)")
    probe = target
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"Run directory {target} cannot be made: {probe} is a file, not a folder; {fix}."
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"Run directory {target} is not writable ({probe} is read-only); {fix}."
    return None
