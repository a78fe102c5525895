"""Inputs that used to end in a traceback: each is now one WsolError line naming the file or
key and the fix (exit status 2 through the entry point), with nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.cli import error_lines
from PIL import Image

from wsol.app.output_dir import output_dir_problem
from wsol.app.pipeline import run
from wsol.cam import CamStore
from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import write_voc_mask
from wsol.errors import DataError, OutputWriteError, WeightsError
from wsol.io import atomic
from wsol.models.checkpoint import load_classifier

from .conftest import (
    REPO,
    SIZE,
    compose_run,
    tiny_checkpoint,
    voc_overrides,
    write_tree,
)

W, H = SIZE


def _pinned_store(path: Path, ids=("a", "b")) -> Path:
    store = CamStore(path)
    cam = np.zeros((1, 8, 10), np.float32)
    cam[0, 1:6, 1:5] = 1.0
    for image_id in ids:
        store.write(image_id, cam, [11], (H, W), [0.8])
    return path


def _overrides(voc: Path, tmp_path: Path, *extra: str) -> list[str]:
    store = _pinned_store(tmp_path / "pinned")
    return voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                         f"cam.store_dir={store}", *extra)


# ---- the run directory ----------------------------------------------------------------

def test_a_run_directory_that_is_a_file_exits_2_before_hydra_makes_it(tmp_path):
    import subprocess

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for target in (blocker, blocker / "sub"):
        result = subprocess.run([sys.executable, str(REPO / "scripts" / "run.py"),
                                 "stages=[evaluate]", f"hydra.run.dir={target}"],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert error_lines(result.stderr) == [
            f"wsol: error: Run directory {target} cannot be made: {blocker} is a file, not a "
            f"folder; choose another with hydra.run.dir=DIR, or make it writable (chmod u+w, "
            f"or check the disk is mounted read-write)."]
    assert blocker.read_text() == "x"


def test_a_read_only_run_directory_is_named_with_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    problem = output_dir_problem(["-m", f"hydra.sweep.dir={tmp_path}/${{now:%H}}/x"], Path("/"))
    assert problem == (f"Run directory {tmp_path} is not writable ({tmp_path} is read-only); "
                       f"choose another with hydra.sweep.dir=DIR, or make it writable (chmod "
                       f"u+w, or check the disk is mounted read-write).")
    (tmp_path / "writable").mkdir()
    assert output_dir_problem([], tmp_path / "writable") is None  # outputs/ may be made there


# ---- a full disk while writing results -------------------------------------------------

def _disk_full_for(monkeypatch, predicate):
    real = os.replace

    def replace(src, dst):
        if predicate(Path(dst)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)


def test_a_full_disk_during_localize_leaves_the_previous_seeds_and_no_boxes(voc, tmp_path,
                                                                           monkeypatch):
    old = tmp_path / "run" / "seeds"
    old.mkdir(parents=True)
    (old / "previous.png").write_bytes(b"old")
    _disk_full_for(monkeypatch, lambda dst: dst.name == "b.png")
    with pytest.raises(OutputWriteError) as err:
        run(compose_run(*_overrides(voc, tmp_path, "stages=[localize]")))
    message = str(err.value)
    assert message.startswith("Cannot write ") and "/b.png: No space left on device [ENOSPC]" \
        in message and "free space on that disk" in message
    assert sorted(os.listdir(tmp_path / "run")) == ["run_info.json", "seeds"]  # nothing new
    assert os.listdir(old) == ["previous.png"]


def test_a_full_disk_during_evaluate_names_the_file(voc, tmp_path, monkeypatch):
    _disk_full_for(monkeypatch, lambda dst: dst.name == "curves.csv")
    with pytest.raises(OutputWriteError, match=r"Cannot write .*curves\.csv: No space left"):
        run(compose_run(*_overrides(voc, tmp_path, "stages=[evaluate]")))
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


# ---- masks and seeds ---------------------------------------------------------------------

def test_mask_labels_above_the_class_count_are_refused(voc):
    mask = np.zeros((H, W), np.uint8)
    mask[2:5, 2:5] = 50  # 20 VOC classes: labels 0..20 and 255
    mask[6] = 255
    write_voc_mask(voc / "SegmentationClass" / "a.png", mask)
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train").mask(0)
    assert str(err.value) == (f"Mask {voc / 'SegmentationClass' / 'a.png'} holds label 50 at 9 "
                              f"pixel(s), but with 20 classes labels run 0..20 (and 255 for "
                              f"ignore); fix the mask, or set data.classes to its dataset's "
                              f"classes.")


@pytest.mark.parametrize("seed_size, label, problem", [
    ((W + 2, H), 12, "is 42x30 but the ground truth of b is 40x30"),
    ((W, H), 77, "holds label 77"),
])
def test_seeds_of_the_wrong_size_or_labels_are_refused(voc, tmp_path, seed_size, label, problem):
    seeds = tmp_path / "seeds"
    for image_id in ("a", "b"):
        size = seed_size if image_id == "b" else (W, H)
        write_voc_mask(seeds / f"{image_id}.png",
                       np.full((size[1], size[0]), label if image_id == "b" else 12, np.uint8))
    with pytest.raises(DataError, match=problem) as err:
        run(compose_run(*_overrides(voc, tmp_path, "stages=[evaluate]",
                                    f"eval.seeds_dir={seeds}")))
    assert str(seeds / "b") in str(err.value)


def test_an_id_with_mathtext_characters_draws_its_figure(tmp_path):
    voc = write_tree(tmp_path / "VOC", ids=("x$^{$", "b"))
    run(compose_run(*voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                                   f"cam.store_dir={_pinned_store(tmp_path / 's', ('x$^{$', 'b'))}",
                                   "stages=[evaluate]", "eval.num_figures=2")))
    with Image.open(tmp_path / "run" / "figures" / "examples.png") as figure:
        assert figure.size[0] > 100


# ---- annotation and list files -------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-2e9"])
def test_xml_coordinates_that_are_not_finite_numbers_are_one_line(voc, value):
    xml = voc / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<xmax>21</xmax>", f"<xmax>{value}</xmax>"))
    with pytest.raises(DataError, match=rf"a\.xml: <bndbox/xmax> = '{value}' is not a finite "
                                        rf"number within \+-1e\+09; fix the annotation\."):
        VOCDataset(voc, "train")


def test_a_binary_split_file_and_an_annotation_that_is_a_folder_are_one_line(voc):
    split = voc / "ImageSets/Segmentation/train.txt"
    split.write_bytes(b"a\n\xff\xfe\x00b\n")
    with pytest.raises(DataError, match=rf"^Split file {split} is not UTF-8 text \(byte 2"):
        VOCDataset(voc, "train")
    split.write_text("a\nb\n")
    (voc / "Annotations" / "b.xml").unlink()
    (voc / "Annotations" / "b.xml").mkdir()
    with pytest.raises(DataError, match=r"^Cannot read annotation .*b\.xml \(Is a directory\)"):
        VOCDataset(voc, "train")


# ---- checkpoint metadata that disagrees with itself ------------------------------------

@pytest.mark.parametrize("edit, problem", [
    ({"num_classes": 5}, "num_classes=5 but it lists 20 class names"),
    ({"num_classes": True}, "num_classes=True but it lists 20 class names"),
    ({"class_names": "voc"}, "class_names is not a list of names"),
    ({"arch": 50}, "arch is 50, not a name"),
    ({"output_stride": "16"}, "output_stride='16' is not an integer"),
    ({"output_stride": 7}, "its metadata describes no model this version builds"),
    ({"arch": "resnet05"}, "its metadata describes no model this version builds"),
])
def test_checkpoint_metadata_that_disagrees_with_itself_is_one_line(tmp_path, edit, problem):
    path = tiny_checkpoint(tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload.update(edit)
    torch.save(payload, path)
    with pytest.raises(WeightsError, match=problem) as err:
        load_classifier(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert "model.checkpoint" in str(err.value)


def test_written_json_is_strict(tmp_path):
    atomic.atomic_write_json(tmp_path / "m.json", {"a": 1.5})
    assert json.loads((tmp_path / "m.json").read_text(), parse_constant=pytest.fail) == {"a": 1.5}


# ---- earlier results that were damaged or written by hand -------------------------------

@pytest.mark.parametrize("content", [b"[1, 2]", b'{"cls/map": NaN, "x": "y", "train/a": 1}',
                                     b"\xff\xfe", b"{", None])
def test_a_damaged_metrics_json_in_the_run_directory_is_replaced_strictly(voc, tmp_path,
                                                                          content):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if content is None:
        (run_dir / "metrics.json").mkdir()  # a folder where the file should be
    else:
        (run_dir / "metrics.json").write_bytes(content)
    overrides = _overrides(voc, tmp_path, "stages=[evaluate]")
    if content is None:
        with pytest.raises(OutputWriteError, match=r"metrics\.json: Is a directory"):
            run(compose_run(*overrides))
        return
    metrics = run(compose_run(*overrides))
    written = json.loads((run_dir / "metrics.json").read_text(),
                         parse_constant=lambda name: pytest.fail(name))
    assert written == metrics and "loc/maxboxacc" in written
    # train/a: an upstream (train) key, which an evaluate keeps
    assert written.get("train/a") == (1.0 if b"train/a" in content else None)


def test_the_report_skips_damaged_earlier_runs(tmp_path):
    from wsol.report import find_runs

    for n, (info, metrics) in enumerate([(b"[]", b"{}"), (b'{"experiment": 3}', b"{}"),
                                         (b'{"experiment": "demo"}', b'{"a": "text"}'),
                                         (b"\xff", b"{}"), (b'{"experiment": "demo"}', b"[1]"),
                                         (b'{"by_stage": {"evaluate": 1}}', b"{}")]):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        (folder / "run_info.json").write_bytes(info)
        (folder / "metrics.json").write_bytes(metrics)
    runs = find_runs([tmp_path])
    assert runs == {"demo": {"metrics": {}, "command": "", "commands": {},
                             "run_dir": str(tmp_path / "run2")}}
