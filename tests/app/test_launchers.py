"""The SLURM (submitit) and local parallel (joblib) sweep launchers: configs and a real sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.runs import compose
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

import wsol.app.schema  # noqa: F401  (registers the config schema)
from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.demo.synthetic import ensure_demo_dataset

REPO = Path(__file__).resolve().parents[2]


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return hydra_compose(config_name="run", overrides=list(overrides),
                             return_hydra_config=True)


def test_slurm_launcher_composes_with_one_task_and_gpu_per_ddp_rank():
    cfg = _compose("hydra/launcher=slurm", "trainer.devices=4", "trainer.num_nodes=2",
                   "hydra.launcher.partition=gpu", "hydra.launcher.account=proj42")
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == 4  # = trainer.devices
    assert launcher["nodes"] == 2  # = trainer.num_nodes
    assert launcher["partition"] == "gpu" and launcher["account"] == "proj42"
    assert launcher["timeout_min"] > 0 and launcher["mem_gb"] > 0
    # the plugin accepts every key (it builds its sbatch parameters here, submits nothing)
    plugin = instantiate(cfg.hydra.launcher)
    assert plugin.params["tasks_per_node"] == 4 and plugin.params["partition"] == "gpu"
    assert cfg.hydra.callbacks.sweep_summary._target_ == "wsol.report.sweep.SweepSummary"


def test_local_parallel_launcher_composes():
    cfg = _compose("hydra/launcher=local_parallel", "hydra.launcher.n_jobs=3")
    assert cfg.hydra.launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 3
    assert _compose("hydra/launcher=local_parallel").hydra.launcher.n_jobs == 2
    assert cfg.hydra.callbacks.sweep_summary._target_ == "wsol.report.sweep.SweepSummary"


def _oracle_store(root: Path, directory: Path, value: float) -> None:
    """Maps equal to ``value`` on each GT class's mask, 0 elsewhere (val split)."""
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    store = CamStore(directory)
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        cams = np.stack([value * (mask == c + 1) for c in classes]).astype(np.float32)
        store.write(image_id, cams, classes, mask.shape)


@pytest.mark.slow  # two job processes
def test_two_job_joblib_sweep_writes_both_runs_and_the_summary(tiny_demo_tree, tmp_path):
    data = [f"paths.data_dir={tiny_demo_tree}", "data.generate.num_images=60",
            "data.generate.val_fraction=0.2"]  # the fixture's tree, never regenerated
    cfg = compose(*data, "paths.run_dir=unused")
    root = Path(cfg.data.root)
    ensure_demo_dataset(root, progress=False, **cfg.data.generate)  # jobs must not regenerate
    store = tmp_path / "cams"
    _oracle_store(root, store, value=0.15)  # seeds: perfect below tau=0.15, empty above
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "hydra/launcher=local_parallel", f"hydra.sweep.dir={sweep}",
                     "stages=[evaluate]", f"cam.store_dir={store}", "eval.num_figures=0",
                     "eval.bg_threshold=0.1,0.2", *data, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel" in result.stdout + result.stderr  # the joblib launcher ran them
    miou = {}
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        info = json.loads((sweep / job / "run_info.json").read_text())
        miou[info["command"].split("eval.bg_threshold=")[1].split()[0]] = metrics["seg/miou"]
    assert miou["0.1"] == 100.0 and miou["0.2"] < 100.0
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [r["job"] for r in rows] == ["0", "1"]
    assert {float(r["seg/miou"]) for r in rows} == _four_digits(miou.values())
    assert "eval.bg_threshold=0.2" in (sweep / "sweep_summary.md").read_text()
    # a second sweep into the same folder: its summary is its one job, not the first's two
    again = run_cli("-m", "hydra/launcher=local_parallel", f"hydra.sweep.dir={sweep}",
                    "stages=[evaluate]", f"cam.store_dir={store}", "eval.num_figures=0",
                    "eval.bg_threshold=0.3", *data, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [(r["job"], r["overrides"].split("eval.bg_threshold=")[1].split()[0])
            for r in rows] == [("0", "0.3")]
    assert "sweep of 1 run ->" in again.stdout
    assert "Left out: job folder(s) 1 " in (sweep / "sweep_summary.md").read_text()


def _four_digits(values) -> set[float]:
    """The summary prints 4 significant digits."""
    return {float(f"{v:.4g}") for v in values}


@pytest.mark.slow  # one CLI sweep
def test_a_job_that_fails_at_run_time_is_named(tiny_demo_tree, tmp_path):
    """A sweep job stopped by its inputs (no maps in the second store) names its number and
    overrides, as a value refused before the sweep does; the job before it has its results."""
    data = [f"paths.data_dir={tiny_demo_tree}", "data.generate.num_images=60",
            "data.generate.val_fraction=0.2"]  # the fixture's tree, never regenerated
    root = Path(compose(*data, "paths.run_dir=unused").data.root)
    _oracle_store(root, tmp_path / "cams", value=0.15)
    (tmp_path / "empty").mkdir()
    sweep = tmp_path / "sweep"
    result = run_cli("-m", f"hydra.sweep.dir={sweep}", "stages=[evaluate]", "eval.num_figures=0",
                     f"cam.store_dir={tmp_path / 'cams'},{tmp_path / 'empty'}", *data,
                     timeout=300)
    assert result.returncode == 2
    assert f"wsol: error: sweep job 1 (stages=[evaluate] eval.num_figures=0 cam.store_dir=" \
           f"{tmp_path / 'empty'}" in result.stderr
    assert (sweep / "0" / "metrics.json").is_file()
