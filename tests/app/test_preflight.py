"""The pre-run data checker on complete and broken trees of each format."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.runs import build

from wsol.app import preflight
from wsol.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _cfg(*overrides):
    return build(Path("/nonexistent-run-dir"), *overrides)


def check_run(run, **kwargs):
    return preflight.check_run(run, **kwargs)


def _by_check(findings):
    return {f.check: f for f in findings}


def _voc(root, *more):
    return _cfg("experiment=voc_resnet", f"data.root={root}", "model.weights=null", *more)


def test_complete_voc2012_tree_is_all_ok(voc2012_tree):
    root, _ = voc2012_tree
    findings = check_run(_voc(root), decode=True, progress=False)
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    checks = _by_check(findings)
    assert checks["split train_aug (data.train_split): images"].detail == "18 present"
    assert checks["split train (data.cam_split): masks"].detail == "12 present"
    assert checks["split val (data.val_split): decode"].detail == "12 decode"
    assert "model.weights" in checks


def test_broken_voc2012_tree_lists_what_is_missing(voc2012_tree, tmp_path):
    root, truth = voc2012_tree
    copy = tmp_path / "VOC2012"
    shutil.copytree(root, copy)
    gone = truth.splits["train"][:4]
    for image_id in gone:
        (copy / "JPEGImages" / f"{image_id}.jpg").unlink()
    (copy / "Annotations" / f"{truth.splits['val'][0]}.xml").unlink()
    (copy / "SegmentationClass" / f"{truth.splits['train'][5]}.png").unlink()
    (copy / "ImageSets" / "Segmentation" / "val.txt").unlink()
    checks = _by_check(check_run(_voc(copy), progress=False))
    images = checks["split train_aug (data.train_split): images"]
    assert not images.ok and images.detail.startswith("4 of 18 missing, e.g. ")
    assert images.detail.count(".jpg") == 3 and gone[0] in images.detail
    assert not checks["split train (data.cam_split): masks"].ok
    assert checks["split train (data.cam_split): masks"].detail.startswith("1 of 12 missing")
    val = checks["split val (data.val_split)"]
    assert not val.ok and "val.txt" in val.detail
    assert not checks["split train (data.cam_split): images"].ok


def test_missing_root_weights_and_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checks = _by_check(check_run(_cfg("experiment=voc_resnet", f"data.root={tmp_path}/none"),
                                 progress=False))
    assert not checks["data root"].ok and "WSOL_DATA" in checks["data root"].fix
    weights = checks["model.weights"]
    assert not weights.ok and "resnet50-0676ba61.pth" in weights.detail
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in weights.fix
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-0676ba61.pth").write_bytes(b"x")
    assert _by_check(check_run(_cfg("experiment=voc_resnet"), progress=False))[
        "model.weights"].ok
    cam_only = _cfg("stages=[cam,evaluate]", f"model.checkpoint={tmp_path}/model.pt")
    checkpoint = _by_check(check_run(cam_only, progress=False))["model.checkpoint"]
    assert not checkpoint.ok and "model.pt" in checkpoint.detail


def test_voc2007_needs_no_masks(voc2007_tree):
    root, _ = voc2007_tree
    cfg = _cfg("data=voc07", f"data.root={root}", "model.weights=null",
               "stages=[train,cam,evaluate]")
    findings = check_run(cfg, progress=False)
    assert all(f.ok for f in findings) and not any("masks" in f.check for f in findings)


def test_coco_missing_split_and_corrupt_image(coco2017_tree, tmp_path):
    root, truth = coco2017_tree
    copy = tmp_path / "coco"
    shutil.copytree(root, copy)
    (copy / "val2017" / f"{truth.splits['val2017'][1]}.jpg").write_bytes(b"not a jpeg")
    cfg = _cfg("data=coco2017", f"data.root={copy}", "model.weights=null",
               "data.cam_split=train2099")
    checks = _by_check(check_run(cfg, decode=True, progress=False))
    assert not checks["split train2099 (data.cam_split)"].ok
    assert "instances_train2099.json" in checks["split train2099 (data.cam_split)"].detail
    decode = checks["split val2017 (data.val_split): decode"]
    assert not decode.ok and decode.detail.startswith("1 of 12 corrupt")
    assert checks["split train2017 (data.train_split): annotations"].detail == \
        "12 images (2 without annotations dropped)"


def test_imagenet_without_training(imagenet_tree, tmp_path):
    root, _ = imagenet_tree
    (tmp_path / "model.pt").write_bytes(b"x")
    cfg = _cfg("data=imagenet", f"data.root={root}", "stages=[cam,localize,evaluate]",
               f"model.checkpoint={tmp_path}/model.pt")
    findings = check_run(cfg, progress=False)
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    assert _by_check(findings)["split val (data.cam_split): images"].detail == "12 present"
    train = _by_check(check_run(_cfg("data=imagenet", f"data.root={root}",
                                     "model.weights=null"), progress=False))
    assert not train["data.train_split"].ok


@pytest.mark.slow  # starts scripts/check_data.py twice
def test_script_exit_status(voc2012_tree, tmp_path):
    root, _ = voc2012_tree
    script = [sys.executable, str(REPO / "scripts" / "check_data.py"), "experiment=voc_resnet",
              "model.weights=null"]
    ok = subprocess.run([*script, f"data.root={root}"], capture_output=True, text=True,
                        cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "everything is in place" in ok.stdout
    bad = subprocess.run([*script, f"data.root={tmp_path}/none"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert bad.returncode == 1 and "MISSING" in bad.stdout


def test_a_selection_split_sharing_images_with_the_scored_split_is_refused(voc2012_tree):
    root, truth = voc2012_tree
    shared = _voc(root, "data.cam_split=val", "eval.select_split=trainval", "stages=[evaluate]")
    bad = [f for f in check_run(shared, progress=False) if f.check.startswith("eval.select")]
    assert [(f.check, f.ok) for f in bad] == [("eval.select_split=trainval", False)]
    assert bad[0].detail.startswith(f"{len(truth.splits['val'])} of its images are also in "
                                    "data.cam_split=val (e.g. ")
    training = _voc(root, "data.cam_split=val", "eval.select_split=trainval",
                    "stages=[train,cam,evaluate]")
    with pytest.raises(ConfigError, match="shares no image with data.cam_split"):
        preflight.require_inputs(training)  # the run stops on it before training
    apart = _voc(root, "data.cam_split=val", "eval.select_split=train", "stages=[evaluate]")
    ok = _by_check(check_run(apart, progress=False))["eval.select_split=train"]
    assert ok.ok and ok.detail == "no image shared with data.cam_split=val"
