"""The embedded demo dataset: 8 shape classes written as a real PASCAL VOC tree plus COCO JSON.

Image ``i`` depends only on ``(seed, i, image_size, style)``, so the same parameters give
the same bytes. Files are written atomically and ``root/.complete`` (the parameters as JSON) last;
:func:`ensure_demo_dataset` regenerates only when that marker is missing or differs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc_format import encode_voc_mask, voc_xml_string
from wsol.demo.coco_writer import CocoInstancesWriter, encode_instance
from wsol.demo.scene import render_sample
from wsol.demo.scene_style import get_style
from wsol.demo.tree_lock import generation_lock, hold_for_reading, read_by_others, release
from wsol.errors import ConfigError, DataError
from wsol.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

GENERATOR_VERSION = 2  # bump when the drawing changes, so old trees are regenerated
DEFAULT_PARAMS = {"num_images": 3000, "image_size": 64, "val_fraction": 0.2, "seed": 0,
                  "style": "standard"}
MARKER = ".complete"
_OWNER_TAG = ".wsol-demo"  # written first and kept: this directory may be cleared by us
_MANAGED = ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets", "annotations")
_JPEG_QUALITY = 90


def demo_params(**params) -> dict:
    """Defaults filled in and checked; raises ConfigError naming ``data.generate.<key>``."""
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ConfigError(f"data.generate has unknown keys {unknown}; "
                          f"allowed: {sorted(DEFAULT_PARAMS)}.")
    p = {**DEFAULT_PARAMS, **params}
    p = {"num_images": int(p["num_images"]), "image_size": int(p["image_size"]),
         "val_fraction": float(p["val_fraction"]), "seed": int(p["seed"]),
         "style": str(p["style"])}
    get_style(p["style"])  # raises ConfigError for an unknown preset
    if not 64 <= p["image_size"] <= 128:
        raise ConfigError(f"data.generate.image_size={p['image_size']}: use 64..128.")
    if p["num_images"] < 2:
        raise ConfigError(f"data.generate.num_images={p['num_images']}: use at least 2.")
    if not 0.0 < p["val_fraction"] < 1.0:
        raise ConfigError(f"data.generate.val_fraction={p['val_fraction']}: use a value in (0, 1).")
    return p


def image_ids(num_images: int) -> list[str]:
    return [f"{i:06d}" for i in range(num_images)]


def split_ids(num_images: int, val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Sorted ids per split: ``train``, ``val`` (a seeded random subset) and ``trainval``."""
    ids = image_ids(num_images)
    num_val = min(num_images - 1, max(1, round(num_images * val_fraction)))
    val_index = set(np.random.default_rng([seed, 1]).permutation(num_images)[:num_val].tolist())
    val = [ids[i] for i in sorted(val_index)]
    train = [ids[i] for i in range(num_images) if i not in val_index]
    return {"train": train, "val": val, "trainval": ids}


def ensure_demo_dataset(root: Path, progress: bool = True, hold: bool = False,
                        **params) -> Path:
    """Generate the demo at ``root`` unless a complete tree with the same parameters is there.

    hold: keep the tree held for reading until :func:`wsol.demo.tree_lock.release_all` (the
    end of the run), so no other process regenerates it meanwhile. Regenerating a tree that
    another process holds raises DataError naming the differing settings.
    """
    root = Path(root)
    wanted = _marker(**params)
    if _read_marker(root) == wanted and not hold:
        return root
    _require_ours(root)  # before any lock file is written into a folder that is not a demo
    with generation_lock(root):
        found = _read_marker(root)
        if found != wanted:  # not there, or made with other settings
            release(root)  # this process's own earlier run is over
            if read_by_others(root):
                raise DataError(_in_use_message(root, found, wanted))
            generate_demo_dataset(root, progress=progress, **params)
        if hold:
            hold_for_reading(root)
    return root


def demo_tree_problem(root: Path, **params) -> str | None:
    """Why a run would (re)generate the demo at ``root`` for ``params`` (None: the complete
    tree with those parameters is there), naming the differing ``data.generate`` settings."""
    root = Path(root)
    found, wanted = _read_marker(root), _marker(**params)
    if found == wanted:
        return None
    if found is None:
        return f"the demo tree {root} is not there yet: a run generates it"
    changed = _changed(found, wanted) or "made by an older generator"
    return (f"the demo tree {root} was made with other settings ({changed}): a run "
            f"regenerates it, and every run directory made on the present tree loses its images")


def _marker(**params) -> dict:
    """What a complete tree of ``params`` records in its marker file."""
    return {"generator_version": GENERATOR_VERSION, **demo_params(**params)}


def _changed_keys(found: dict | None, wanted: dict) -> list[str]:
    return [k for k in DEFAULT_PARAMS if (found or {}).get(k) != wanted[k]]


def _changed(found: dict | None, wanted: dict) -> str:
    """``"data.generate.KEY: X there, Y asked, ..."`` for the parameters that differ."""
    return ", ".join(f"data.generate.{k}: {(found or {}).get(k)} there, {wanted[k]} asked"
                     for k in _changed_keys(found, wanted))


def _in_use_message(root: Path, found: dict | None, wanted: dict) -> str:
    own = root.with_name(root.name + "-" + "-".join(f"{k}{wanted[k]}"
                                                    for k in _changed_keys(found, wanted)))
    return (f"The demo tree {root} (data.root) is being read by another run made with other "
            f"settings ({_changed(found, wanted)}); regenerating it would change its images "
            f"under that run. Wait for that run to end, or give this run its own tree: "
            f"data.root={own}")


