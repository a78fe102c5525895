"""Content keys for the CAM cache: the maps' directory is named by what determines the maps.

A key is the SHA-256 of a canonical JSON of the *key inputs*: the dataset split (format,
resolved root, split name, a hash of the ordered image ids, a hash of each image file's size and
modification time, so an image replaced or edited under the same id gets new maps, and, with
``cam.classes=gt`` or ``topk``, of each image's labelled classes, which decide the maps made),
the input size, the model weights (the checkpoint file's hash, or the torchvision weights name + its
file's hash) with the explained layer when ``model.target_layer`` names one, the class names
and the CAM settings that change maps. Settings that only change speed (batch size,
channels_last, workers, devices) are left out, so changing them reuses the maps.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wsol.errors import DataError

# cam.* keys that change the maps (batch_size, channels_last, ... only change speed).
# "protocol" joined when the multi-scale sum became scale-fair, so no key of a store made with
# the old sum can match a new one.
MAP_SETTINGS = ("method", "classes", "topk", "scales", "flip", "precision", "store_stride",
                "image_size", "protocol")
KEY_LENGTH = 20  # hex digits (80 bits): collisions are out of reach for any number of runs
_CHUNK = 1 << 20

# (resolved path, size, mtime_ns) -> sha256 hex; a stage reusing the same checkpoint in one
# process (cam, then localize/evaluate) hashes it once.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_stamp(path: str | os.PathLike) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns"}`` of a file: cheap evidence that it did not change."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return {"path": str(resolved), "size": int(stat.st_size), "mtime_ns": int(stat.st_mtime_ns)}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks; memoised by (path, size, mtime)."""
    stamp = file_stamp(path)
    memo = (stamp["path"], stamp["size"], stamp["mtime_ns"])
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(stamp["path"], "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def ids_sha256(ids: Sequence[str]) -> str:
    """Hex SHA-256 of an ordered list of image ids (newline-joined)."""
    digest = hashlib.sha256()
    for image_id in ids:
        digest.update(str(image_id).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def image_stamps_sha256(files: Iterable[tuple[str, str | os.PathLike]]) -> str:
    """Hex SHA-256 of each image file's id, size and ``mtime_ns``, in order, from ``(id, path)``
    pairs: a replaced or edited image changes it, an untouched split keeps it. Reads no image
    bytes (one ``stat`` per file). A file that cannot be read raises ``DataError`` naming it."""
    digest = hashlib.sha256()
    for image_id, path in files:
        try:
            stat = os.stat(path)
        except OSError as err:
            raise DataError(
                f"{path}: the image of id {image_id!r} cannot be read ({err.strerror}); restore "
                "the file or remove the id from the split"
            ) from err
        digest.update(f"{image_id}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def labels_sha256(class_lists: Sequence[Sequence[int]]) -> str:
    """Hex SHA-256 of per-image class index lists, in image order (``"3,7"`` lines)."""
    digest = hashlib.sha256()
    for classes in class_lists:
        digest.update(",".join(str(int(c)) for c in classes).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def cam_map_settings(cam_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``cam.*`` settings that change the maps, as plain JSON values."""
    cam_cfg = {"image_size": "square", **cam_cfg}  # configs written before the key existed
    missing = [k for k in MAP_SETTINGS if k not in cam_cfg]
    if missing:
        raise KeyError(f"cam config lacks {missing}")
    settings = {k: cam_cfg[k] for k in MAP_SETTINGS}
    settings["scales"] = [float(s) for s in settings["scales"]]
    settings["flip"] = bool(settings["flip"])
    settings["topk"] = int(settings["topk"])
    settings["store_stride"] = int(settings["store_stride"])
    return settings


def checkpoint_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Identity of a trained checkpoint: ``{"checkpoint_sha256": hex}``."""
    return {"checkpoint_sha256": file_sha256(path)}


def pretrained_fingerprint(arch: str, weights_name: str, weights_file: str | os.PathLike,
                           output_stride: int) -> dict[str, Any]:
    """Identity of torchvision weights used without training (enum name + file hash)."""
    return {"arch": arch, "weights": weights_name, "output_stride": int(output_stride),
            "weights_sha256": file_sha256(weights_file)}


def key_inputs(*, data_format: str, root: str | os.PathLike, split: str, ids: Sequence[str],
               input_size: int, model: Mapping[str, Any], class_names: Sequence[str],
               cam_cfg: Mapping[str, Any], image_stamps: str,
               class_lists: Sequence[Sequence[int]] | None = None,
               target_layer: str | None = None) -> dict[str, Any]:
    """Everything that determines the maps, as a JSON-able dict (stored in the manifest).

    image_stamps: ``image_stamps_sha256`` of the split's image files, in ``ids`` order.
    target_layer: ``model.target_layer`` when set (the maps of another layer are other maps);
    None, the architecture's own layer, adds nothing, so keys made before it joined still match.
    class_lists: each image's labelled classes (in ``ids`` order); required with
    ``cam.classes=gt`` or ``topk``, where they pick the maps made (an edited annotation gets new
    maps).
    """
    cam = cam_map_settings(cam_cfg)
    dataset = {"format": str(data_format), "root": str(Path(root).resolve()),
               "split": str(split), "num_images": len(ids), "ids_sha256": ids_sha256(ids),
               "images_sha256": str(image_stamps)}
    if cam["classes"] in ("gt", "topk"):  # top-k also keeps the labelled classes' maps
        if class_lists is None or len(class_lists) != len(ids):
            raise ValueError(f"cam.classes={cam['classes']}: key_inputs needs one class list "
                             "per image")
        dataset["labels_sha256"] = labels_sha256(class_lists)
    model = dict(model)
    if target_layer is not None:
        model["target_layer"] = str(target_layer)
    return {
        "dataset": dataset,
        "input_size": int(input_size),
        "model": model,
        "class_names": [str(n) for n in class_names],
        "cam": cam,
    }


def cache_key(inputs: Mapping[str, Any]) -> str:
    """The store's directory name: a prefix of the SHA-256 of canonical JSON ``inputs``."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]
