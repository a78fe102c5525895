"""Reading one CAM store file with every check a damaged or foreign file can fail.

A map file is a zip (``np.savez``, uncompressed) of ``class_ids`` int64 (K,), ``image_size``
int64 (2,), optionally ``scores`` float32 (K,) and ``image_id`` uint8 (the UTF-8 bytes of the id it
was written for; files written before it have none), and the maps in one of the layouts of
:mod:`wsol.cam.compose`: ``resized`` as ``cams`` float16 (K, h, w) with ``scale`` float32 (K,);
``irn`` / ``bicubic`` as ``layout`` (its name), ``stride`` int64 and ``level_0`` ...
``level_{n-1}`` float32 (K, h_s, w_s). :func:`read_map_file` checks the zip (each member's
CRC-32, read to its end), the member names, each array's header (dtype, shape) *before*
reading its data, the shapes against each other, class ids in range and unique, and finite
values; any failure is one :class:`DamagedMapFile` naming the file and what is wrong. A
truncated copy, a flipped bit, a hand-made ``.npz`` with other arrays, or a header declaring a
huge array never gets further.
"""

from __future__ import annotations

import ast
import math
import re
import struct
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from wsol.cam.compose import compose
from wsol.errors import DataError

DTYPES = {"cams": np.dtype("<f2"), "scale": np.dtype("<f4"), "class_ids": np.dtype("<i8"),
          "image_size": np.dtype("<i8"), "scores": np.dtype("<f4"), "level": np.dtype("<f4"),
          "stride": np.dtype("<i8"), "image_id": np.dtype("|u1")}
COMMON = ("class_ids", "image_size")
RESIZED = ("cams", "scale")
NDIM = {"cams": 3, "scale": 1, "class_ids": 1, "image_size": 1, "scores": 1, "level": 3,
        "stride": 0, "layout": 0, "image_id": 1}
OPTIONAL = ("scores.npy", "image_id.npy")
MAX_LEVELS = 16
_LEVEL = re.compile(r"level_(\d+)")
_LAYOUT_DTYPE = re.compile(r"<U([1-9][0-9]?)")
# The header numpy writes; parsed by a regex (ast.literal_eval, numpy's way, is a third of the
# verification time), any other spelling by literal_eval as a fallback.
_HEADER = re.compile(r"\{'descr': '([^']+)', 'fortran_order': (False|True), "
                     r"'shape': \(([0-9, ]*)\), \}\s*$")
MAX_HEADER = 4096


class DamagedMapFile(DataError):
    """A CAM store file that exists but cannot be trusted; the cam stage recomputes it."""


class StoredMaps(NamedTuple):
    """One verified file: its layout, levels float32 (K, h_s, w_s) finite (``resized``: the one
    float16 array times its scale), class_ids int64 (K,) distinct, image_size (H, W), scores
    float32 (K,) in [0, 1] or None, and the target layer's stride (``irn``; else 0)."""

    layout: str
    levels: list[np.ndarray]
    class_ids: np.ndarray
    image_size: tuple[int, int]
    scores: np.ndarray | None
    stride: int

    def compose(self, size: tuple[int, int] | None) -> np.ndarray:
        """float32 (K, H, W) at ``size`` (default the image size); see wsol.cam.compose."""
        return compose(self.layout, self.levels, self.image_size, size, self.stride)


def _header(handle) -> tuple[str, bool, tuple[int, ...]]:
    """(dtype string, fortran order, shape) from the .npy header at ``handle``'s position."""
    magic = handle.read(8)
    if magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise ValueError("not a .npy array")
    size_format = "<H" if magic[6] == 1 else "<I"
    (length,) = struct.unpack(size_format, handle.read(struct.calcsize(size_format)))
    if length > MAX_HEADER:
        raise ValueError(f".npy header of {length} bytes")
    text = handle.read(length).decode("latin1")
    match = _HEADER.match(text)
    if match:
        shape = tuple(int(v) for v in match[3].replace(" ", "").split(",") if v)
        return match[1], match[2] == "True", shape
    header = ast.literal_eval(text)
    if not (isinstance(header, dict) and isinstance(header.get("descr"), str)
            and isinstance(header.get("shape"), tuple)
            and all(isinstance(v, int) and v >= 0 for v in header["shape"])):
        raise ValueError(f".npy header {text[:60]!r}")
    return header["descr"], bool(header.get("fortran_order")), header["shape"]


def _kind(name: str) -> str:
    """The member kind of an array name (``level_3`` -> ``level``)."""
    return "level" if _LEVEL.fullmatch(name) else name


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    name = info.filename[:-4]
    kind = _kind(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"member {info.filename} is compressed (wsol writes them stored)")
    with archive.open(info) as handle:
        descr, fortran, shape = _header(handle)
        if kind == "layout":  # a short unicode scalar: numpy writes its length into the dtype
            if not _LAYOUT_DTYPE.fullmatch(descr):
                raise ValueError(f"layout is {descr}, expected a short unicode string")
            dtype = np.dtype(descr)
        else:
            dtype = DTYPES[kind]
        if descr != dtype.str or len(shape) != NDIM[kind] or fortran:
            raise ValueError(f"{name} is {descr} {shape}, expected {dtype.str} with "
                             f"{NDIM[kind]} dimension(s)")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:  # a header declaring more than the file holds
            raise ValueError(f"{name} declares {shape}, more data than the file holds")
        data = handle.read(nbytes)
        if len(data) != nbytes or handle.read(1):  # reading to the end checks the CRC-32
            raise ValueError(f"{name} holds {len(data)} bytes of data for shape {shape}")
    return np.frombuffer(data, dtype).reshape(shape)