def generate_demo_dataset(root: Path, num_images: int = 3000, image_size: int = 64,
                          val_fraction: float = 0.2, seed: int = 0, progress: bool = True,
                          style: str = "standard") -> Path:
    """Write the demo VOC tree and COCO JSON under ``root`` (replacing an earlier demo there).

    Layout: JPEGImages/<id>.jpg, Annotations/<id>.xml, SegmentationClass/<id>.png,
    ImageSets/Main/{train,val,trainval}.txt and {class}_{split}.txt,
    ImageSets/Segmentation/{train,val,trainval}.txt, annotations/instances_{train,val}.json,
    and ``.complete`` last. ``style`` names a look preset of :mod:`wsol.demo.scene_style`
    (``easy`` | ``standard`` | ``hard``). Returns ``root``.
    """
    params = demo_params(num_images=num_images, image_size=image_size,
                         val_fraction=val_fraction, seed=seed, style=style)
    root = Path(root)
    _clear_previous(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _OWNER_TAG).write_text("generated by wsol.demo.synthetic; safe to delete\n")
    for sub in ("JPEGImages", "Annotations", "SegmentationClass"):
        (root / sub).mkdir(exist_ok=True)
    ids = image_ids(num_images)
    instances: list[list[tuple[int, dict]]] = []
    for index in tqdm(range(num_images), desc=f"demo dataset -> {root}", unit="img",
                      disable=not progress, leave=False):
        instances.append(_write_image(root, ids[index], seed, index, image_size, style))
    splits = split_ids(num_images, val_fraction, seed)
    _write_image_sets(root, splits, instances)
    _write_coco(root, splits, instances, image_size)
    atomic_write_json(root / MARKER, _marker(**params))
    return root


def _write_image(root: Path, image_id: str, seed: int, index: int, image_size: int,
                 style: str) -> list[tuple[int, dict]]:
    """Render and write one image's JPEG, XML and PNG; returns (class, COCO fields) per object."""
    sample = render_sample(seed, index, image_size, style)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode image {image_id} as JPEG")
    atomic_write_bytes(root / "JPEGImages" / f"{image_id}.jpg", jpeg.tobytes())
    objects = [{"name": o.name, "box": o.box, "difficult": 0, "truncated": int(o.truncated)}
               for o in sample.objects]
    xml = voc_xml_string(f"{image_id}.jpg", (image_size, image_size), objects, "VOCshapes")
    atomic_write_bytes(root / "Annotations" / f"{image_id}.xml", xml.encode())
    atomic_write_bytes(root / "SegmentationClass" / f"{image_id}.png",
                       encode_voc_mask(sample.segmentation()))
    return [(o.class_index, encode_instance(o.visible)) for o in sample.objects]


def _write_image_sets(root: Path, splits: dict[str, list[str]],
                      instances: list[list[tuple[int, dict]]]) -> None:
    present = [{k for k, _ in objs} for objs in instances]
    for split, ids in splits.items():
        text = "".join(f"{i}\n" for i in ids)
        atomic_write_text(root / "ImageSets" / "Main" / f"{split}.txt", text)
        atomic_write_text(root / "ImageSets" / "Segmentation" / f"{split}.txt", text)
        for k, name in enumerate(SHAPE_CLASSES):
            lines = "".join(f"{i} {1 if k in present[int(i)] else -1:2d}\n" for i in ids)
            atomic_write_text(root / "ImageSets" / "Main" / f"{name}_{split}.txt", lines)


def _write_coco(root: Path, splits: dict[str, list[str]],
                instances: list[list[tuple[int, dict]]], image_size: int) -> None:
    for split in ("train", "val"):
        writer = CocoInstancesWriter(SHAPE_CLASSES, supercategory="shape")
        for image_id in splits[split]:
            coco_id = int(image_id) + 1  # COCO ids are positive ints; file_name keeps the VOC id
            writer.add_image(coco_id, f"{image_id}.jpg", image_size, image_size)
            for class_index, encoded in instances[int(image_id)]:
                writer.add_instance(coco_id, class_index, encoded)
        writer.write(root / "annotations" / f"instances_{split}.json")


def _read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _clear_previous(root: Path) -> None:
    """Remove an earlier demo's files; refuse to touch a directory that is not a demo."""
    if not root.exists():
        return
    _require_ours(root)
    (root / MARKER).unlink(missing_ok=True)
    for name in _MANAGED:
        shutil.rmtree(root / name, ignore_errors=True)


def _require_ours(root: Path) -> None:
    """DataError unless ``root`` is absent, empty, or a demo tree (ours to rewrite)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DataError(f"Demo dataset root {root} (data.root) is a file; choose a directory.")
    ours = (root / MARKER).exists() or (root / _OWNER_TAG).exists()
    foreign = [p.name for p in root.iterdir()
               if p.name not in (MARKER, _OWNER_TAG, ".lock", ".readers")]
    if foreign and not ours:
        raise DataError(f"Demo dataset root {root} (data.root) already holds other files "
                        f"({', '.join(sorted(foreign)[:3])}, ...) and no {MARKER} marker; "
                        f"point data.root at an empty or new directory.")
