"""Seeded fuzzing of what a run reads back: CAM store files, checkpoints, and a whole
localize + evaluate pass over odd but legal ids. Each case ends in success with the numbers
its oracle expects, or one WsolError line; never another exception, never a file outside
its root. ``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from wsol.app.pipeline import run
from wsol.cam import CamStore
from wsol.datasets.classes import VOC_CLASSES
from wsol.io.paths import entry_problem
from wsol.models.checkpoint import load_classifier, state_dict_sha256

from .conftest import SIZE, compose_run, tiny_checkpoint, voc_overrides, write_tree
from .fuzzing import PIECES, Outcomes, assert_nothing_outside, files_under, seeds

W, H = SIZE
CASES = {"store": 160, "checkpoints": 20, "pipeline": 1}
DTYPES = ["<f2", "<f4", "<f8", "<i8", "<i4", "|u1", "|b1", "O"]


# ---- store files ------------------------------------------------------------------------

def _random_array(rng: random.Random) -> np.ndarray:
    dtype = rng.choice(DTYPES)
    shape = tuple(rng.randint(0, 4) for _ in range(rng.randint(0, 3)))
    if dtype == "O":
        return np.array([{"x": 1}, None], dtype=object)
    values = np.random.default_rng(rng.randrange(2**32)).normal(0, 1e4, shape)
    return values.astype(dtype)


def _rezip(data: bytes, rng: random.Random, how: str) -> bytes:
    """Rewrite the zip with one member replaced, removed, added, doubled or compressed."""
    members = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    target = rng.choice(sorted(members))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members.items():
            if name == target and how == "remove":
                continue
            if name == target and how == "replace":
                member = io.BytesIO()
                np.save(member, _random_array(rng), allow_pickle=True)
                payload = member.getvalue()
            kind = zipfile.ZIP_DEFLATED if how == "compress" else zipfile.ZIP_STORED
            archive.writestr(name, payload, compress_type=kind)
            if name == target and how == "double":
                archive.writestr(name, payload)
        if how == "add":
            member = io.BytesIO()
            np.save(member, _random_array(rng), allow_pickle=True)
            archive.writestr("extra.npy", member.getvalue())
    return buffer.getvalue()


def _fuzz_store(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("store")
    store = CamStore(sandbox / "store", settings={"class_names": list(VOC_CLASSES)})
    gen = np.random.default_rng(rng.randrange(2**32))
    for n in range(cases):
        k = rng.randint(0, 3)
        classes = sorted(rng.sample(range(20), k))
        cams = gen.random((k, 6, 8)).astype(np.float32) * 5
        scores = gen.random(k).astype(np.float32)
        image_id = f"img{n}"
        store.write(image_id, cams, classes, (H, W), scores if rng.random() < 0.7 else None)
        path = store.directory / f"{image_id}.npz"
        original = store.read_scored(image_id)
        data = path.read_bytes()
        how = rng.choice(["none", "truncate", "flip", "flips", "replace", "remove", "add",
                          "double", "compress", "garbage"])
        if how == "truncate":
            data = data[:rng.randrange(len(data))]
        elif how in ("flip", "flips"):
            data = bytearray(data)
            for _ in range(1 if how == "flip" else rng.randint(2, 30)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        elif how == "garbage":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
        elif how != "none":
            data = _rezip(data, rng, how)
        path.write_bytes(data)
        status, got = outcomes.run(f"store {how}", lambda: store.read_scored(image_id))
        if status == "ok":
            got_cams, got_ids, got_scores = got
            assert got_cams.shape == (len(got_ids), H, W) and np.isfinite(got_cams).all()
            assert ((got_ids >= 0) & (got_ids < 20)).all() and len(set(got_ids)) == len(got_ids)
            if how in ("none", "truncate", "flip", "flips", "garbage", "remove", "add",
                       "double", "compress"):  # the bytes that made it are the original's
                assert np.array_equal(got_cams, original[0]) and \
                    np.array_equal(got_ids, original[1]), how
        intact = store.intact([image_id])
        assert (image_id in intact) == (status == "ok") and path.exists() == (status == "ok")
    return outcomes


# ---- checkpoints ------------------------------------------------------------------------

META_VALUES = [None, "x", -1, 0, 3, 20, 2**40, 1.5, float("nan"), [], ["a"], list(VOC_CLASSES),
               {"a": 1}, True, "resnet18_quarter", "resnet50", 16, 8, 32, 7]


def _fuzz_checkpoints(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("checkpoints")
    good = tiny_checkpoint(sandbox / "good.pt")
    clean = torch.load(good, weights_only=True)
    data = good.read_bytes()
    path = sandbox / "model.pt"
    image = torch.randn(1, 3, 32, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32x32 forward: thread start-up would dominate on a shared box
    try:
        _checkpoint_cases(rng, cases, clean, data, path, image, outcomes)
    finally:
        torch.set_num_threads(threads)
    return outcomes


def _checkpoint_cases(rng, cases, clean, data, path, image, outcomes) -> None:
    for _ in range(cases):
        how = rng.choice(["none", "meta", "delete_meta", "tensor_nan", "tensor_shape",
                          "tensor_dtype", "tensor_other", "drop_tensor", "extra_tensor",
                          "truncate", "flip", "format", "consistent_edit"])
        payload = {**clean, "state_dict": dict(clean["state_dict"])}
        key = rng.choice(sorted(payload["state_dict"]))
        if how == "meta":
            payload[rng.choice(["arch", "num_classes", "output_stride", "class_names",
                                "state_dict_sha256"])] = rng.choice(META_VALUES)
        elif how == "delete_meta":
            payload.pop(rng.choice(sorted(payload)))
        elif how == "tensor_nan":
            key = rng.choice([k for k, v in sorted(payload["state_dict"].items())
                              if v.is_floating_point()])
            payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], float("nan"))
        elif how == "tensor_shape":
            payload["state_dict"][key] = torch.zeros(rng.randint(1, 5), 3)
        elif how == "tensor_dtype":
            payload["state_dict"][key] = payload["state_dict"][key].to(torch.int64)
        elif how == "tensor_other":
            payload["state_dict"][key] = rng.choice([[1, 2], "x", None, 3.0])
        elif how == "drop_tensor":
            del payload["state_dict"][key]
        elif how == "extra_tensor":
            payload["state_dict"]["extra.weight"] = torch.zeros(2)
        elif how == "format":
            payload["format"] = rng.choice(["wsol-classifier-v2", None, 1])
        elif how == "consistent_edit":  # a hand edit that also updates the checksum
            payload["state_dict"][key] = payload["state_dict"][key] * 0.5
            payload["state_dict_sha256"] = state_dict_sha256(payload["state_dict"])
        if how in ("truncate", "flip"):
            raw = bytearray(data)
            if how == "truncate":
                raw = raw[:rng.randrange(len(raw))]
            else:
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(raw))
        else:
            torch.save(payload, path)
        names = rng.choice([None, list(VOC_CLASSES), ["a", "b"]])
        status, loaded = outcomes.run(f"checkpoint {how}", lambda: load_classifier(
            path, names))
        if status == "ok":
            net, _, meta = loaded
            assert meta["num_classes"] == len(meta["class_names"]) == len(VOC_CLASSES)
            with torch.no_grad():
                logits = net(image)
            assert logits.shape == (1, 20) and torch.isfinite(logits).all()
            if how in ("none", "flip"):  # bytes that load are the original weights
                assert all(torch.equal(net.state_dict()[k], v)
                           for k, v in clean["state_dict"].items())


# ---- localize + evaluate over odd ids ---------------------------------------------------

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
    outcomes.counts["error"] += 1  # this family checks success only (see the assert above)
    return outcomes


FAMILIES = {"store": _fuzz_store, "checkpoints": _fuzz_checkpoints, "pipeline": _fuzz_pipeline}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_outputs(family, tmp_path):
    for seed in seeds(slow=False, base=7000 + 1000 * sorted(FAMILIES).index(family)):
        sandbox = tmp_path / f"seed{seed}"
        sandbox.mkdir()
        FAMILIES[family](sandbox, random.Random(seed), CASES[family]).require_both()


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_outputs_sweep(family, tmp_path):
    for seed in seeds(slow=True, base=7000 + 1000 * sorted(FAMILIES).index(family)):
        sandbox = tmp_path / f"seed{seed}"
        sandbox.mkdir()
        FAMILIES[family](sandbox, random.Random(seed), CASES[family])
