"""How many CPUs this process may use: its affinity mask, capped by a cgroup CPU quota.

Clusters and containers hand a job fewer CPUs than the machine has; sizing threads and loader
workers by ``os.cpu_count()`` then oversubscribes them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup's CFS quota (v2 ``cpu.max`` or v1), None when unlimited."""
    try:
        if CGROUP_V2_MAX.is_file():
            quota, period = CGROUP_V2_MAX.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        if CGROUP_V1_QUOTA.is_file():
            quota = int(CGROUP_V1_QUOTA.read_text())
            return None if quota <= 0 else quota / int(CGROUP_V1_PERIOD.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus() -> int:
    """CPUs this process may run on (>= 1): affinity, then the cgroup quota rounded up."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def loader_workers(configured: int | None) -> int:
    """DataLoader worker processes: ``configured`` when set, else one per available CPU
    beyond the one the main process uses (at most 8)."""
    if configured is not None:
        return int(configured)
    return min(8, available_cpus() - 1)
