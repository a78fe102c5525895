"""How many threads a run uses: the CPUs it may use, split between its processes, no more than
other processes leave idle."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from wsol.io import cpus


def _never() -> float:
    raise AssertionError("measured although nothing was left to decide")


@pytest.fixture
def four_cpus(monkeypatch):
    """A process that may run on 4 CPUs, no quota, no OMP_NUM_THREADS."""
    monkeypatch.setattr(cpus, "_affinity", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_a_configured_count_is_used_as_it_is(four_cpus):
    assert cpus.run_threads(3, measure=_never) == 3
    assert cpus.run_threads(7, processes=2, measure=_never) == 7


@pytest.mark.parametrize("idle, expected", [(4.0, 4), (3.6, 4), (3.4, 3), (2.5, 3), (1.1, 1),
                                            (0.0, 1), (None, 4)])
def test_threads_follow_the_idle_cpus(four_cpus, idle, expected):
    assert cpus.run_threads(None, measure=lambda: idle) == expected


def test_ranks_on_one_node_share_the_cpus(four_cpus):
    assert cpus.run_threads(None, processes=2, measure=lambda: 4.0) == 2
    assert cpus.run_threads(None, processes=2, measure=lambda: 2.0) == 1  # one idle CPU each
    assert cpus.run_threads(None, processes=4, measure=_never) == 1


def test_omp_num_threads_and_the_cgroup_quota_cap_the_threads(four_cpus, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpus.run_threads(None, measure=_never) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpus.run_threads(None, measure=lambda: 4.0) == 2
    assert cpus.available_cpus() == 4  # worker processes are not capped by a thread count
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: 1.5)  # 150 ms per 100 ms: 2 CPUs
    assert cpus.available_cpus() == 2
    assert cpus.run_threads(None, measure=lambda: 4.0) == 2


def test_cgroup_v2_quota_is_read(tmp_path, monkeypatch):
    limit = tmp_path / "cpu.max"
    monkeypatch.setattr(cpus, "CGROUP_V2_MAX", limit)
    limit.write_text("250000 100000\n")
    assert cpus._cgroup_quota() == 2.5
    limit.write_text("max 100000\n")
    assert cpus._cgroup_quota() is None


def test_idle_cpus_counts_only_the_cpus_of_the_affinity(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    #            user nice system idle iowait irq softirq steal
    before = ("cpu  0 0 0 0 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\ncpu1 100 0 0 100 0 0 0 0\n"
              "cpu2 0 0 0 0 0 0 0 0\n")
    after = ("cpu  0 0 0 0 0 0 0 0\ncpu0 150 0 0 150 0 0 0 0\ncpu1 100 0 0 190 10 0 0 0\n"
             "cpu2 0 0 0 900 0 0 0 0\n")
    stat.write_text(before)
    monkeypatch.setattr(cpus, "PROC_STAT", stat)
    monkeypatch.setattr(cpus, "_affinity", lambda: {0, 1})
    monkeypatch.setattr(cpus.time, "sleep", lambda s: stat.write_text(after))
    # cpu0: 50 idle of 100; cpu1: 90 idle + 10 iowait of 100; cpu2 is not ours
    assert cpus.idle_cpus() == pytest.approx(2 * 150 / 200)


BUSY = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"
MEASURE = ("import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\n"
           "from wsol.io.cpus import idle_cpus\nprint(idle_cpus(0.5))\n")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/stat"),
                    reason="Linux only")
def test_a_busy_process_on_our_only_cpu_leaves_it_not_idle():
    cpu = min(os.sched_getaffinity(0))
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(cpu)])
    try:
        time.sleep(0.3)
        out = subprocess.run([sys.executable, "-c", MEASURE, str(cpu)], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": os.pathsep
                                                         .join(sys.path)})
    finally:
        busy.kill()
        busy.wait()
    assert float(out.stdout) < 0.5  # the busy loop holds the CPU: run_threads gives 1
