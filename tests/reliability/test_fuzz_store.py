"""Fuzzing CAM store files: truncated, bit-flipped, garbage, members replaced by arrays of
other dtypes and shapes (object arrays included), removed, added, doubled or compressed. A
file that reads must give exactly the maps written (the CRC guarantees it) or sane ones;
anything else is one WsolError line, and CamStore.intact agrees and removes it.
``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wsol.cam import CamStore
from wsol.datasets.classes import VOC_CLASSES

from .conftest import SIZE
from .fuzzing import Outcomes, run_family

W, H = SIZE
DTYPES = ["<f2", "<f4", "<f8", "<i8", "<i4", "|u1", "|b1", "O"]


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


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_store(tmp_path, slow):
    run_family(_fuzz_store, tmp_path, cases=160, base=9000, slow=slow)
