"""The WSSS chain (pseudo and segment stages) in the pipeline, on tiny generated trees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.runs import run_pipeline

from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.errors import ConfigError, DataError
from wsol.pseudo.folder import PseudoLabelFolder

TINY = ["experiment=demo_wsss", "data.generate.num_images=60", "data.generate.val_fraction=0.2",
        "trainer.max_epochs=1", "segment.max_epochs=1", "pseudo.max_images=null",
        "eval.num_figures=2"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_chain_writes_every_output_and_a_rerun_after_a_kill_gives_the_same_files(
        tiny_demo_tree, tmp_path):
    run_dir = tmp_path / "run"
    args = [f"paths.data_dir={tiny_demo_tree}", *TINY]
    metrics = run_pipeline(run_dir, *args, "stages=[train,cam,pseudo,segment]")
    root = tiny_demo_tree / "demo" / "VOCshapes"
    train = VOCDataset(root, "train", SHAPE_CLASSES)
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    pseudo, predictions = _files(run_dir / "pseudo"), _files(run_dir / "segment")
    assert sorted(pseudo) == sorted(f"{i}.png" for i in train.ids)
    assert sorted(predictions) == sorted(f"{i}.png" for i in val.ids)
    for name in ("segmenter.pt", "figures/wsss.png", "pseudo/manifest.json"):
        assert (run_dir / name).is_file(), name
    for key in ("seg/pseudo_miou", "seg/pseudo_miou_unrefined", "seg/pseudo_seed_miou",
                "seg/pseudo_ignored", "seg/val_miou"):
        assert 0.0 <= metrics[key] <= 100.0, key
    # a run killed inside the pseudo stage: some labels missing, a half-written temp file
    for name in sorted(pseudo)[::3]:
        (run_dir / "pseudo" / name).unlink()
    (run_dir / "pseudo" / ".000001.png.abc123.tmp").write_bytes(b"partial")
    shutil.rmtree(run_dir / "segment")
    (run_dir / "segmenter.pt").unlink()  # killed while training: no model yet
    again = run_pipeline(run_dir, *args, "stages=[pseudo,segment]")
    assert _files(run_dir / "pseudo") == pseudo
    assert not list((run_dir / "pseudo").glob(".*.tmp"))
    assert _files(run_dir / "segment") == predictions
    assert again["seg/val_miou"] == metrics["seg/val_miou"]
    # killed while predicting: the model is reused, not retrained, and the files are the same
    shutil.rmtree(run_dir / "segment")
    stamp = (run_dir / "segmenter.pt").stat().st_mtime_ns
    run_pipeline(run_dir, *args, "stages=[segment]")
    assert (run_dir / "segmenter.pt").stat().st_mtime_ns == stamp
    assert _files(run_dir / "segment") == predictions


@pytest.fixture(scope="module")
def gt_store(tiny_demo_tree, tmp_path_factory) -> Path:
    """A CAM store for the val split whose maps are the ground-truth masks."""
    root = tiny_demo_tree / "demo" / "VOCshapes"
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    store_dir = tmp_path_factory.mktemp("gt_store")
    store = CamStore(store_dir)
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        cams = np.stack([(mask == c + 1).astype(np.float32) for c in classes]) if classes \
            else np.zeros((0, *mask.shape), np.float32)
        store.write(image_id, cams, classes, mask.shape)
    return store_dir


def _gt_run(tiny_demo_tree, gt_store, run_dir, *extra):
    return run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", *TINY,
                        "data.cam_split=val", f"cam.store_dir={gt_store}", *extra)


@pytest.mark.parametrize("refiner,floor", [("none", 100.0), ("crf", 90.0)])
def test_ground_truth_maps_give_exact_pseudo_labels(tiny_demo_tree, gt_store, tmp_path,
                                                    refiner, floor):
    """Oracle: maps equal to the masks make seeds and pseudo-labels equal to the masks
    (mIoU 100, nothing ignored); the CRF keeps them (nearly) so."""
    metrics = _gt_run(tiny_demo_tree, gt_store, tmp_path / "run", "stages=[pseudo]",
                      f"pseudo.refiner={refiner}")
    assert metrics["seg/pseudo_seed_miou"] == 100.0
    assert metrics["seg/pseudo_miou"] >= floor
    if refiner == "none":
        assert metrics["seg/pseudo_ignored"] == 0.0


def test_pseudo_labels_of_other_settings_are_refused_before_any_stage(
        tiny_demo_tree, gt_store, tmp_path):
    run_dir = tmp_path / "run"
    _gt_run(tiny_demo_tree, gt_store, run_dir, "stages=[pseudo]", "pseudo.refiner=none")
    made = _files(run_dir / "pseudo")
    with pytest.raises(ConfigError) as err:
        _gt_run(tiny_demo_tree, gt_store, run_dir, "stages=[pseudo]", "pseudo.refiner=none",
                "pseudo.fg_threshold=0.6")
    assert "\n" not in str(err.value)
    assert "fg_threshold: stored 0.5, requested 0.6" in str(err.value)
    with pytest.raises(ConfigError, match="refiner: stored 'none', requested 'crf'"):
        _gt_run(tiny_demo_tree, gt_store, run_dir, "stages=[segment]", "pseudo.refiner=crf")
    assert _files(run_dir / "pseudo") == made  # nothing was overwritten
    with pytest.raises(ConfigError, match="No pseudo-labels in"):
        _gt_run(tiny_demo_tree, gt_store, tmp_path / "fresh", "stages=[segment]")


def test_a_val_split_without_masks_stops_before_training(tiny_demo_tree, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_demo_tree, data_dir)
    root = data_dir / "demo" / "VOCshapes"
    for image_id in VOCDataset(root, "val", SHAPE_CLASSES).ids:
        (root / "SegmentationClass" / f"{image_id}.png").unlink()
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match="masks"):
        run_pipeline(run_dir, f"paths.data_dir={data_dir}", *TINY)
    assert not (run_dir / "model.pt").exists() and not (run_dir / "train_logs").exists()


@pytest.mark.parametrize("override,named", [
    ("pseudo.bg_threshold=0.9", "pseudo.bg_threshold=0.9 is above pseudo.fg_threshold"),
    ("segment.output_stride=32", "segment.output_stride=32"),
    ("pseudo.refiner=affinity", "'crf'"),
    ("pseudo.crf.gt_prob=1.0", "pseudo.crf.gt_prob"),
    ("segment.scale_range=[1.5,0.5]", "segment.scale_range"),
])
def test_bad_wsss_settings_stop_before_any_stage(tmp_path, override, named):
    missing = tmp_path / "no-data"  # were the value let through, nothing could start
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        run_pipeline(tmp_path / "run", "experiment=demo_wsss", f"paths.data_dir={missing}",
                     "data.generate=null", override)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_the_demo_wsss_experiment_reads_train_maps_and_scores_val():
    from helpers.runs import compose

    cfg = compose("experiment=demo_wsss")
    assert cfg.data.cam_split == "train" and cfg.data.val_split == "val"
    assert list(cfg.stages) == ["train", "cam", "pseudo", "segment", "report"]
    assert json.loads(json.dumps(list(cfg.segment.test_scales))) == [1.0]


def test_segment_weights_of_another_architecture_stop_before_training(tiny_demo_tree, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    from wsol.models.weights import cached_weights_path, resolve_weights_enum

    path = cached_weights_path(resolve_weights_enum("resnet50", "IMAGENET1K_V1"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"present; never read: the run stops first")
    with pytest.raises(ConfigError, match="ResNet50_Weights weights but segment.arch="):
        run_pipeline(tmp_path / "run", f"paths.data_dir={tiny_demo_tree}", *TINY,
                     "segment.weights=ResNet50_Weights.IMAGENET1K_V1")
    assert not (tmp_path / "run" / "model.pt").exists()


# -- a pseudo-label folder is trusted only when the pseudo stage made it from the same maps --

FAST = ("data.input_size=32", "trainer.limit_train_batches=2", "model.weights=null",
        "pseudo.refiner=none", "pseudo.num_workers=0")


class Killed(Exception):
    """Stands for the process being killed in the middle of the pseudo stage."""


def test_a_folder_holding_labels_but_no_manifest_is_refused_not_adopted(
        tiny_demo_tree, gt_store, tmp_path, monkeypatch):
    """Ground-truth masks copied into pseudo.dir were adopted as "already made" (mIoU 100):
    now refused before any stage, like the run's own folder once its manifest is gone; a
    killed run still resumes, as its manifest is written before the first label."""
    root = tiny_demo_tree / "demo" / "VOCshapes"
    fake = tmp_path / "fake"
    fake.mkdir()
    for image_id in VOCDataset(root, "val", SHAPE_CLASSES).ids:
        shutil.copy(root / "SegmentationClass" / f"{image_id}.png", fake)
    copied = _files(fake)
    with pytest.raises(ConfigError) as err:
        _gt_run(tiny_demo_tree, gt_store, tmp_path / "run", *FAST, "stages=[pseudo]",
                f"pseudo.dir={fake}")
    message = str(err.value)
    assert "\n" not in message and str(fake) in message and "no manifest.json" in message
    assert "set pseudo.dir to an empty or new folder, or remove those files" in message
    assert _files(fake) == copied and not (fake / "manifest.json").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()

    reference = tmp_path / "reference"
    _gt_run(tiny_demo_tree, gt_store, reference, *FAST, "stages=[pseudo]")
    real_write = PseudoLabelFolder.write

    def write_once_then_die(self, image_id, label):
        if list(self.directory.glob("*.png")):
            raise Killed
        real_write(self, image_id, label)

    run_dir = tmp_path / "own"
    with monkeypatch.context() as patch:
        patch.setattr(PseudoLabelFolder, "write", write_once_then_die)
        with pytest.raises(Killed):
            _gt_run(tiny_demo_tree, gt_store, run_dir, *FAST, "stages=[pseudo]")
    assert (run_dir / "pseudo" / "manifest.json").is_file()
    assert len(_files(run_dir / "pseudo")) == 1
    _gt_run(tiny_demo_tree, gt_store, run_dir, *FAST, "stages=[pseudo]")  # resumes
    assert _files(run_dir / "pseudo") == _files(reference / "pseudo")
    (run_dir / "pseudo" / "manifest.json").unlink()
    with pytest.raises(ConfigError, match="no manifest.json"):
        _gt_run(tiny_demo_tree, gt_store, run_dir, *FAST, "stages=[pseudo]")
    assert not (run_dir / "pseudo" / "manifest.json").exists()


def test_a_run_that_trains_is_refused_before_training_when_the_folder_holds_labels(
        tiny_demo_tree, gt_store, tmp_path):
    """A new model makes new maps: labels of the old ones in the folder would be mixed with
    them, so the refusal comes before the train stage (it came after train and cam)."""
    run_dir = tmp_path / "run"
    _gt_run(tiny_demo_tree, gt_store, run_dir, *FAST, "stages=[pseudo]")
    made = _files(run_dir / "pseudo")
    with pytest.raises(ConfigError) as err:
        run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", *TINY, *FAST,
                     "data.cam_split=val", "stages=[train,cam,pseudo]")
    for name in ("model.pt", "train_logs", "cam_store.json"):
        assert not (run_dir / name).exists(), name
    message = str(err.value)
    assert "\n" not in message and str(run_dir / "pseudo") in message
    assert f"CAM store {gt_store}" in message and "train stage makes a new model" in message
    assert _files(run_dir / "pseudo") == made


@pytest.fixture(scope="module")
def tiny_model(tiny_demo_tree, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("wsss_model") / "run"
    run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", *TINY, *FAST, "stages=[train]")
    return run_dir / "model.pt"


def test_cam_and_pseudo_compare_the_store_key_before_the_cam_stage(tiny_demo_tree, tiny_model,
                                                                   tmp_path):
    """With cam (no train) the store key is known up front: the same settings resume the
    folder, other map settings are refused before any map is made."""
    labels, cache = tmp_path / "labels", tmp_path / "cache"
    args = (f"paths.data_dir={tiny_demo_tree}", *TINY, *FAST, "data.cam_split=val",
            f"model.checkpoint={tiny_model}",
            f"pseudo.dir={labels}", "stages=[cam,pseudo]")
    run_pipeline(tmp_path / "a", *args, cache_dir=cache)
    made = _files(labels)
    store = json.loads((tmp_path / "a" / "cam_store.json").read_text())
    run_pipeline(tmp_path / "b", *args, cache_dir=cache)  # same settings: accepted
    assert _files(labels) == made
    stores = sorted((cache / "cams").iterdir())
    with pytest.raises(ConfigError) as err:
        run_pipeline(tmp_path / "c", *args, "cam.flip=true", cache_dir=cache)
    message = str(err.value)
    assert "\n" not in message and f"cam_store: stored '{store['key']}'" in message
    assert sorted((cache / "cams").iterdir()) == stores  # no map was made
    assert not (tmp_path / "c" / "cam_store.json").exists()
    assert _files(labels) == made
