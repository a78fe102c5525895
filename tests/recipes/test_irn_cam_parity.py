"""voc_resnet's CAMs and seeds equal IRN's make_cam + eval_cam (issue 10, parity a).

One random-init network (a quarter-width ResNet-18 at output stride 16, bias-free head, as
IRN's ResNet-50 CAM net but small enough for a CPU test) is shared by both sides. Our side is
the real pipeline in-process: ``wsol.app.pipeline.run`` with ``experiment=voc_resnet`` composed
by Hydra, stages cam (into the on-disk CAM store) and localize (seeds PNGs). The other side is
helpers/reference_irn.py, a re-derivation of IRN's code. Images have VOC's sizes and aspects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.format_drawing import VOC_NAMES
from helpers.format_trees import write_segmentation_list, write_voc_sample
from helpers.reference_irn import eval_cam_seed, make_cam_high_res
from helpers.runs import cam_store_path

from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier

pytestmark = pytest.mark.slow

SIZES = [(500, 375), (375, 500), (500, 333), (500, 281), (334, 500), (486, 500)]  # (W, H)
TAU = 0.15


def _image(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, list]:
    """A smooth background with 1-2 bright ellipses; returns the image and its objects."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([60 + 40 * np.sin(xx / rng.uniform(20, 60) + c) *
                      np.cos(yy / rng.uniform(20, 60)) for c in range(3)], -1)
    objects = []
    for _ in range(1 + int(rng.integers(0, 2))):
        cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
        ax, ay = rng.uniform(0.1, 0.25) * width, rng.uniform(0.1, 0.25) * height
        inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
        image[inside] = rng.uniform(120, 255, 3)
        ys, xs = np.nonzero(inside)
        objects.append({"class": int(rng.integers(0, 20)), "difficult": False,
                        "truncated": False,
                        "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]})
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), objects


def write_voc_sized_tree(root: Path, seed: int = 0) -> list[str]:
    """VOC2012-layout tree (JPEGImages, Annotations, ImageSets/Segmentation/train.txt)."""
    rng = np.random.default_rng(seed)
    ids = [f"2008_{n:06d}" for n in range(len(SIZES))]
    for image_id, (width, height) in zip(ids, SIZES, strict=True):
        image, objects = _image(rng, width, height)
        write_voc_sample(root, image_id, image, objects)
    write_segmentation_list(root, "train", ids)
    return ids


@pytest.fixture(scope="module")
def irn_run(tmp_path_factory):
    """(tree root, ids, the shared net, the run directory) after cam + localize."""
    from hydra import compose, initialize_config_dir

    from wsol.app.pipeline import run

    base = tmp_path_factory.mktemp("irn_parity")
    root = base / "VOCdevkit" / "VOC2012"
    ids = write_voc_sized_tree(root)
    torch.manual_seed(0)
    net, _ = build_backbone("resnet18_quarter", len(VOC_NAMES), None, 16, head_bias=False)
    checkpoint = base / "model.pt"
    save_classifier(checkpoint, net, {"arch": "resnet18_quarter", "num_classes": 20,
                                      "output_stride": 16, "class_names": list(VOC_NAMES)})
    configs = Path(__file__).resolve().parents[2] / "configs"
    run_dir = base / "run"
    with initialize_config_dir(str(configs), version_base="1.3"):
        cfg = compose("run", [
            "experiment=voc_resnet", f"data.root={root}", "data.num_workers=0",
            "stages=[cam,localize]", f"model.checkpoint={checkpoint}",
            "model.arch=resnet18_quarter", "model.weights=null", "trainer.accelerator=cpu",
            f"paths.run_dir={run_dir}", f"paths.cache_dir={base / 'cache'}",
            f"hydra.run.dir={run_dir}"])
    assert cfg.cam.protocol == "irn" and cfg.cam.method == "gradcam"  # the recipe's own
    assert list(cfg.cam.scales) == [1.0, 0.5, 1.5, 2.0] and cfg.cam.flip
    assert cfg.eval.bg_threshold == TAU
    run(cfg)
    return root, ids, net.eval(), run_dir


def _reference(net, root: Path, image_id: str):
    from wsol.datasets.voc_format import read_image

    stages = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                 net.layer2, net.layer3, net.layer4)
    image = read_image(root / "JPEGImages" / f"{image_id}.jpg")
    xml = (root / "Annotations" / f"{image_id}.xml").read_text()
    label = np.array([float(f"<name>{n}</name>" in xml) for n in VOC_NAMES], np.float32)
    return make_cam_high_res(stages, net.fc.weight.detach(), image, label)


def test_maps_equal_irns_high_res_cams(irn_run):
    from wsol.cam import CamStore

    root, ids, net, run_dir = irn_run
    store = CamStore(cam_store_path(run_dir))
    for image_id in ids:
        keys, want = _reference(net, root, image_id)
        ours, class_ids = store.read(image_id)
        assert class_ids.tolist() == keys.tolist()
        assert ours.shape == want.shape  # (K, H, W) at the image's own size
        assert want.max() > 0.99 and (want > TAU).mean() > 0.01, "vacuous: maps ~0"
        np.testing.assert_allclose(ours, want, rtol=1e-4, atol=2e-5)


def test_seeds_through_the_stages_match_irns(irn_run):
    from wsol.datasets.voc import read_voc_mask

    root, ids, net, run_dir = irn_run
    differ = total = foreground = 0
    for image_id in ids:
        keys, high = _reference(net, root, image_id)
        want = eval_cam_seed(high, keys, TAU)
        ours = read_voc_mask(run_dir / "seeds" / f"{image_id}.png")
        assert ours.shape == want.shape
        differ += int((ours != want).sum())
        total += want.size
        foreground += int((want > 0).sum())
    print(f"\nseed pixels differing from IRN at tau={TAU}: {differ} of {total} "
          f"({100 * differ / total:.4f} %); IRN's seeds {100 * foreground / total:.1f} % "
          "foreground")
    assert 0.05 < foreground / total < 0.95, "vacuous: seeds all background or all foreground"
    assert differ <= 0.001 * total
