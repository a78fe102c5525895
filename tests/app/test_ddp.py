"""DDP with 2 CPU processes (gloo) trains a usable model and gives the CAMs and metrics of 1.

The 2-process run goes through the real entry point, because Lightning's ``ddp`` launcher
re-executes ``scripts/run.py`` for the extra rank; the 1-process reference runs in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.runs import compose

from wsol.app import distributed, pipeline, preflight
from wsol.app.build import build_run
from wsol.app.distributed import RankShard, requested_processes
from wsol.app.schema import TrainerConfig
from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.demo.synthetic import ensure_demo_dataset
from wsol.errors import ConfigError
from wsol.models.checkpoint import load_classifier

pytestmark = pytest.mark.slow  # two interpreters train, ~20 s

REPO = Path(__file__).resolve().parents[2]
TINY = ["data.generate.num_images=60", "data.input_size=32", "data.batch_size=8",
        "data.num_workers=0", "trainer.accelerator=cpu", "eval.num_figures=0"]
DDP = ["trainer.devices=2", "trainer.strategy=ddp"]
# cam over the 56 train images in batches of 8: 7 batches, 4 on rank 0 and 3 on rank 1
CAM = ["data.cam_split=train", "cam.batch_size=8"]


def compose_run(data_dir: Path, *overrides: str):
    """The run config the CLI would build (without Hydra's run dir: pass paths.run_dir)."""
    return compose(f"paths.data_dir={data_dir}", *TINY, *overrides)


@pytest.fixture(scope="module")
def data_dir(tiny_demo_tree) -> Path:
    """The tiny tree with exactly the generator settings the runs ask for (so no rank
    regenerates it)."""
    cfg = compose_run(tiny_demo_tree, "paths.run_dir=unused")
    ensure_demo_dataset(Path(cfg.data.root), progress=False, **cfg.data.generate)
    return tiny_demo_tree


@pytest.fixture(scope="module")
def ddp_run(data_dir, tmp_path_factory) -> Path:
    """One 2-process run of every distributed stage and the rest: train (1 epoch of 2 steps),
    then cam from the model.pt it wrote, localize and evaluate."""
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    result = run_cli(f"paths.data_dir={data_dir}", *TINY, *DDP, *CAM, f"hydra.run.dir={run_dir}",
                     "stages=[train,cam,localize,evaluate]", f"cam.store_dir={run_dir / 'cams'}",
                     f"paths.cache_dir={run_dir / 'cache'}", "trainer.max_epochs=1",
                     "trainer.limit_train_batches=2", "trainer.log_every_n_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def _ran_two_ranks(run_dir: Path) -> bool:
    log = run_dir / "train_ddp_process_1.log"  # the log Lightning's re-executed rank 1 writes
    return log.is_file() and "GLOBAL_RANK: 1, MEMBER: 2/2" in log.read_text()


def test_each_rank_computes_its_own_share_of_the_cams(ddp_run):
    assert "cam rank 0/2: computed 4 of 7 pending batches" in (ddp_run / "run.log").read_text()
    rank1 = (ddp_run / "train_ddp_process_1.log").read_text()
    assert "cam rank 1/2: computed 3 of 7 pending batches" in rank1


def test_ddp_training_writes_one_loadable_checkpoint(ddp_run):
    assert _ran_two_ranks(ddp_run)
    net, target_layer, meta = load_classifier(ddp_run / "model.pt", list(SHAPE_CLASSES))
    assert meta["arch"] == "resnet18_quarter" and target_layer
    assert all(bool(p.isfinite().all()) for p in net.parameters())
    assert not list(ddp_run.glob(".*.tmp"))  # the atomic writes left no temporary file
    metrics = json.loads((ddp_run / "metrics.json").read_text())
    assert 0.0 <= metrics["cls/map"] <= 100.0  # scored once, by rank 0, on the whole split


def test_two_processes_give_the_same_cams_and_metrics_as_one(data_dir, ddp_run, tmp_path):
    """The reference: one process, the same stages from the checkpoint the DDP run trained."""
    one = tmp_path / "one"
    cfg = compose_run(data_dir, *CAM, "stages=[cam,localize,evaluate]",
                      f"model.checkpoint={ddp_run / 'model.pt'}",
                      f"paths.run_dir={one}", f"cam.store_dir={one / 'cams'}",
                      f"paths.cache_dir={tmp_path / 'cache'}")
    ref_metrics = pipeline.run(cfg)

    split = VOCDataset(Path(cfg.data.root), "train", SHAPE_CLASSES)
    ref, ddp = CamStore(one / "cams"), CamStore(ddp_run / "cams")
    assert ref.ids() == ddp.ids() == sorted(split.ids)  # every image once, none extra
    for image_id in ref.ids():
        for a, b in zip(ref.read_compact(image_id), ddp.read_compact(image_id), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=image_id)
    assert not list((ddp_run / "cams").glob(".*.tmp"))
    ddp_metrics = json.loads((ddp_run / "metrics.json").read_text())
    assert {k: ddp_metrics[k] for k in ref_metrics} == ref_metrics
    assert set(ddp_metrics) - set(ref_metrics) == {"train/seconds", "cls/map"}
    assert ref_metrics["cam/images"] == len(split) and "seg/miou" in ref_metrics
    assert (ddp_run / "boxes.json").read_text() == (one / "boxes.json").read_text()


# --- the rank bookkeeping, in one process -------------------------------------------------


@pytest.mark.parametrize("n, world", [(7, 2), (1, 2), (0, 3), (10, 4)])
def test_rank_shards_cover_every_item_once_without_padding(monkeypatch, n, world):
    shards = []
    for rank in range(world):
        monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
        monkeypatch.setattr(distributed.dist, "get_rank", lambda r=rank: r)
        monkeypatch.setattr(distributed.dist, "get_world_size", lambda w=world: w)
        shard = list(RankShard(n))
        assert len(RankShard(n)) == len(shard)
        shards.append(shard)
    assert sorted(i for shard in shards for i in shard) == list(range(n))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    assert list(RankShard(n)) == list(range(n))


@pytest.mark.parametrize("devices, nodes, expected",
                         [(1, 1, 1), (2, 1, 2), ("2", 2, 4), ("0,1,2", 1, 3), ([0, 1], 1, 2),
                          ("auto", 1, 1)])
def test_requested_processes(devices, nodes, expected, monkeypatch):
    monkeypatch.setattr(distributed.torch.cuda, "device_count", lambda: 0)
    assert requested_processes(TrainerConfig(devices=devices, num_nodes=nodes)) == expected


OWNED_KEY = {"evaluate": "eval/done"}  # a key of each stage's own (StageSpec.metrics)


def _fake_stages(monkeypatch, calls: list[str]) -> None:
    def load(name):
        def stage(run):
            calls.append(name)
            return {OWNED_KEY.get(name, f"{name}/done"): 1.0}
        return stage
    monkeypatch.setattr(pipeline, "_load_stage", load)
    monkeypatch.setattr(pipeline, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(preflight, "require_inputs", lambda run: None)  # nothing is read


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank0_runs_the_reading_stages_and_writes_run_files(monkeypatch, tmp_path, rank):
    calls: list[str] = []
    _fake_stages(monkeypatch, calls)
    monkeypatch.setattr(pipeline, "is_global_zero", lambda: rank == 0)
    run_dir = tmp_path / "run"
    cfg = compose_run(tmp_path, "stages=[train,cam,localize,evaluate]", f"paths.run_dir={run_dir}",
                      "data.generate=null",
                      f"data.root={tmp_path}")
    metrics = pipeline.run(cfg)
    if rank == 0:
        assert calls == ["train", "barrier", "cam", "barrier", "localize", "evaluate"]
        assert json.loads((run_dir / "metrics.json").read_text()) == metrics
        assert set(metrics) == {"train/done", "cam/done", "localize/done", "eval/done"}
        assert (run_dir / "run_info.json").is_file()
    else:
        assert calls == ["train", "barrier", "cam", "barrier"]
        assert metrics == {}
        assert sorted(p.name for p in run_dir.iterdir()) == []


def test_ddp_inside_a_local_sweep_is_refused(monkeypatch, tmp_path):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    class Multirun:
        mode = RunMode.MULTIRUN

    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: Multirun()))
    for var in ("SLURM_NTASKS", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    cfg = compose_run(tmp_path, *DDP, f"paths.run_dir={tmp_path / 'run'}")
    with pytest.raises(ConfigError, match="hydra/launcher=slurm"):
        pipeline.check_launch(build_run(cfg))
    monkeypatch.setenv("SLURM_NTASKS", "2")  # SLURM started the ranks: fine
    pipeline.check_launch(build_run(cfg))
