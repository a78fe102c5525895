"""How many CPUs this process may use, and how many of them are free for it.

Clusters and containers hand a job fewer CPUs than the machine has; sizing threads and loader
workers by ``os.cpu_count()`` then oversubscribes them. ``available_cpus`` is the hard limit
(affinity mask, cgroup CPU quota; for threads also ``OMP_NUM_THREADS`` when set).
``run_threads`` is what a run should use: that limit, shared by the run's processes on this
node and reduced to the CPUs other processes leave idle at start. Two busy-waiting OpenMP
threads on a core that another process also wants are the worst case (each parallel region
waits for the descheduled thread while the other spins); one thread per idle core loses only
the cores that are not there.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
PROC_STAT = Path("/proc/stat")
IDLE_WINDOW_S = 0.25  # long enough to see a busy process, short beside any stage


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


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return set(range(os.cpu_count() or 1))


def _omp_limit() -> int | None:
    """``OMP_NUM_THREADS`` as a positive int (the user's own cap), else None."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def available_cpus() -> int:
    """CPUs this process may run on (>= 1): affinity, then the cgroup quota rounded up."""
    count = len(_affinity())
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def thread_limit() -> int:
    """:func:`available_cpus`, capped by ``OMP_NUM_THREADS`` when the environment sets it."""
    omp = _omp_limit()
    return min(available_cpus(), omp) if omp is not None else available_cpus()


def _cpu_times(cpus: Collection[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cpus`` from /proc/stat; None where unreadable."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    idle = total = 0.0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [float(v) for v in rest.split()]
        # user nice system idle iowait irq softirq steal (guest time is inside user / nice)
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        total += sum(fields[:8])
        seen += 1
    return (idle, total) if seen else None


def idle_cpus(window_s: float = IDLE_WINDOW_S) -> float | None:
    """CPUs of this process's affinity left idle by everything else over ``window_s`` seconds
    (this process sleeps meanwhile); None where /proc/stat cannot tell (not Linux)."""
    cpus = _affinity()
    before = _cpu_times(cpus)
    time.sleep(window_s)
    after = _cpu_times(cpus)
    if before is None or after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])


def run_threads(configured: int | None, processes: int = 1,
                measure: Callable[[], float | None] = idle_cpus) -> int:
    """CPUs one process of a run should use for torch threads and worker processes.

    configured: the config's ``threads`` (an int is used as it is); None: the thread limit
    (:func:`thread_limit`) split between the run's ``processes`` on this node (DDP ranks),
    and no more than the CPUs other processes leave idle (``measure``, rounded to the nearest
    whole CPU; at least 1).
    """
    if configured is not None:
        return int(configured)
    share = max(1, thread_limit() // max(1, int(processes)))
    if share == 1:
        return 1  # nothing to decide: skip the measurement
    idle = measure()
    if idle is None:
        return share
    return max(1, min(share, math.floor(idle / max(1, int(processes)) + 0.5)))


def set_torch_threads(threads: int) -> None:
    """Size torch's intra-op pool (and its inter-op pool while that is still possible) and
    OpenCV's to ``threads``."""
    import cv2
    import torch

    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(int(threads))
    except RuntimeError:  # only allowed before the first inter-op work of the process
        pass
    cv2.setNumThreads(int(threads))


def loader_workers(configured: int | None) -> int:
    """DataLoader worker processes: ``configured`` when set, else one per available CPU
    beyond the one the main process uses (at most 8)."""
    if configured is not None:
        return int(configured)
    return min(8, available_cpus() - 1)
