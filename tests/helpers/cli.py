"""The one way tests run the real entry point (``scripts/run.py``) and read what it printed.

Use it only where the command line itself is under test (exit status, the one-line error,
Hydra's run directory, DDP re-execution); everything else runs in-process
(:mod:`helpers.runs`), which skips the interpreter and import start-up of every call.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run.py"


def run_cli(*overrides: str, timeout: int = 600, cache_dir: Path | None = None,
            script: Path = SCRIPT, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python scripts/run.py OVERRIDES`` from the repo root with one compute thread, the CAM
    cache in ``cache_dir`` (WSOL_CACHE) when given; returns the finished process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if cache_dir is not None:
        env["WSOL_CACHE"] = str(cache_dir)
    return subprocess.run([sys.executable, str(script), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def error_lines(stderr: str) -> list[str]:
    """The non-empty lines of a run's stderr other than tqdm progress bars (``...| 0/1 [...]``)."""
    progress = re.compile(r"\|\s*\d+/\d+ \[")
    return [line for line in stderr.splitlines() if line.strip() and not progress.search(line)]
