"""Batches of the data module and the CAM dataset on the tiny generated demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsol.datasets.voc import VOCDataset
from wsol.errors import ConfigError
from wsol.training.datamodule import CamDataset, WSOLDataModule


def _module(root, **kw):
    args = dict(class_names="shapes", input_size=32, batch_size=4, num_workers=0, seed=0)
    return WSOLDataModule(root, **{**args, **kw})


@pytest.mark.parametrize("cache", [True, False])
def test_train_and_val_batches(demo_root, cache):
    dm = _module(demo_root, cache_images=cache)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == 15 // 4  # drop_last
    for batch in batches:
        assert set(batch) == {"image", "labels"}
        assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
        assert batch["labels"].shape == (4, 8) and batch["labels"].dtype == torch.float32
        assert (batch["labels"].sum(1) >= 1).all()
    val = list(dm.val_dataloader())
    assert [b["image"].shape[0] for b in val] == [4, 1]
    labels = torch.cat([b["labels"] for b in val])
    assert torch.equal(labels, torch.from_numpy(VOCDataset(demo_root, "val", "shapes").labels))


def test_cached_and_disk_paths_agree(demo_root):
    """Without augmentation both paths are a plain resize of the same pixels."""
    no_aug = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False)
    cached, disk = _module(demo_root, cache_images=True, **no_aug), \
        _module(demo_root, cache_images=False, **no_aug)
    val_c, val_d = next(iter(cached.val_dataloader())), next(iter(disk.val_dataloader()))
    assert torch.equal(val_c["image"], val_d["image"])  # same uint8 resize, then normalise
    train_c = torch.cat([b["image"] for b in cached.train_dataloader()])
    train_d = torch.cat([b["image"] for b in disk.train_dataloader()])
    # the shuffles differ: compare sorted per-image means, resampled bilinearly both ways
    key_c, key_d = train_c.mean((1, 2, 3)).sort().values, train_d.mean((1, 2, 3)).sort().values
    assert torch.allclose(key_c, key_d, atol=0.02)


def test_augmentation_is_seeded(demo_root):
    a = next(iter(_module(demo_root, cache_images=True, seed=1).train_dataloader()))
    b = next(iter(_module(demo_root, cache_images=True, seed=1).train_dataloader()))
    c = next(iter(_module(demo_root, cache_images=True, seed=2).train_dataloader()))
    assert torch.equal(a["image"], b["image"]) and not torch.equal(a["image"], c["image"])


def test_cam_dataset_and_predict_loader(demo_root):
    voc = VOCDataset(demo_root, "val", "shapes")
    ds = CamDataset(voc, 48)
    item = ds[0]
    assert item["image"].shape == (3, 48, 48) and item["image"].dtype == torch.float32
    assert item["image_id"] == voc.ids[0] and item["orig_size"] == (64, 64)
    assert torch.equal(item["labels"], torch.from_numpy(voc.labels[0]))
    dm = _module(demo_root, cam_split="train")
    batch = next(iter(dm.predict_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32)
    assert batch["image_id"] == VOCDataset(demo_root, "train", "shapes").ids[:4]
    assert batch["orig_size"] == [(64, 64)] * 4 and batch["labels"].shape == (4, 8)


def test_bad_options():
    with pytest.raises(ConfigError, match="cache_images"):
        WSOLDataModule("x", "shapes", cache_images="yes")
    with pytest.raises(ConfigError, match="crop_scale"):
        WSOLDataModule("x", "shapes", crop_scale=(0.0, 1.0))


def test_cam_dataset_at_original_size_and_its_batching_rule(tmp_path):
    class _Two:
        ids = ["wide", "tall"]
        labels = np.eye(2, dtype=np.float32)
        shapes = {0: (30, 50, 3), 1: (40, 20, 3)}

        def __len__(self):
            return 2

        def image(self, index):
            return np.full(self.shapes[index], 100, np.uint8)

    original = CamDataset(_Two(), None)
    assert original[0]["image"].shape == (3, 30, 50) and original[0]["orig_size"] == (30, 50)
    assert CamDataset.collate([original[1]])["image"].shape == (1, 3, 40, 20)
    with pytest.raises(ConfigError, match="cam.batch_size=1"):
        CamDataset.collate([original[0], original[1]])
    assert CamDataset(_Two(), 32)[0]["image"].shape == (3, 32, 32)
