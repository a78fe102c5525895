"""Single PASCAL VOC files: annotation XML, palette segmentation PNG, JPEG image.

Boxes in code are int64 inclusive 0-based ``x0, y0, x1, y1``; VOC XML stores them 1-based
inclusive. Segmentation PNGs hold class indices (0 background, k+1 class k, 255 void).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS, open_checked
from wsol.errors import DataError
from wsol.io.atomic import atomic_write_bytes


def voc_palette() -> np.ndarray:
    """The VOC colour map: uint8 (256,3); index 255 (void) is (224,224,192)."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        c, rgb = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - bit)
            c >>= 3
        palette[index] = rgb
    return palette


VOC_PALETTE = voc_palette()


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file into uint8 (H,W,3) RGB.

    Grey is replicated to three channels; an alpha channel is dropped without compositing (the
    stored colour is kept, as PIL's ``convert("RGB")`` does); CMYK is converted; 16-bit
    samples are scaled to 8 bits (``v >> 8``); palette images are expanded. EXIF orientation is
    ignored so that pixels line up with the annotation's coordinates. A corrupt, truncated or
    empty file, or one of more than ``max_pixels`` pixels (``data.max_image_pixels``, checked
    from the header before decoding), raises DataError naming it.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise DataError(f"Cannot read image {path}: {err}. Check the file exists and is "
                        f"readable, or remove its id from the split file.") from None
    if data.size == 0:
        raise DataError(f"Image {path} is empty (0 bytes). Re-extract the dataset or remove "
                        f"its id from the split file.")
    raw = data.tobytes()
    try:  # the header first: its size is checked before any decoder allocates the pixels
        open_checked(raw, path, max_pixels).close()
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - no readable header: nothing to decode safely
        raise _undecodable(path, err) from None
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our message says it all
    try:
        bgr = cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if bgr is not None:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    try:  # formats OpenCV cannot decode (e.g. some palette files, a JPEG lacking only its EOI)
        with open_checked(raw, path, max_pixels) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure means the same to the user
        raise _undecodable(path, err) from None


def _undecodable(path: Path, err: Exception) -> DataError:
    reason = ("not a recognised image format" if isinstance(err, UnidentifiedImageError)
              else f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    return DataError(f"Cannot decode image {path} ({reason}); the file is corrupt, truncated or "
                     f"not an image. Re-extract the dataset or remove its id from the split "
                     f"file.")


def read_voc_xml(path: Path, class_names: Sequence[str], clip: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Parse a VOC annotation.

    Returns boxes int64 (M,4) inclusive 0-based, box_labels int64 (M,) indices into
    ``class_names``, difficult bool (M,) and the image size ``(W, H)`` (``(0, 0)`` when the
    XML has no ``<size>``). Every object counts, difficult ones included. A box reaching past
    the image is clipped to it (``clip``; :func:`clip_boxes` counts them); an inverted box or
    one wholly outside the image raises DataError. No objects gives (0,4) boxes.
    """
    path = Path(path)
    index = {name: i for i, name in enumerate(class_names)}
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"Annotation {path} is missing; image-level labels come from "
                        f"Annotations/<id>.xml. Restore it or remove the id from the split "
                        f"file.") from None
    except ET.ParseError as err:
        raise DataError(f"Annotation {path} is not valid XML ({err}); restore the file.") from None
    except OSError as err:
        raise DataError(f"Cannot read annotation {path} ({err.strerror or err}); restore the "
                        f"file.") from None
    width = _int(root.findtext("size/width"), path, "size/width", default=0)
    height = _int(root.findtext("size/height"), path, "size/height", default=0)
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in index:
            raise DataError(
                f"{path}: object class {name!r} is not one of the configured classes "
                f"(data.classes = {', '.join(class_names)}). Set data.classes to this "
                f"dataset's classes ('voc', 'shapes' or an explicit list)."
            )
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DataError(f"{path}: object {name!r} has no <bndbox>; fix the annotation.")
        coords = [_int(bndbox.findtext(k), path, f"bndbox/{k}") - 1
                  for k in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append(coords)
        labels.append(index[name])
        difficult.append(_int(obj.findtext("difficult"), path, "difficult", default=0) != 0)
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    _check_boxes(boxes, labels, class_names, (width, height), path)
    if clip:
        boxes, _ = clip_boxes(boxes, (width, height))
    return boxes, np.asarray(labels, np.int64), np.asarray(difficult, bool), (width, height)


def _check_boxes(boxes: np.ndarray, labels: list[int], class_names: Sequence[str],
                 size: tuple[int, int], path: Path) -> None:
    """DataError for a box that is inverted or lies wholly outside a (W, H) image."""
    width, height = size
    inverted = (boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3])
    outside = np.zeros(len(boxes), bool)
    if width > 0 and height > 0:
        outside = ((boxes[:, 2] < 0) | (boxes[:, 3] < 0) | (boxes[:, 0] > width - 1)
                   | (boxes[:, 1] > height - 1))
    bad = np.flatnonzero(inverted | outside)
    if bad.size:
        i = int(bad[0])
        x0, y0, x1, y1 = (int(v) + 1 for v in boxes[i])  # as written in the file (1-based)
        problem = "has xmin > xmax or ymin > ymax" if inverted[i] else \
            f"lies wholly outside the {width}x{height} image"
        raise DataError(f"{path}: the box of object {class_names[labels[i]]!r} "
                        f"(xmin={x0}, ymin={y0}, xmax={x1}, ymax={y1}) {problem}; "
                        f"fix the annotation.")


def clip_boxes(boxes: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Clip int64 (M,4) inclusive boxes to an image of size ``(W, H)``.

    Returns the clipped boxes (M,4) and how many changed; ``(0, 0)`` (size unknown) clips
    nothing. Some annotation tools write 0-based or one-past-the-end coordinates.
    """
    width, height = size
    if width <= 0 or height <= 0 or len(boxes) == 0:
        return boxes, 0
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width - 1)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height - 1)
    return clipped, int((clipped != boxes).any(axis=1).sum())


def _int(text: str | None, path: Path, key: str, default: int | None = None) -> int:
    if text is None or not text.strip():
        if default is None:
            raise DataError(f"{path}: <{key}> is missing; fix the annotation.")
        return default
    return xml_number(text, path, key, "fix the annotation")


COORDINATE_LIMIT = 10**9  # far beyond any image; keeps int64 arithmetic safe


def xml_number(text: str, path: Path, key: str, fix: str) -> int:
    """The integer an XML field holds (``"273"`` or ``"273.0"``, rounded); DataError naming
    ``path`` and ``<key>`` for text that is not a finite number within +-10^9."""
    try:
        value = float(text)  # some tools write "273.0"
    except ValueError:
        raise DataError(f"{path}: <{key}> = {text!r} is not a number; {fix}.") from None
    if not abs(value) <= COORDINATE_LIMIT:  # also NaN
        raise DataError(f"{path}: <{key}> = {text.strip()!r} is not a finite number within "
                        f"+-{COORDINATE_LIMIT:.0e}; {fix}.")
    return int(round(value))


def voc_xml_string(filename: str, size: tuple[int, int], objects: Sequence[dict],
                   folder: str = "VOC") -> str:
    """VOC XML text. ``objects``: dicts with name, box (0-based inclusive), difficult, truncated."""
    width, height = size
    parts = [f"<annotation>\n\t<folder>{escape(folder)}</folder>\n"
             f"\t<filename>{escape(filename)}</filename>\n"
             f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n"
             f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>1</segmented>\n"]
    for obj in objects:
        x0, y0, x1, y1 = (int(v) + 1 for v in obj["box"])
        parts.append(
            f"\t<object>\n\t\t<name>{escape(obj['name'])}</name>\n\t\t<pose>Unspecified</pose>\n"
            f"\t\t<truncated>{int(obj.get('truncated', 0))}</truncated>\n"
            f"\t\t<difficult>{int(obj.get('difficult', 0))}</difficult>\n"
            f"\t\t<bndbox>\n\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n"
            f"\t\t\t<xmax>{x1}</xmax>\n\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>\n"
        )
    parts.append("</annotation>\n")
    return "".join(parts)


def read_voc_mask(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Class-index map uint8 (H,W) from a VOC PNG (palette, greyscale, or VOC-coloured RGB).

    A file of more than ``max_pixels`` pixels is refused from its header (DataError)."""
    path = Path(path)
    try:
        with open_checked(path, path, max_pixels) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img)
    except FileNotFoundError:
        raise DataError(f"Segmentation mask {path} is missing; restore it, or use a split "
                        f"without masks.") from None
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DataError(f"Cannot read segmentation mask {path} ({err}); "
                        f"restore the file.") from None
    if mode in ("P", "L"):  # VOC palette PNGs and SBD's greyscale SegmentationClassAug
        return array.astype(np.uint8, copy=True)
    if mode == "LA":  # grey + alpha (an editor added transparency): indices are channel 0
        return array[..., 0].astype(np.uint8, copy=True)
    if mode in ("RGB", "RGBA"):
        return _indices_from_colours(array[..., :3], path)
    if mode.startswith("I") and array.size and 0 <= array.min() and array.max() <= 255:
        return array.astype(np.uint8)
    raise DataError(f"Segmentation mask {path} has PIL mode {mode!r}; expected a palette or "
                    f"greyscale PNG of class indices.")


def check_mask_labels(mask: np.ndarray, num_classes: int, path: Path | str) -> np.ndarray:
    """``mask`` uint8 (H,W) unchanged when every value is a label of ``num_classes`` classes
    (0 background, k+1 class k, 255 ignore); DataError naming ``path`` and the value else."""
    bad = (mask > num_classes) & (mask != 255)
    if bad.any():
        value = int(mask[bad].max())
        raise DataError(f"Mask {path} holds label {value} at {int(bad.sum())} pixel(s), but "
                        f"with {num_classes} classes labels run 0..{num_classes} (and 255 for "
                        f"ignore); fix the mask, or set data.classes to its dataset's classes.")
    return mask


def _indices_from_colours(rgb: np.ndarray, path: Path) -> np.ndarray:
    keys = (VOC_PALETTE.astype(np.int64) @ np.array([65536, 256, 1])).tolist()
    lookup = {key: index for index, key in reversed(list(enumerate(keys)))}
    pixel_keys = rgb.astype(np.int64) @ np.array([65536, 256, 1])
    uniq, inverse = np.unique(pixel_keys, return_inverse=True)
    unknown = [k for k in uniq.tolist() if k not in lookup]
    if unknown:
        raise DataError(f"Segmentation mask {path} is RGB and holds colours outside the VOC "
                        f"palette (e.g. #{unknown[0]:06x}); save it as a palette PNG.")
    return np.asarray([lookup[k] for k in uniq.tolist()], np.uint8)[inverse].reshape(rgb.shape[:2])


def encode_voc_mask(mask: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H,W) class-index map with the VOC palette."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be uint8 (H,W), got {mask.dtype} {mask.shape}")
    img = Image.fromarray(mask)
    img.putpalette(VOC_PALETTE.tobytes())
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def write_voc_mask(path: Path, mask: np.ndarray) -> None:
    """Write a uint8 (H,W) class-index map as a VOC palette PNG, atomically."""
    atomic_write_bytes(Path(path), encode_voc_mask(mask))
