"""Fuzzing ids and file names through every reader (VOC split, ILSVRC ids file, COCO
``file_name``) and writer (CAM store, seeds), and a whole localize + evaluate pass over odd but
legal ids. Each case ends in success that its oracle accepts or one WsolError line; never
another exception, never a file outside its root.
``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from wsol.app.pipeline import run
from wsol.cam import CamStore
from wsol.datasets.classes import COCO_CLASSES, VOC_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.imagenet import ImageNetDataset
from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import voc_xml_string
from wsol.io.paths import confined_path, entry_problem

from .conftest import SIZE, compose_run, voc_overrides, write_tree
from .fuzzing import (
    PIECES,
    Outcomes,
    assert_nothing_outside,
    coco_base,
    files_under,
    hostile_string,
    run_family,
)

W, H = SIZE


def _inside(path: Path, root: Path) -> bool:
    return str(path.resolve()).startswith(str(root.resolve()) + "/")


def _fuzz_ids(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    voc = write_tree(sandbox / "voc")
    store_dir, seeds_dir = sandbox / "store", sandbox / "seeds"
    coco = sandbox / "coco"
    (coco / "annotations").mkdir(parents=True)
    imagenet = sandbox / "ILSVRC"
    for sub in ("Data/CLS-LOC/val", "Annotations/CLS-LOC/val"):
        (imagenet / sub).mkdir(parents=True)
    xml = voc_xml_string("x.jpg", SIZE, [{"name": "dog", "box": (2, 3, 20, 25)}])
    (sandbox / "outside").mkdir()
    before = files_under(sandbox)
    outcomes, store = Outcomes("ids"), CamStore(store_dir)
    for _ in range(cases):
        image_id = hostile_string(rng)
        safe_name = entry_problem(image_id) is None and "/" not in image_id \
            and image_id == image_id.strip() and not any(c.isspace() for c in image_id)
        if safe_name:  # give the reader the files, so the success path is exercised too
            if not (voc / "JPEGImages" / f"{image_id}.jpg").exists():
                (voc / "JPEGImages" / f"{image_id}.jpg").hardlink_to(voc / "JPEGImages" / "a.jpg")
            (voc / "Annotations" / f"{image_id}.xml").write_text(xml)
            (imagenet / "Annotations/CLS-LOC/val" / f"{image_id}.xml").write_text(xml)
        (voc / "ImageSets/Segmentation/train.txt").write_text(f"a\n{image_id}\nb\n",
                                                              errors="surrogatepass")
        kind, ds = outcomes.run(f"voc {image_id!r}", lambda: VOCDataset(voc, "train"))
        if kind == "ok":
            assert len(set(ds.ids)) == len(ds.ids) and {"a", "b"} <= set(ds.ids)
            for i, name in enumerate(ds.ids):
                assert entry_problem(name) is None and _inside(ds.image_path(name), voc)
                assert ds[i].image.shape == (H, W, 3)
        (imagenet / "LOC_val_ids.txt").write_text(f"{image_id}\n", errors="surrogatepass")
        kind, ds = outcomes.run(f"ilsvrc {image_id!r}", lambda: ImageNetDataset(
            imagenet, "val", VOC_CLASSES, check_files=False))
        if kind == "ok":
            assert all(_inside(ds.image_path(i), imagenet) for i in ds.ids)
        data = coco_base(W, H)
        data["images"][0]["file_name"] = image_id
        (coco / "annotations" / "instances_s.json").write_text(json.dumps(data))
        kind, ds = outcomes.run(f"coco {image_id!r}", lambda: COCODataset(
            coco, "s", COCO_CLASSES, check_files=False))
        if kind == "ok":
            assert all(_inside(ds.image_path(i), coco / "s") for i in ds.ids)
        cam = np.ones((1, 2, 2), np.float32)
        kind, _ = outcomes.run(f"store {image_id!r}",
                               lambda: store.write(image_id, cam, [3], (4, 4)))
        if kind == "ok":
            assert store.read(image_id)[1].tolist() == [3]
        outcomes.run(f"seed {image_id!r}", lambda: confined_path(
            seeds_dir, image_id, "the split", suffix=".png").parent.mkdir(parents=True,
                                                                          exist_ok=True))
    assert_nothing_outside(sandbox, [voc, store_dir, seeds_dir, coco, imagenet], before)
    assert not list((sandbox / "outside").iterdir())
    return outcomes


def _fuzz_pipeline(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("pipeline")
    odd = [p for p in PIECES if p and entry_problem(p) is None
           and not any(c in p for c in "/ .%")]  # legal ids without DeepLab-style slashes
    (sandbox / "outside").mkdir()
    for n in range(cases):
        chosen: set[str] = set()
        while len(chosen) < 3:
            candidate = "".join(rng.choice(odd) for _ in range(rng.randint(1, 3)))
            if entry_problem(candidate + ".xml") is None:  # e.g. not over 255 bytes
                chosen.add(candidate)
        ids = sorted(chosen)
        case = sandbox / f"case{n}"
        voc = write_tree(case / "VOC", ids=tuple(ids))
        store = CamStore(case / "store")
        cam = np.zeros((1, 8, 10), np.float32)
        cam[0, 1:6, 1:5] = 1.0
        for image_id in ids:
            store.write(image_id, cam, [VOC_CLASSES.index("dog")], (H, W), [0.9])
        before = files_under(sandbox)
        overrides = voc_overrides(voc, case, "experiment=voc_resnet", "model.weights=null",
                                  f"cam.store_dir={case / 'store'}", "eval.num_figures=3",
                                  "stages=[localize,evaluate]")
        status, metrics = outcomes.run(f"ids {ids!r}", lambda: run(compose_run(*overrides)))
        assert status == "ok", metrics  # legal ids: the run must succeed
        run_dir = case / "run"
        assert sorted(p.stem for p in (run_dir / "seeds").iterdir()) == ids
        boxes = json.loads((run_dir / "boxes.json").read_text())
        assert sorted(b["image_id"] for b in boxes) == ids and metrics["eval/images"] == len(ids)
        assert_nothing_outside(sandbox, [run_dir], before)
    return outcomes


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_ids(tmp_path, slow):
    run_family(_fuzz_ids, tmp_path, cases=120, base=1000, slow=slow)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_pipeline_over_odd_ids(tmp_path, slow):
    run_family(_fuzz_pipeline, tmp_path, cases=1, base=8000, slow=slow, both=False)
