"""The CPUs one process of a run uses (config ``threads``), resolved once per run."""

from __future__ import annotations

import logging

from wsol.app.build import Run
from wsol.app.distributed import requested_processes
from wsol.io.cpus import run_threads, set_torch_threads

log = logging.getLogger(__name__)


def run_cpus(run: Run) -> int:
    """``threads``, or for null the CPUs this process may use that other processes leave idle,
    split between the DDP ranks on this node (:func:`wsol.io.cpus.run_threads`); measured the
    first time a run asks, then kept."""
    if "threads" not in run._memo:
        trainer = run.config.trainer
        per_node = max(1, requested_processes(trainer) // max(1, int(trainer.num_nodes or 1)))
        run._memo["threads"] = run_threads(run.config.threads, per_node)
        log.info("threads: %d per process (threads=%s, %d process(es) on this node)",
                 run._memo["threads"], run.config.threads, per_node)
    return run._memo["threads"]


def apply_threads(run: Run) -> int:
    """Size torch's and OpenCV's thread pools to :func:`run_cpus`; returns it."""
    threads = run_cpus(run)
    set_torch_threads(threads)
    return threads
