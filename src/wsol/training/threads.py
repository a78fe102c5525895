"""Keeps a run's torch thread count once Lightning has started its processes.

Lightning's DDP launchers size torch's threads themselves (``cpu_count // processes``, when
``OMP_NUM_THREADS`` is unset), after the run chose its own from the CPUs actually free; this
callback puts the run's count back when the trainer sets up.
"""

from __future__ import annotations

import pytorch_lightning as pl

from wsol.io.cpus import set_torch_threads


class KeepThreads(pl.Callback):
    """Sets torch's (and OpenCV's) threads to ``threads`` at the trainer's setup."""

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        set_torch_threads(self.threads)