def _members(names: list[str]) -> str:
    """The layout a file's member names describe; ValueError for any other set."""
    common = {f"{k}.npy" for k in COMMON}
    rest = set(names) - common - set(OPTIONAL)
    if not common <= set(names):
        raise ValueError(f"holds {sorted(names)[:6]}, missing {sorted(common - set(names))}")
    if rest == {f"{k}.npy" for k in RESIZED}:
        return "resized"
    levels = sorted(rest - {"layout.npy", "stride.npy"})
    count = len(levels)
    if {"layout.npy", "stride.npy"} <= rest and 1 <= count <= MAX_LEVELS and \
            levels == sorted(f"level_{i}.npy" for i in range(count)):
        return "levels"
    raise ValueError(f"holds {sorted(names)[:6]}, expected {sorted(common)} with "
                     f"{sorted(RESIZED)} or layout/stride/level_0..n (+ {', '.join(OPTIONAL)})")


def _check(arrays: dict[str, np.ndarray], levels: list[np.ndarray], num_classes: int | None,
           max_pixels: int) -> None:
    ids, size = arrays["class_ids"], arrays["image_size"]
    k = ids.shape[0]
    if size.shape != (2,) or any(level.shape[0] != k for level in levels):
        raise ValueError(f"shapes disagree: maps {[lv.shape for lv in levels]}, class_ids "
                         f"{ids.shape}, image_size {size.shape}")
    if "scale" in arrays and arrays["scale"].shape != (k,):
        raise ValueError(f"scale is {arrays['scale'].shape}, expected ({k},)")
    if "scores" in arrays and arrays["scores"].shape != (k,):
        raise ValueError(f"scores is {arrays['scores'].shape}, expected ({k},)")
    if any(min(level.shape[1:]) < 1 for level in levels):
        raise ValueError(f"maps of size {[lv.shape[1:] for lv in levels]}")
    height, width = (int(v) for v in size)
    if height < 1 or width < 1 or height * width > max_pixels:
        raise ValueError(f"image_size {height}x{width} outside 1..{max_pixels} pixels")
    upper = num_classes if num_classes is not None else np.iinfo(np.int64).max
    if k and (ids.min() < 0 or ids.max() >= upper or len(np.unique(ids)) != k):
        raise ValueError(f"class_ids {ids.tolist()[:8]} not distinct in 0..{upper - 1}")
    if "scale" in arrays and not (np.isfinite(arrays["scale"]).all()
                                  and (arrays["scale"] > 0).all()):
        raise ValueError("scale holds a non-finite or non-positive value")
    if not all(np.isfinite(level).all() for level in levels):
        raise ValueError("maps hold a non-finite value")
    if "stride" in arrays and not 0 <= int(arrays["stride"]) <= 1024:
        raise ValueError(f"stride {int(arrays['stride'])} outside 0..1024")
    scores = arrays.get("scores")
    if scores is not None and not (np.isfinite(scores).all() and (scores >= 0).all()
                                   and (scores <= 1).all()):
        raise ValueError("scores outside [0, 1]")


def read_map_file(path: Path, num_classes: int | None, max_pixels: int,
                  image_id: str | None = None) -> StoredMaps:
    """The verified contents of one store file.

    Args:
        path: the ``.npz`` file (must exist).
        image_id: the id the file must have been written for, when it records one (a file
            copied over another image's file is damaged); None checks nothing.
        num_classes: class ids must be below it (None: unknown, only ``>= 0`` is checked).
        max_pixels: ``image_size`` may not exceed it (``data.max_image_pixels``): the maps
            are upsampled to that size on read.

    Raises:
        DamagedMapFile naming the file and the first problem found.
    """
    from wsol.cam.compose import LAYOUTS

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            kind = _members([info.filename for info in infos])
            arrays = {info.filename[:-4]: _read_member(archive, info) for info in infos}
        if kind == "resized":
            layout, stride = "resized", 0
            levels = [arrays["cams"].astype(np.float32) * arrays["scale"][:, None, None]]
        else:
            layout, stride = str(arrays["layout"]), int(arrays["stride"])
            if layout not in LAYOUTS or layout == "resized":
                raise ValueError(f"layout {layout!r} is not one of {list(LAYOUTS[1:])}")
            levels = [arrays[f"level_{i}"] for i in range(len(infos))
                      if f"level_{i}" in arrays]
        _check(arrays, levels, num_classes, max_pixels)
        written = arrays.get("image_id")  # bytes, as a numpy string would drop trailing NULs
        if image_id is not None and written is not None and \
                written.tobytes() != image_id.encode("utf-8", "surrogatepass"):
            shown = written.tobytes().decode("utf-8", "replace")
            raise ValueError(f"it holds the maps of image {shown!r}, not of {image_id!r}")
    except Exception as err:  # noqa: BLE001 - whatever a damaged file raises, it is damaged
        reason = str(err).splitlines()[0][:160] if str(err) else ""
        raise DamagedMapFile(f"{path} is damaged ({type(err).__name__}: {reason})") from None
    size = tuple(int(v) for v in arrays["image_size"])
    return StoredMaps(layout, levels, arrays["class_ids"].copy(), size,
                      None if arrays.get("scores") is None else arrays["scores"].copy(), stride)
