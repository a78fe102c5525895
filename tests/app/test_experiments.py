"""Every paper recipe in configs/experiment runs end to end on a small tree in its real format
(random init, tiny epochs), and stops before any work when its data or weights are missing."""

from __future__ import annotations

import json

import pytest
from helpers.recipes import RECIPES, TINY
from helpers.runs import cam_store_path, compose, run_pipeline

from wsol.errors import WsolError
from wsol.localize import protocol_threshold

pytestmark = pytest.mark.slow

@pytest.mark.parametrize("experiment", sorted(RECIPES))
def test_recipe_runs_end_to_end(experiment, request, tmp_path):
    fixture, extra, keys = RECIPES[experiment]
    root, truth = request.getfixturevalue(fixture)
    run_dir = tmp_path / "run"
    returned = run_pipeline(run_dir, f"experiment={experiment}", f"data.root={root}", *TINY,
                            *extra)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == returned
    for key in keys:
        assert key in metrics, (key, sorted(metrics))
        assert 0.0 <= metrics[key] <= 100.0, (key, metrics[key])
    # every image of the scored split was scored, no more and no fewer
    cam_split = {"voc_resnet": "train", "coco_resnet": "train2014", "voc07_corloc": "trainval",
                 "voc_wsss": "train"}
    split = cam_split.get(experiment, "val")
    if experiment in ("voc_resnet", "coco_resnet", "voc_wsss"):  # IRN: maps at own size
        from wsol.cam import CamStore

        store = CamStore(cam_store_path(run_dir))
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


def test_missing_pretrained_weights_stop_before_work(imagenet_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    root, _ = imagenet_tree
    run_dir = tmp_path / "run"
    with pytest.raises(WsolError) as err:
        run_pipeline(run_dir, "experiment=imagenet_vgg16_gradcam", f"data.root={root}")
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert str(expected) in str(err.value)
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in str(err.value)
    assert not (run_dir / "cam_store.json").exists() and not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("experiment", ["coco_resnet", "imagenet_resnet50_cam", "voc07_corloc"])
def test_missing_dataset_stops_before_work(experiment, tmp_path):
    run_dir = tmp_path / "run"
    missing = tmp_path / "nowhere" / "data"
    with pytest.raises(WsolError) as err:
        run_pipeline(run_dir, f"experiment={experiment}", f"paths.data_dir={missing}")
    assert str(missing) in str(err.value) and "data.root" in str(err.value)
    assert not (run_dir / "model.pt").exists() and not (run_dir / "metrics.json").exists()


def test_recipes_compose_with_their_published_settings():
    vgg = compose("experiment=imagenet_vgg16_gradcam")
    r50 = compose("experiment=imagenet_resnet50_cam")
    coco = compose("experiment=coco_resnet")
    voc07 = compose("experiment=voc07_corloc")
    assert (vgg.model.arch, vgg.model.weights) == ("vgg16", "VGG16_Weights.IMAGENET1K_V1")
    assert (vgg.cam.classes, vgg.cam.topk, vgg.eval.box_protocol) == ("topk", 5, "gradcam")
    # each recipe's box at its protocol's own fraction (eval.box_threshold: null)
    assert protocol_threshold(vgg.eval.box_protocol, vgg.eval.box_threshold) == 0.15
    assert protocol_threshold(r50.eval.box_protocol, r50.eval.box_threshold) == 0.20
    assert "train" not in vgg.stages and "train" not in r50.stages
    assert (r50.cam.method, r50.eval.multi_contour, r50.model.output_stride) == ("cam", True, 32)
    assert (r50.cam.protocol, r50.eval.score_size, r50.eval.cam_threshold_step) == \
        ("wsolevaluation", 224, 0.001)
    assert list(r50.eval.iou_thresholds) == [30, 50, 70]
    assert (coco.data.format, coco.data.cam_split, coco.model.output_stride) == \
        ("coco", "train2014", 16)
    assert list(coco.cam.scales) == [1.0, 0.5, 1.5, 2.0] and coco.cam.flip
    assert (coco.cam.image_size, coco.cam.batch_size) == ("original", 1)
    for irn in (coco, compose_voc := compose("experiment=voc_resnet")):
        assert (irn.cam.protocol, irn.data.augment, irn.model.recipe) == ("irn", "irn", "irn")
        assert (irn.data.input_size, irn.data.batch_size, irn.trainer.max_epochs) == (512, 16, 5)
        assert (irn.model.lr, irn.model.head_lr_mult, irn.model.weight_decay) == (0.1, 10.0, 1e-4)
        assert (irn.model.optimizer, irn.model.schedule) == ("sgd", "poly")
    assert list(compose_voc.cam.scales) == [1.0, 0.5, 1.5, 2.0] and compose_voc.cam.flip
    assert (voc07.data.image_set, voc07.data.cam_split) == ("Main", "trainval")
