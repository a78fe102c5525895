"""imagenet_resnet50_cam's MaxBoxAccV2 equals wsolevaluation's pipeline (issue 10, parity d).

One random-init network with a GAP + Linear head (a quarter-width ResNet-18 at output stride
32, as the recipe's ResNet-50) is shared by both sides. Ours: ``wsol.app.pipeline.run`` with
``experiment=imagenet_resnet50_cam`` composed by Hydra (stages cam, localize, evaluate) on a
small ILSVRC-format tree. Theirs: helpers/reference_wsolevaluation.py (224² PIL-bilinear input,
CAM without ReLU, OpenCV bicubic to 224², min-max, boxes rescaled to 224² and truncated, all
contours, IoU 30/50/70, threshold grid 0.001).

The ILSVRC reader clips box coordinates outside [0, W-1] x [0, H-1] (the released XMLs hold
``xmax == width``); wsolevaluation's metadata keeps them, so after rescaling to 224 such a box
ends at 224 there and at 223 here. The tree's images with such boxes are left out of the split
(``LOC_val_ids.txt``) so that both sides see the same boxes.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.format_trees import write_imagenet_val_tree
from helpers.reference_wsolevaluation import (
    BoxEvaluator,
    resize_bbox,
    resnet_cam,
    scoremap,
    val_transform,
)
from helpers.runs import cam_store_path

from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier

pytestmark = pytest.mark.slow


def _xml_boxes(path: Path) -> tuple[tuple[int, int], str, list[list[int]]]:
    """((width, height), wnid, raw boxes) of an ILSVRC XML, read as wsolevaluation's metadata."""
    root = ET.parse(path).getroot()
    size = (int(root.findtext("size/width")), int(root.findtext("size/height")))
    boxes = [[int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
             for obj in root.iter("object")]
    return size, root.find("object").findtext("name"), boxes


@pytest.fixture(scope="module")
def wsol_run(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from wsol.app.pipeline import run

    base = tmp_path_factory.mktemp("wsoleval_parity")
    root = base / "ILSVRC"
    truth = write_imagenet_val_tree(root, n_images=24, seed=11)
    annotations = root / "Annotations" / "CLS-LOC" / "val"
    kept = []
    for image_id in truth.splits["val"]:
        (width, height), _, boxes = _xml_boxes(annotations / f"{image_id}.xml")
        if all(0 <= b[0] <= b[2] < width and 0 <= b[1] <= b[3] < height for b in boxes):
            kept.append(image_id)
    (root / "LOC_val_ids.txt").write_text("".join(f"{i}\n" for i in kept))
    torch.manual_seed(0)
    names = list(truth.class_names)
    net, _ = build_backbone("resnet18_quarter", len(names), None, 32)
    checkpoint = base / "model.pt"
    save_classifier(checkpoint, net, {"arch": "resnet18_quarter", "num_classes": len(names),
                                      "output_stride": 32, "class_names": names})
    run_dir = base / "run"
    configs = Path(__file__).resolve().parents[2] / "configs"
    with initialize_config_dir(str(configs), version_base="1.3"):
        cfg = compose("run", [
            "experiment=imagenet_resnet50_cam", f"data.root={root}", "data.num_workers=0",
            f"model.checkpoint={checkpoint}", "model.arch=resnet18_quarter",
            "model.weights=null", "trainer.accelerator=cpu", "eval.num_figures=0",
            f"paths.run_dir={run_dir}", f"paths.cache_dir={base / 'cache'}"])
    assert (cfg.cam.protocol, cfg.cam.method, cfg.eval.score_size) == ("wsolevaluation", "cam",
                                                                       224)
    assert cfg.eval.cam_threshold_step == 0.001 and cfg.eval.multi_contour
    run(cfg)
    return root, kept, net.eval(), names, run_dir


def _reference(root: Path, image_id: str, net, names):
    stages = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                 net.layer2, net.layer3, net.layer4)
    image = val_transform(root / "Data" / "CLS-LOC" / "val" / f"{image_id}.JPEG")
    size, wnid, boxes = _xml_boxes(root / "Annotations" / "CLS-LOC" / "val" / f"{image_id}.xml")
    cam = resnet_cam(stages, net.fc.weight.detach(), image, names.index(wnid))
    gt = [resize_bbox(b, size, (224, 224)) for b in boxes]
    return scoremap(cam), gt


def test_score_maps_equal_wsolevaluations(wsol_run):
    from wsol.cam import CamStore

    root, kept, net, names, run_dir = wsol_run
    store = CamStore(cam_store_path(run_dir))
    for image_id in kept:
        want, _ = _reference(root, image_id, net, names)
        ours, _ = store.read(image_id, size=(224, 224))
        assert ours.shape == (1, 224, 224) and want.std() > 0.05
        np.testing.assert_allclose(ours[0], want, rtol=0, atol=2e-5)


def test_maxboxacc_v2_equals_wsolevaluations(wsol_run):
    root, kept, net, names, run_dir = wsol_run
    evaluator = BoxEvaluator(interval=0.001, iou_thresholds=(30, 50, 70), multi_contour=True)
    for image_id in kept:
        score, gt = _reference(root, image_id, net, names)
        evaluator.accumulate(score, gt)
    accuracy = evaluator.compute()
    v2 = float(np.mean(list(accuracy.values())))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(f"\nMaxBoxAccV2 ours {metrics['loc/maxboxacc_v2']} vs wsolevaluation {v2:.4f} "
          f"({accuracy}) on {len(kept)} images")
    assert len(kept) >= 10 and 0 < v2 < 100
    assert metrics["loc/maxboxacc_v2"] == round(v2, 2)
    for delta, value in accuracy.items():
        assert metrics[f"loc/maxboxacc@{delta}"] == round(value, 2)
    # the whole BoxAcc(tau) curve of each delta, all 1,000 thresholds, not only its maximum
    rows = [line.split(",") for line in (run_dir / "curves.csv").read_text().splitlines()[1:]]
    for delta in (30, 50, 70):
        ours = [(float(t), float(v)) for name, t, v in rows if name == f"loc/boxacc@{delta}"]
        want = evaluator.correct[delta] * 100.0 / evaluator.count
        assert len(ours) == len(evaluator.thresholds) == 1000
        np.testing.assert_allclose([t for t, _ in ours], evaluator.thresholds, atol=5e-5)
        np.testing.assert_allclose([v for _, v in ours], want, atol=5e-5)
