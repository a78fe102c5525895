"""Every paper recipe in configs/experiment runs end to end on a small tree in its real format
(random init, tiny epochs), and stops before any work when its data or weights are missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Shrinks a recipe to seconds on a 2-core CPU without changing what it computes. IRN's lr 0.1
# assumes ImageNet weights: from random init with BatchNorm statistics fixed (model.recipe=irn)
# a ResNet-50 diverges in one step, hence the lower lr of the tiny runs.
TINY = ("model.weights=null", "model.lr=0.001", "data.input_size=64", "data.batch_size=6",
        "data.num_workers=0",
        "trainer.max_epochs=1", "trainer.accelerator=cpu",
        "eval.num_figures=2", "hydra.job.chdir=false")

# experiment -> (tree fixture, extra overrides, metric keys its table needs)
RECIPES = {
    # IRN recipes: CAMs at each image's own size (the trees' images differ), one a batch
    "voc_resnet": ("voc2012_tree", ("cam.scales=[1.0,0.5]",),
                   ("seg/miou", "seg/miou_best", "loc/maxboxacc", "cls/map")),
    "coco_resnet": ("coco2014_tree", ("cam.scales=[1.0,0.5]",),
                    ("seg/miou", "seg/miou_best", "loc/maxboxacc")),
    # No train split on ImageNet val: the tiny runs train on val to get a checkpoint (the real
    # recipes explain torchvision's pretrained classifier and have no train stage; the stand-in
    # trains with model.recipe=default: IRN's fixed BatchNorm saturates a random-init
    # ResNet-50's sigmoid scores to 0).
    "imagenet_vgg16_gradcam": ("imagenet_tree",
                               ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                                "cam.topk=5", "cam.batch_size=6"),
                               ("loc/top1_loc_err", "loc/top5_loc_err", "cls/top1_err")),
    "imagenet_resnet50_cam": ("imagenet_tree",
                              ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                               "cam.batch_size=6", "model.recipe=default"),
                              ("loc/maxboxacc_v2", "loc/maxboxacc@70")),
    "voc07_corloc": ("voc2007_tree", ("cam.batch_size=6",), ("loc/corloc", "loc/maxboxacc")),
}


@pytest.mark.parametrize("experiment", sorted(RECIPES))
def test_recipe_runs_end_to_end(experiment, request, run_cli, tmp_path):
    fixture, extra, keys = RECIPES[experiment]
    root, truth = request.getfixturevalue(fixture)
    run_dir = tmp_path / "run"
    result = run_cli(f"experiment={experiment}", f"data.root={root}",
                     f"hydra.run.dir={run_dir}", *TINY, *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in keys:
        assert key in metrics, (key, sorted(metrics))
        assert 0.0 <= metrics[key] <= 100.0, (key, metrics[key])
    # every image of the scored split was scored, no more and no fewer
    cam_split = {"voc_resnet": "train", "coco_resnet": "train2014", "voc07_corloc": "trainval"}
    split = cam_split.get(experiment, "val")
    if experiment in ("voc_resnet", "coco_resnet"):  # IRN: maps at each image's own size
        from wsol.cam import CamStore

        store = CamStore(json.loads((run_dir / "cam_store.json").read_text())["path"])
        for image_id in store.ids()[:4]:
            stored = store.read_levels(image_id)
            width, height = truth.sizes[image_id]
            # one raw map per scale at the OS-16 layer's size (ceil), composed on read
            assert stored.layout == "irn" and stored.stride == 16
            assert stored.image_size == (height, width)
            assert [lv.shape[1:] for lv in stored.levels] == \
                [(-(-round(s * height) // 16), -(-round(s * width) // 16)) for s in (1.0, 0.5)]
            assert store.read(image_id)[0].shape[1:] == (height, width)
    # what the literature keeps rather than refuses is counted in metrics.json
    dropped = truth.extra.get("dropped", {}).get(split, [])
    assert metrics["data/dropped_empty_images"] == len(dropped)
    assert metrics["data/clipped_boxes"] == truth.extra.get("clipped", 0)
    annotated = [i for i in truth.splits[split] if truth.labels[i].any()]  # COCO drops empty
    assert metrics["eval/images"] == len(annotated)
    boxes = json.loads((run_dir / "boxes.json").read_text())
    scores = [b["score"] for b in boxes]  # the classifier's sigmoid for the box's class
    assert all(0.0 <= v <= 1.0 for v in scores) and len(set(scores)) > 1
    if experiment == "coco_resnet":  # a COCO results file: numeric image and category ids
        from wsol.datasets.classes import COCO_CATEGORY_IDS

        numeric = {int(i.rsplit("_", 1)[-1]) for i in annotated}  # COCO_train2014_<id>
        assert {b["image_id"] for b in boxes} <= numeric
        assert all(isinstance(b["image_id"], int) for b in boxes)
        assert {b["category_id"] for b in boxes} <= set(COCO_CATEGORY_IDS)
    else:
        assert {b["image_id"] for b in boxes} <= set(annotated)


def test_missing_pretrained_weights_stop_before_work(imagenet_tree, run_cli, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    root, _ = imagenet_tree
    run_dir = tmp_path / "run"
    result = run_cli("experiment=imagenet_vgg16_gradcam", f"data.root={root}",
                     f"hydra.run.dir={run_dir}", "hydra.job.chdir=false")
    assert result.returncode == 2
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert str(expected) in result.stderr
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in result.stderr
    assert not (run_dir / "cam_store.json").exists() and not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("experiment", ["coco_resnet", "imagenet_resnet50_cam", "voc07_corloc"])
def test_missing_dataset_stops_before_work(experiment, run_cli, tmp_path):
    run_dir = tmp_path / "run"
    missing = tmp_path / "nowhere" / "data"
    result = run_cli(f"experiment={experiment}", f"paths.data_dir={missing}",
                     f"hydra.run.dir={run_dir}", "hydra.job.chdir=false")
    assert result.returncode == 2
    assert str(missing) in result.stderr and "data.root" in result.stderr
    assert not (run_dir / "model.pt").exists() and not (run_dir / "metrics.json").exists()


def _compose(experiment):
    from hydra import compose, initialize_config_dir

    configs = Path(__file__).resolve().parents[2] / "configs"
    with initialize_config_dir(str(configs), version_base="1.3"):
        return compose("run", [f"experiment={experiment}"])


def test_recipes_compose_with_their_published_settings():
    from hydra import compose, initialize_config_dir

    configs = Path(__file__).resolve().parents[2] / "configs"
    with initialize_config_dir(str(configs), version_base="1.3"):
        vgg = compose("run", ["experiment=imagenet_vgg16_gradcam"])
        r50 = compose("run", ["experiment=imagenet_resnet50_cam"])
        coco = compose("run", ["experiment=coco_resnet"])
        voc07 = compose("run", ["experiment=voc07_corloc"])
    assert (vgg.model.arch, vgg.model.weights) == ("vgg16", "VGG16_Weights.IMAGENET1K_V1")
    assert (vgg.cam.classes, vgg.cam.topk, vgg.eval.box_threshold) == ("topk", 5, 0.15)
    assert "train" not in vgg.stages and "train" not in r50.stages
    assert (r50.cam.method, r50.eval.multi_contour, r50.model.output_stride) == ("cam", True, 32)
    assert (r50.cam.protocol, r50.eval.score_size, r50.eval.cam_threshold_step) == \
        ("wsolevaluation", 224, 0.001)
    assert list(r50.eval.iou_thresholds) == [30, 50, 70]
    assert (coco.data.format, coco.data.cam_split, coco.model.output_stride) == \
        ("coco", "train2014", 16)
    assert list(coco.cam.scales) == [1.0, 0.5, 1.5, 2.0] and coco.cam.flip
    assert (coco.cam.image_size, coco.cam.batch_size) == ("original", 1)
    for irn in (coco, compose_voc := _compose("voc_resnet")):
        assert (irn.cam.protocol, irn.data.augment, irn.model.recipe) == ("irn", "irn", "irn")
        assert (irn.data.input_size, irn.data.batch_size, irn.trainer.max_epochs) == (512, 16, 5)
        assert (irn.model.lr, irn.model.head_lr_mult, irn.model.weight_decay) == (0.1, 10.0, 1e-4)
        assert (irn.model.optimizer, irn.model.schedule) == ("sgd", "poly")
    assert list(compose_voc.cam.scales) == [1.0, 0.5, 1.5, 2.0] and compose_voc.cam.flip
    assert (voc07.data.image_set, voc07.data.cam_split) == ("Main", "trainval")
