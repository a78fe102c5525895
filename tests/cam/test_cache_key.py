"""Cache keys: every input that changes maps changes the key; speed settings do not."""

from __future__ import annotations

import hashlib
import os

import pytest

from wsol.cam import cache_key as ck
from wsol.errors import DataError

CAM = {"method": "gradcam", "classes": "gt", "topk": 1, "scales": [1.0], "flip": False,
       "precision": "fp32", "store_stride": 4, "batch_size": 64, "channels_last": False,
       "store_dir": None, "image_size": "square", "protocol": "default"}


def _inputs(tmp_path, **changes):
    args = {"data_format": "voc", "root": tmp_path / "VOC2012", "split": "train",
            "ids": ["a", "b", "c"], "input_size": 448,
            "model": {"checkpoint_sha256": "0" * 64}, "class_names": ["cat", "dog"],
            "cam_cfg": CAM, "image_stamps": "f" * 64}
    args.update(changes)
    args.setdefault("class_lists", [[1]] * len(args["ids"]))  # every image a dog
    return ck.key_inputs(**args)


def test_file_sha256_reads_in_chunks_and_matches_hashlib(tmp_path):
    path = tmp_path / "model.pt"
    payload = os.urandom(3 * (1 << 20) + 17)  # several chunks and a ragged tail
    path.write_bytes(payload)
    assert ck.file_sha256(path) == hashlib.sha256(payload).hexdigest()


def test_file_hash_is_memoised_by_path_size_and_mtime(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    path.write_bytes(b"first")
    first = ck.file_sha256(path)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    assert ck.file_sha256(path) == first and not opened  # second stage: no rehash
    path.write_bytes(b"other")  # same size, new mtime
    os.utime(path, ns=(1, 1))
    assert ck.file_sha256(path) == hashlib.sha256(b"other").hexdigest() and opened


def test_key_is_stable_and_ignores_speed_settings(tmp_path):
    base = ck.cache_key(_inputs(tmp_path))
    assert base == ck.cache_key(_inputs(tmp_path)) and len(base) == ck.KEY_LENGTH
    int(base, 16)  # a hex directory name
    fast = {**CAM, "batch_size": 7, "channels_last": True, "store_dir": "/elsewhere"}
    assert ck.cache_key(_inputs(tmp_path, cam_cfg=fast)) == base
    assert ck.cache_key(_inputs(tmp_path, input_size=448.0)) == base  # 448 from YAML or CLI
    assert ck.cache_key(_inputs(tmp_path, root=tmp_path / "x" / ".." / "VOC2012")) == base


@pytest.mark.parametrize("change", [
    {"data_format": "coco"}, {"split": "val"}, {"ids": ["a", "c", "b"]}, {"ids": ["a", "b"]},
    {"input_size": 512}, {"model": {"checkpoint_sha256": "1" * 64}},
    {"class_names": ["dog", "cat"]},
    {"cam_cfg": {**CAM, "method": "gradcam++"}}, {"cam_cfg": {**CAM, "classes": "all"}},
    {"cam_cfg": {**CAM, "topk": 2}}, {"cam_cfg": {**CAM, "scales": [1.0, 0.5]}},
    {"cam_cfg": {**CAM, "flip": True}}, {"cam_cfg": {**CAM, "precision": "bf16"}},
    {"cam_cfg": {**CAM, "store_stride": 16}},
    {"image_stamps": "e" * 64},  # an image replaced under its id
    {"class_lists": [[1], [0, 1], [1]]},  # an annotation edited: b now has a cat too
    {"class_lists": [[1], [], [1]]},
    {"cam_cfg": {**CAM, "image_size": "original"}}, {"cam_cfg": {**CAM, "protocol": "irn"}},
])
def test_every_map_setting_changes_the_key(tmp_path, change):
    assert ck.cache_key(_inputs(tmp_path, **change)) != ck.cache_key(_inputs(tmp_path))


def test_image_stamps_follow_each_file_and_name_a_missing_one(tmp_path):
    files = [("a", tmp_path / "a.jpg"), ("b", tmp_path / "b.jpg")]
    for _, path in files:
        path.write_bytes(b"jpeg bytes")
        os.utime(path, ns=(10**18, 10**18))
    first = ck.image_stamps_sha256(files)
    assert ck.image_stamps_sha256(files) == first  # nothing touched: the same stamps
    assert ck.image_stamps_sha256(files[::-1]) != first  # in split order
    files[1][1].write_bytes(b"other byte")  # same size, a new modification time
    second = ck.image_stamps_sha256(files)
    assert second != first
    os.utime(files[1][1], ns=(10**18, 10**18))  # same time again, but the bytes...
    assert ck.image_stamps_sha256(files) == first  # ...are not read: size and time only
    files[1][1].write_bytes(b"a longer jpeg")
    os.utime(files[1][1], ns=(10**18, 10**18))
    assert ck.image_stamps_sha256(files) not in (first, second)  # another size
    files[0][1].unlink()
    with pytest.raises(DataError, match=r"a\.jpg: the image of id 'a' cannot be read"):
        ck.image_stamps_sha256(files)


def test_root_is_resolved_and_the_split_summarised(tmp_path):
    inputs = _inputs(tmp_path, root=tmp_path / "x" / ".." / "VOC2012")
    assert inputs["dataset"] == {"format": "voc", "root": str((tmp_path / "VOC2012").resolve()),
                                 "split": "train", "num_images": 3,
                                 "ids_sha256": hashlib.sha256(b"a\nb\nc\n").hexdigest(),
                                 "images_sha256": "f" * 64,
                                 "labels_sha256": hashlib.sha256(b"1\n1\n1\n").hexdigest()}


def test_labels_enter_the_key_only_when_they_pick_the_maps(tmp_path):
    cam = {**CAM, "classes": "all"}  # maps of all classes: labels play no part
    assert ck.cache_key(_inputs(tmp_path, cam_cfg=cam, class_lists=[[0], [0], [0]])) == \
        ck.cache_key(_inputs(tmp_path, cam_cfg=cam))
    for classes in ("gt", "topk"):  # top-k keeps the labelled classes outside the top k too
        cam = {**CAM, "classes": classes}
        assert ck.cache_key(_inputs(tmp_path, cam_cfg=cam, class_lists=[[0], [0], [0]])) != \
            ck.cache_key(_inputs(tmp_path, cam_cfg=cam))
    with pytest.raises(ValueError, match="one class list per image"):
        ck.key_inputs(data_format="voc", root=tmp_path, split="train", ids=["a"],
                      input_size=8, model={}, class_names=["x"], cam_cfg=CAM, image_stamps="f" * 64)


def test_pretrained_weights_are_named_and_hashed(tmp_path):
    weights = tmp_path / "resnet50-0676ba61.pth"
    weights.write_bytes(b"weights")
    got = ck.pretrained_fingerprint("resnet50", "ResNet50_Weights.IMAGENET1K_V1", weights, 16)
    assert got == {"arch": "resnet50", "weights": "ResNet50_Weights.IMAGENET1K_V1",
                   "output_stride": 16, "weights_sha256": hashlib.sha256(b"weights").hexdigest()}


def test_missing_map_setting_is_an_error():
    with pytest.raises(KeyError, match="store_stride"):
        ck.cam_map_settings({k: v for k, v in CAM.items() if k != "store_stride"})
