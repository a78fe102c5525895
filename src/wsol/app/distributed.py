"""Which DDP rank this process is, and waiting for the other ranks (no-ops in one process).

Under ``trainer.strategy=ddp`` every rank runs the whole pipeline: the distributed stages
(train, cam) on all ranks, everything that reads their results on global rank 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from wsol.app.schema import TrainerConfig

# Where launchers put a process's rank before it joins the process group, in Lightning's order
# (torchrun, Lightning's own launcher, SLURM, LSF).
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's global rank: the process group's once a Trainer has joined it, before
    that the one its launcher put in the environment (0 when nothing did)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def is_global_zero() -> bool:
    """True in the process that writes run-level files (metrics.json, run_info.json, ...)."""
    return global_rank() == 0


def barrier() -> None:
    """Wait until every rank gets here; nothing happens outside a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "nccl":  # NCCL needs to know this rank's GPU
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def requested_processes(trainer_cfg: TrainerConfig) -> int:
    """How many processes ``trainer.devices`` x ``trainer.num_nodes`` asks for (1 if unknown).

    ``devices`` may be an int, ``-1``/``"auto"`` (all GPUs), ``"0,1"`` or a list of ids.
    """
    devices = trainer_cfg.devices
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            devices = -1
        elif "," in text:
            devices = [d for d in text.split(",") if d.strip()]
        elif text.lstrip("-").isdigit():
            devices = int(text)
        else:
            devices = 1
    if isinstance(devices, int):
        count = devices if devices >= 0 else max(1, torch.cuda.device_count())
    else:
        count = len(list(devices))
    return max(1, count) * int(trainer_cfg.num_nodes or 1)


def ranks_started_externally() -> bool:
    """True when a cluster (SLURM tasks, torchrun) or Lightning's own launcher already
    started every rank, so Lightning will not re-execute the command line for them."""
    from pytorch_lightning.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect() \
        or "LOCAL_RANK" in os.environ


class RankShard(Sampler[int]):
    """Indices ``rank, rank+W, rank+2W, ...`` of ``range(n)`` for this process's global rank
    in a world of ``W`` ranks (all of ``range(n)`` outside a process group).

    Unlike Lightning's distributed samplers it never pads or repeats an index and lets a rank
    get none (fewer items than ranks). The rank is read when iterated, i.e. after the Trainer
    has joined the process group; pass ``use_distributed_sampler=False`` to the Trainer.
    """

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def _mine(self) -> range:
        if dist.is_available() and dist.is_initialized():
            return range(dist.get_rank(), self.n, dist.get_world_size())
        return range(self.n)

    def __iter__(self) -> Iterator[int]:
        return iter(self._mine())

    def __len__(self) -> int:
        return len(self._mine())


def inference_device(accelerator: str) -> torch.device:
    """The one device a global-rank-0 stage that runs the model itself (sanity, the evaluate
    stage's faithfulness) uses: this rank's CUDA device when ``trainer.accelerator`` allows a
    GPU (gpu, cuda, auto) and one is visible, else the CPU."""
    if str(accelerator).lower() in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
