"""localize and evaluate over worker processes (``threads``) write what one process writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.models import random_shapes_checkpoint
from helpers.runs import run_pipeline

TINY = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.num_workers=0",
        "trainer.accelerator=cpu", "eval.num_figures=0",
        "data.cam_split=train", "data.input_size=64", "eval.cam_threshold_step=0.02",
        "eval.multi_contour=true", "eval.faithfulness=false"]  # one process scores faithfulness


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random-init quarter ResNet-18 over the shape classes (maps differ image by image)."""
    return random_shapes_checkpoint(tmp_path_factory.mktemp("model") / "model.pt")


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _files(run_dir: Path) -> dict[str, bytes]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("cam/images", None)  # only the first run made the maps
    out = {name: (run_dir / name).read_bytes()
           for name in ("boxes.json", "curves.csv", "per_pair.csv", "per_class.json")}
    out["metrics"] = json.dumps(metrics).encode()
    out.update({f"seeds/{p.name}": p.read_bytes() for p in (run_dir / "seeds").glob("*.png")})
    return out


@pytest.mark.parametrize("classes", ["gt", "topk"])
def test_two_worker_processes_write_the_files_of_one(tiny_demo_tree, checkpoint, tmp_path,
                                                      restore_threads, classes):
    common = [f"paths.data_dir={tiny_demo_tree}", f"model.checkpoint={checkpoint}", *TINY,
              f"cam.classes={classes}", "cam.topk=5"]
    cache = tmp_path / "cache"
    one = run_pipeline(tmp_path / "one", *common, "stages=[cam,localize,evaluate]", "threads=1",
                       cache_dir=cache)
    two = run_pipeline(tmp_path / "two", *common, "stages=[localize,evaluate]", "threads=2",
                       cache_dir=cache)  # the same store, scored by two workers
    assert torch.get_num_threads() == 2  # the run's threads were applied
    assert one.pop("cam/images") == 48 and one == two
    assert one["eval/images"] == 48 and one["loc/pairs"] > 48  # several per image
    assert 0 < one["loc/maxboxacc_v2"] < 100 and 0 < one["loc/mean_iou"] < 100
    if classes == "topk":
        assert "loc/top5_loc_err" in one
    got, want = _files(tmp_path / "two"), _files(tmp_path / "one")
    assert len(want) == 5 + 48 and got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], name
