"""CAMs at each image's own size, images of equal size batched together, equal batch-1 maps.

The oracle is the same stage with ``cam.batch_size=1`` (IRN's setting: no batching at all).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.format_drawing import VOC_NAMES
from helpers.format_trees import write_segmentation_list, write_voc_sample
from helpers.runs import cam_store_path, run_pipeline

from wsol.cam import CamStore
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier

pytestmark = pytest.mark.slow

# (W, H): three sizes, in an order that interleaves them, as a VOC split does
SIZES = [(72, 56), (56, 72), (72, 56), (72, 56), (60, 60), (56, 72), (72, 56), (72, 56),
         (56, 72)]


def _write_tree(root: Path) -> list[str]:
    rng = np.random.default_rng(3)
    ids = [f"2009_{n:06d}" for n in range(len(SIZES))]
    for image_id, (width, height) in zip(ids, SIZES, strict=True):
        image = rng.integers(0, 255, (height, width, 3)).astype(np.uint8)
        objects = []
        for _ in range(1 + int(rng.integers(0, 2))):
            x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
            x1, y1 = x0 + int(rng.integers(8, width // 2)), y0 + int(rng.integers(8, height // 2))
            image[y0:y1 + 1, x0:x1 + 1] = rng.integers(100, 255, 3)
            objects.append({"class": int(rng.integers(0, 20)), "difficult": False,
                            "truncated": False, "box": [x0, y0, x1, y1]})
        write_voc_sample(root, image_id, image, objects)
    write_segmentation_list(root, "train", ids)
    return ids


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    base = tmp_path_factory.mktemp("cam_batches")
    root = base / "VOCdevkit" / "VOC2012"
    ids = _write_tree(root)
    torch.manual_seed(0)
    net, _ = build_backbone("resnet18_quarter", len(VOC_NAMES), None, 16, head_bias=False)
    checkpoint = base / "model.pt"
    save_classifier(checkpoint, net, {"arch": "resnet18_quarter", "num_classes": 20,
                                      "output_stride": 16, "class_names": list(VOC_NAMES)})
    return root, checkpoint, ids


def _cams(tree, run_dir: Path, batch: int, protocol: str, caplog) -> dict[str, dict]:
    root, checkpoint, ids = tree
    with caplog.at_level(logging.INFO, logger="wsol.app.stages.cam"):
        run_pipeline(run_dir, "experiment=voc_resnet", f"data.root={root}", "data.num_workers=0",
                     "stages=[cam]", f"model.checkpoint={checkpoint}",
                     "model.arch=resnet18_quarter", "trainer.accelerator=cpu",
                     f"cam.protocol={protocol}", f"cam.batch_size={batch}",
                     f"cam.store_dir={run_dir / 'store'}")
    store = cam_store_path(run_dir)
    out = {}
    for image_id in ids:
        with np.load(store / f"{image_id}.npz") as data:
            out[image_id] = {k: data[k] for k in data.files}
    assert CamStore(store).ids() == sorted(ids)
    return out


@pytest.mark.parametrize("protocol", ["irn", "default"])
def test_batches_of_equal_sizes_give_the_maps_of_batch_one(tree, tmp_path, caplog, protocol):
    single = _cams(tree, tmp_path / "one", 1, protocol, caplog)
    caplog.clear()
    batched = _cams(tree, tmp_path / "four", 4, protocol, caplog)
    # 5 of 72 x 56, 3 of 56 x 72, 1 of 60 x 60 -> [4, 1] + [3] + [1]
    assert "3 distinct sizes, 4 batches of up to 4 for 9 images" in caplog.text
    assert "computed 4 of 4 pending batches" in caplog.text
    for image_id, want in single.items():
        got = batched[image_id]
        assert got.keys() == want.keys()
        for key, value in want.items():
            if key.startswith("level_") or key == "scores":  # float32: to float tolerance
                assert value.max() > 0
                np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6 * value.max(),
                                           err_msg=f"{image_id} {key}")
            elif key == "cams":  # float16 levels of each map / its peak: one level apart
                np.testing.assert_allclose(got[key].astype(np.float32), value.astype(
                    np.float32), atol=1e-3, err_msg=image_id)
            elif key == "scale":
                np.testing.assert_allclose(got[key], value, rtol=1e-5)
            else:
                np.testing.assert_array_equal(got[key], value, err_msg=f"{image_id} {key}")
    if protocol == "irn":
        shapes = {tuple(single[i]["image_size"]) for i in single}
        assert shapes == {(56, 72), (72, 56), (60, 60)}  # (H, W): each image's own size
