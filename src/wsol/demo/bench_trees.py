"""Generated trees of real datasets' size for the pipeline benchmark (scripts/bench_pipeline.py).

A VOC-sized tree (PASCAL VOC 2012 layout: JPEGs around 500 x 375, 20 classes, XML boxes and
palette masks with a 255 band along outlines) and a COCO-sized one (COCO 2014 layout: JPEGs
around 640 x 480, 80 classes, an instances JSON with RLE masks). What the benchmark needs of
them is the real formats and the real work per image: the decode of a JPEG of that size, that
many classes and objects per image, the mix of image sizes (a few dominant sizes and a tail of
others, which decides how the CAM stage can batch). The content is random shapes on a smooth
background; no model learns anything from it. The size shares are chosen to resemble VOC's
and COCO's mixes, not measured from them.

Image ``i`` depends only on ``(spec, i)``, so trees are written in parallel and the same spec
gives the same files; ``.complete`` (the spec as JSON) is written last and a complete tree with
the same spec is reused.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from wsol.datasets.classes import COCO_CLASSES, VOC_CLASSES
from wsol.datasets.voc_format import encode_voc_mask, voc_xml_string
from wsol.demo.coco_writer import CocoInstancesWriter, encode_instance
from wsol.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from wsol.io.workers import map_chunks

VERSION = 1
MARKER = ".complete"


@dataclass(frozen=True)
class TreeSpec:
    """One generated tree: its format (``voc`` | ``coco``), image count, the (W, H, share) of
    its common sizes (the rest: long side ``long_side``, the other side uniform in 50-100 %
    of it, either orientation), the mean number of objects per image (1 + Poisson)."""

    format: str
    num_images: int
    sizes: tuple[tuple[int, int, float], ...]
    long_side: int
    mean_objects: float
    seed: int = 0

    @property
    def classes(self) -> tuple[str, ...]:
        return VOC_CLASSES if self.format == "voc" else COCO_CLASSES

    @property
    def split(self) -> str:
        """The split holding every image (VOC: a Segmentation list; COCO: the folder)."""
        return "train" if self.format == "voc" else "train2014"


VOC_SIZED = TreeSpec("voc", 1464, ((500, 375, 0.45), (375, 500, 0.15), (500, 333, 0.12),
                                   (333, 500, 0.05)), 500, 1.5)
COCO_SIZED = TreeSpec("coco", 5000, ((640, 480, 0.45), (480, 640, 0.12), (640, 427, 0.15),
                                     (427, 640, 0.05)), 640, 2.9)


def image_size(spec: TreeSpec, rng: np.random.Generator) -> tuple[int, int]:
    """(W, H) of one image: a common size by its share, else a random one of the tail."""
    shares = np.array([s for _, _, s in spec.sizes])
    pick = rng.random()
    if pick < shares.sum():
        width, height, _ = spec.sizes[int(np.searchsorted(np.cumsum(shares), pick,
                                                          side="right"))]
        return width, height
    short = int(rng.integers(spec.long_side // 2, spec.long_side + 1))
    return (spec.long_side, short) if rng.random() < 0.7 else (short, spec.long_side)


def render(spec: TreeSpec, index: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Image ``index``: uint8 (H, W, 3) RGB and its objects as (class, visible bool (H, W)),
    later objects covering earlier ones (an object covered completely is left out)."""
    rng = np.random.default_rng([spec.seed, index])
    width, height = image_size(spec, rng)
    coarse = rng.uniform(30, 200, (max(2, height // 48), max(2, width // 48), 3))
    image = cv2.resize(coarse.astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 8, (height, width, 1)).astype(np.float32)
    masks = []
    for _ in range(1 + int(rng.poisson(spec.mean_objects - 1))):
        mask = np.zeros((height, width), np.uint8)
        cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        rx, ry = rng.uniform(0.08, 0.3) * width, rng.uniform(0.08, 0.3) * height
        if rng.random() < 0.5:
            cv2.ellipse(mask, (int(cx), int(cy)), (int(rx), int(ry)),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            radius = rng.uniform(0.5, 1.0, angles.size)
            points = np.stack([cx + rx * radius * np.cos(angles),
                               cy + ry * radius * np.sin(angles)], 1).astype(np.int32)
            cv2.fillPoly(mask, [points], 1)
        inside = mask.astype(bool)
        shade = rng.uniform(0, 255, 3).astype(np.float32)
        image[inside] = shade + rng.normal(0, 12, (int(inside.sum()), 3)).astype(np.float32)
        masks.append((int(rng.integers(0, len(spec.classes))), inside))
    objects, covered = [], np.zeros((height, width), bool)
    for class_index, inside in reversed(masks):  # the last drawn is wholly visible
        visible = inside & ~covered
        covered |= inside
        if visible.any():
            objects.append((class_index, visible))
    return np.clip(image, 0, 255).astype(np.uint8), objects[::-1]


def segmentation(objects: list[tuple[int, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """VOC label map uint8 (H, W): k + 1 on class k's visible pixels, 255 on a 2-pixel band
    inside and outside every outline (VOC's void border), 0 elsewhere."""
    labels = np.zeros(shape, np.uint8)
    for class_index, visible in objects:
        labels[visible] = class_index + 1
    edges = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    labels[cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 255
    return labels


def _box(visible: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(visible)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def image_ids(spec: TreeSpec) -> list[str]:
    """The ids (file stems) of the tree's images, in split order."""
    if spec.format == "voc":
        return [f"2010_{i:06d}" for i in range(spec.num_images)]
    return [f"COCO_train2014_{i + 1:012d}" for i in range(spec.num_images)]


class _WriteImages:
    """Renders and writes the images at some indices; returns what the index files need."""

    def __init__(self, spec: TreeSpec, root: Path) -> None:
        self.spec, self.root, self.ids = spec, root, image_ids(spec)

    def __call__(self, indices: range) -> list[tuple[int, int, list]]:
        out = []
        for index in indices:
            image, objects = render(self.spec, index)
            height, width = image.shape[:2]
            image_id = self.ids[index]
            if self.spec.format == "voc":
                atomic_write_bytes(self.root / "JPEGImages" / f"{image_id}.jpg", _jpeg(image))
                names = [{"name": self.spec.classes[k], "box": _box(v), "difficult": 0,
                          "truncated": 0} for k, v in objects]
                xml = voc_xml_string(f"{image_id}.jpg", (width, height), names, "VOC2012")
                atomic_write_bytes(self.root / "Annotations" / f"{image_id}.xml", xml.encode())
                atomic_write_bytes(self.root / "SegmentationClass" / f"{image_id}.png",
                                   encode_voc_mask(segmentation(objects, (height, width))))
                out.append((width, height, []))
            else:
                atomic_write_bytes(self.root / self.spec.split / f"{image_id}.jpg",
                                   _jpeg(image))
                out.append((width, height, [(k, encode_instance(v)) for k, v in objects]))
        return out


def write_tree(root: Path, spec: TreeSpec, workers: int = 1) -> Path:
    """Write ``spec``'s tree under ``root`` (VOC: ``root`` is VOC2012's folder; COCO: the folder
    holding ``train2014/`` and ``annotations/``) with ``workers`` processes; returns ``root``."""
    root = Path(root)
    (root / MARKER).unlink(missing_ok=True)
    folders = ("JPEGImages", "Annotations", "SegmentationClass") if spec.format == "voc" else \
        (spec.split, "annotations")
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    written = []
    for _, part in map_chunks(_WriteImages(spec, root), spec.num_images, workers):
        written.extend(part)
    ids = image_ids(spec)
    if spec.format == "voc":
        atomic_write_text(root / "ImageSets" / "Segmentation" / f"{spec.split}.txt",
                          "".join(f"{i}\n" for i in ids))
    else:
        write_coco_index(root / "annotations" / f"instances_{spec.split}.json", spec,
                         ids, written, spec.split)
    atomic_write_json(root / MARKER, {"version": VERSION, **asdict(spec)})
    return root


def write_coco_index(path: Path, spec: TreeSpec, ids: list[str], written: list, folder: str
                     ) -> None:
    """The instances JSON of the images ``ids`` (their ``written`` sizes and instances)."""
    writer = CocoInstancesWriter(spec.classes)
    for image_id, (width, height, instances) in zip(ids, written, strict=True):
        coco_id = int(image_id.rsplit("_", 1)[1])
        writer.add_image(coco_id, f"{image_id}.jpg", width, height)
        for class_index, encoded in instances:
            writer.add_instance(coco_id, class_index, encoded)
    writer.write(path)


def ensure_tree(root: Path, spec: TreeSpec, workers: int = 1) -> Path:
    """``root`` holding ``spec``'s tree: reused when complete with the same spec, else written."""
    try:
        if json.loads((Path(root) / MARKER).read_text()) == json.loads(json.dumps(
                {"version": VERSION, **asdict(spec)})):
            return Path(root)
    except (OSError, ValueError):
        pass
    return write_tree(root, spec, workers)


def subset_split(root: Path, spec: TreeSpec, count: int) -> str:
    """A split of the tree's first ``count`` images (written once); returns its name.

    VOC: ``ImageSets/Segmentation/first<count>.txt``. COCO (whose split is a folder): the
    folder ``first<count>/`` of hard links to the images, and its instances JSON.
    """
    root, name = Path(root), f"first{count}"
    ids = image_ids(spec)[:count]
    if spec.format == "voc":
        split_file = root / "ImageSets" / "Segmentation" / f"{name}.txt"
        if not split_file.is_file():
            atomic_write_text(split_file, "".join(f"{i}\n" for i in ids))
        return name
    index = root / "annotations" / f"instances_{name}.json"
    if index.is_file():
        return name
    full = json.loads((root / "annotations" / f"instances_{spec.split}.json").read_text())
    keep = {int(i.rsplit("_", 1)[1]) for i in ids}
    (root / name).mkdir(exist_ok=True)
    for image_id in ids:
        target = root / name / f"{image_id}.jpg"
        if not target.exists():
            os.link(root / spec.split / f"{image_id}.jpg", target)
    full["images"] = [im for im in full["images"] if im["id"] in keep]
    full["annotations"] = [a for a in full["annotations"] if a["image_id"] in keep]
    atomic_write_text(index, json.dumps(full, separators=(",", ":")))
    return name
