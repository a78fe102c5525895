"""The pipeline benchmark's pieces on a tiny tree: options, floors, one stage through the entry
point (scripts/bench_pipeline.py, scripts/bench_floors.py)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from wsol.cam import CamStore
from wsol.demo.bench_trees import VOC_SIZED, render, subset_split, write_tree

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from bench_floors import decode_rates, forward_floor, open_split  # noqa: E402
from bench_pipeline import checkpoint, options, stage  # noqa: E402

TINY_VOC = replace(VOC_SIZED, num_images=8, sizes=((64, 48, 0.6), (48, 64, 0.2)), long_side=64)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench_pipeline")
    root = write_tree(base / "VOCdevkit" / "VOC2012", TINY_VOC)
    net = checkpoint(base, "resnet18_quarter", TINY_VOC.classes, "voc")
    return base, root, net


def test_quick_is_a_small_cpu_check_and_the_default_is_resnet50():
    quick = options(["--quick", "--cache", "/tmp/x"])
    assert quick.cache == Path("/tmp/x/quick") and quick.cam_arch == "resnet18_quarter"
    assert {s.num_images for s in quick.specs.values()} == {96}
    assert quick.cam_images == quick.eval_images == 48
    full = options(["--threads", "2"])
    assert full.cam_arch == "resnet50" and full.eval_arch == "resnet18_quarter"
    assert full.cam_images == 4 and full.threads == 2 and full.batch_size == 4
    assert (full.specs["voc"].num_images, full.specs["coco"].num_images) == (1464, 5000)
    gpu = options(["--device", "cuda", "--precision", "bf16"])
    assert gpu.channels_last and gpu.cam_images is None and gpu.eval_arch == "resnet50"


def test_floors_batch_as_the_stage_does(tree):
    _, root, net = tree
    images = open_split("voc", root, "train")
    decode, items = decode_rates(images, limit=4)
    assert decode > 0 and items > 0
    floor = forward_floor(images, net, 2, "cpu", "fp32", False, 1)
    # equal sizes share batches of 2: the oracle counts the rendered images' sizes
    sizes = Counter(render(TINY_VOC, i)[0].shape[:2] for i in range(TINY_VOC.num_images))
    assert floor.batches == sum(math.ceil(n / 2) for n in sizes.values())
    assert floor.images_per_s == pytest.approx(len(images) / floor.seconds)
    assert floor.cuda_peak_bytes is None


@pytest.mark.slow  # one entry-point process (~5-8 s)
def test_a_stage_through_the_entry_point_reports_time_and_memory(tree):
    base, root, net = tree
    split = subset_split(root, TINY_VOC, 3)
    result = stage("cam", base / "run", [
        "experiment=voc_resnet", f"data.root={root}", f"data.cam_split={split}",
        "model.weights=null", f"model.checkpoint={net}", "model.arch=resnet18_quarter",
        f"paths.cache_dir={base / 'cache'}", "trainer.accelerator=cpu", "trainer.devices=1",
        "cam.batch_size=2", "cam.scales=[1.0,0.5]", "data.num_workers=0", "threads=1"])
    assert result["seconds"] > 0 and result["threads"] == 1
    assert result["rss_kb"] > 50_000  # torch is loaded: tens of MB at least
    stores = [p.parent for p in (base / "cache").rglob("manifest.json")]
    assert len(stores) == 1 and len(CamStore(stores[0]).ids()) == 3
