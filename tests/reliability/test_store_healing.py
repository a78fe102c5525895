"""A damaged map file heals: every read verifies the file (zip CRC, member names, headers,
shapes, class ids, finite values), evaluate / localize refuse a damaged one with one line
naming it, and the next cam stage deletes and recomputes it (bit-identical arrays)."""

from __future__ import annotations

import io
import json
import logging
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.runs import cam_store_path

from wsol.app.pipeline import run
from wsol.cam import CamStore
from wsol.cam import store as store_module
from wsol.cam.store_verify import DamagedMapFile
from wsol.errors import DataError

from .conftest import compose_run, tiny_checkpoint, voc_overrides

GOOD = {"cams": np.ones((2, 4, 5), np.float16), "scale": np.ones(2, np.float32),
        "class_ids": np.array([1, 3], np.int64), "image_size": np.array([8, 10], np.int64),
        "scores": np.array([0.5, 0.25], np.float32)}


def _npz(**changes) -> bytes:
    arrays = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x10
    return bytes(out)


def _huge_header() -> bytes:
    """A zip whose cams.npy header declares (1, 100000, 100000) over 40 bytes of data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in GOOD.items():
            member = io.BytesIO()
            np.save(member, array)
            data = member.getvalue()
            if name == "cams":
                data = data.replace(b"(2, 4, 5)", b"(1, 100000, 100000)")
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def _compressed() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **GOOD)
    return buffer.getvalue()


DAMAGE = {
    "truncated": lambda: _npz()[:300],
    "zero_bytes": lambda: b"",
    "not_a_zip": lambda: b"<html>404</html>" * 20,
    "flipped_data_bit": lambda: _flip(_npz(), 200),  # inside cams.npy's data: CRC mismatch
    "flipped_header_bit": lambda: _flip(_npz(), 2),  # the zip's local header signature
    "wrong_shape": lambda: _npz(class_ids=np.array([1], np.int64)),
    "wrong_dtype": lambda: _npz(cams=np.ones((2, 4, 5), np.float64)),
    "missing_member": lambda: _npz(scale=None),
    "extra_member": lambda: _npz(payload=np.zeros(3)),
    "object_array": lambda: _npz(scores=np.array([{"x": 1}, None], dtype=object)),
    "class_out_of_range": lambda: _npz(class_ids=np.array([1, 20], np.int64)),
    "negative_class": lambda: _npz(class_ids=np.array([-1, 3], np.int64)),
    "repeated_class": lambda: _npz(class_ids=np.array([3, 3], np.int64)),
    "nan_map": lambda: _npz(cams=np.full((2, 4, 5), np.nan, np.float16)),
    "inf_scale": lambda: _npz(scale=np.array([1, np.inf], np.float32)),
    "nan_score": lambda: _npz(scores=np.array([np.nan, 0.5], np.float32)),
    "zero_image_size": lambda: _npz(image_size=np.array([0, 10], np.int64)),
    "huge_header": _huge_header,
    "compressed": _compressed,
}


@pytest.fixture
def store(tmp_path) -> CamStore:
    store = CamStore(tmp_path / "store", settings={"class_names": [f"c{i}" for i in range(20)]})
    (store.directory / "good.npz").write_bytes(_npz())
    return store


def test_the_hand_made_good_file_reads_back(store):
    cams, ids, scores = store.read_scored("good")
    assert cams.shape == (2, 8, 10) and np.allclose(cams, 1.0)
    assert ids.tolist() == [1, 3] and scores.tolist() == [0.5, 0.25]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_damage_is_one_line_naming_the_file_then_removed_by_intact(store, kind):
    path = store.directory / "bad.npz"
    path.write_bytes(DAMAGE[kind]())
    with pytest.raises(DamagedMapFile) as err:
        store.read("bad")
    message = str(err.value)
    assert message.startswith(f"{path} is damaged (") and "\n" not in message
    assert message.endswith("rerun the cam stage with the same settings: it recomputes "
                            "damaged files")
    assert store.intact(["good", "bad", "absent"]) == {"good"}
    assert not path.exists() and (store.directory / "good.npz").exists()


def test_worker_processes_give_the_verdicts_and_removals_of_one(tmp_path, caplog, monkeypatch):
    """intact(ids, workers=2) reads the files in two forked processes (32 chunks) and deletes
    in this one: the same good set, the same files left, every damage kind among 200 files;
    with fewer than FILES_PER_WORKER files per worker it stays in one process."""
    monkeypatch.setattr(store_module, "FILES_PER_WORKER", 100)  # 200 files: two workers
    kinds = sorted(DAMAGE)
    outcomes = []
    for workers in (1, 2):
        store = CamStore(tmp_path / f"store{workers}",
                         settings={"class_names": [f"c{i}" for i in range(20)]})
        for n in range(200):
            damaged = n % 7 == 3
            data = DAMAGE[kinds[n % len(kinds)]]() if damaged else _npz()
            (store.directory / f"img{n:03d}.npz").write_bytes(data)
        ids = [f"img{n:03d}" for n in range(210)]  # ten of them never stored
        with caplog.at_level(logging.INFO, logger="wsol.cam.store"):
            good = store.intact(ids, workers=workers)
        assert f"over {workers} process(es)" in caplog.text
        outcomes.append((good, sorted(p.name for p in store.directory.glob("*.npz"))))
    assert outcomes[0] == outcomes[1]
    good, left = outcomes[0]
    assert good == {f"img{n:03d}" for n in range(200) if n % 7 != 3}
    assert left == sorted(f"{i}.npz" for i in good)
    monkeypatch.setattr(store_module, "FILES_PER_WORKER", 1000)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="wsol.cam.store"):
        assert CamStore(tmp_path / "store2").intact(ids, workers=2) == good
    assert "over 1 process(es)" in caplog.text


def _maps(store_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(store_dir.glob("*.npz")):
        with np.load(path) as data:
            out[path.name] = {k: data[k] for k in data.files}
    return out


def test_the_cam_stage_recomputes_a_damaged_file_and_evaluate_refuses_it_meanwhile(voc,
                                                                                   tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    overrides = voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                              f"model.checkpoint={model}", "cam.scales=[1.0]", "cam.flip=false",
                              "cam.image_size=square", "cam.protocol=default")
    run(compose_run(*overrides, "stages=[cam]"))
    store_dir = cam_store_path(tmp_path / "run")
    original = _maps(store_dir)
    assert sorted(original) == ["a.npz", "b.npz"]
    damaged = store_dir / "b.npz"
    damaged.write_bytes(_flip(damaged.read_bytes(), 150))
    with pytest.raises(DataError, match=rf"^{damaged} is damaged \(BadZipFile: Bad CRC-32"):
        run(compose_run(*overrides, "stages=[evaluate]"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "loc/maxboxacc" not in metrics and not (tmp_path / "run" / "curves.csv").exists()
    run(compose_run(*overrides, "stages=[cam,evaluate]"))
    healed = _maps(store_dir)
    assert sorted(healed) == sorted(original)
    for name, arrays in original.items():
        for key, value in arrays.items():
            assert np.array_equal(healed[name][key], value), (name, key)
    assert "loc/maxboxacc" in json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_folders_where_store_files_belong_are_named_not_a_traceback(store):
    (store.directory / "dir.npz").mkdir()  # listed as an image id, but a folder
    (store.directory / ".old.npz.elsewhere-1.x.tmp").mkdir()  # a folder named like a temp
    reopened = CamStore(store.directory)  # stale-temp cleanup skips the folder
    with pytest.raises(DamagedMapFile, match=r"dir\.npz is damaged \(IsADirectoryError"):
        reopened.read("dir")
    with pytest.raises(DataError, match=r"dir\.npz is damaged .*cannot be removed .*by hand"):
        reopened.intact(["good", "dir"])


def test_a_store_opened_in_a_foreign_folder_removes_only_its_own_old_temporary_files(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    theirs = [folder / ".editor-swap.tmp", folder / ".cache.tmp", folder / "notes.txt"]
    ours = folder / ".a.npz.elsewhere-1.x1.tmp"
    for path in (*theirs, ours):
        path.write_text("x")
        os.utime(path, (time.time() - 3 * 86400,) * 2)  # old enough to look abandoned
    CamStore(folder, settings={"class_names": ["a"]})
    assert all(p.exists() for p in theirs) and not ours.exists()
