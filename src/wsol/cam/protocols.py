"""The CAM pipelines a recipe can follow (``cam.protocol``), each one reference's steps.

- ``default``: the image resized to ``data.input_size`` square with OpenCV (or fed at its own
  size); each scale resized bilinearly from the normalised tensor; the scale-fair maps resized
  bilinearly to the fed size / ``cam.store_stride``, summed, divided by their max and stored
  as float16 (upsampled bilinearly on read).
- ``irn``: IRN's make_cam (Ahn et al. 2019): each image at its own size
  (``cam.image_size=original``); each scale made from the uint8 image with PIL bicubic and
  normalised after; per scale ReLU(map) + the flipped-back map of the flip, stored raw at the
  target layer's resolution (float32) and composed on read: upsampled to the image size
  rounded up to the stride, cropped, summed, each class map / (max + 1e-5).
- ``wsolevaluation``: Choe et al. 2020's CAM step: the image resized to ``data.input_size``
  square with PIL bilinear (torchvision's Resize), one scale, no flip, the class map WITHOUT a
  ReLU stored raw, resized with OpenCV bicubic and min-max normalised on read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wsol.errors import ConfigError


@dataclass(frozen=True)
class CamProtocol:
    """name; layout of the store files (wsol.cam.compose); relu: the engine's final ReLU;
    resample: how CamDataset makes the square image; pyramid: per-scale inputs made with PIL
    bicubic from the uint8 image (else resized from the normalised tensor)."""

    name: str
    layout: str
    relu: bool
    resample: str
    pyramid: bool


PROTOCOLS: dict[str, CamProtocol] = {p.name: p for p in (
    CamProtocol("default", "resized", True, "opencv", False),
    CamProtocol("irn", "irn", True, "opencv", True),
    CamProtocol("wsolevaluation", "bicubic", False, "pil_bilinear", False),
)}


def check_protocol(name: str, image_size: str, scales: Sequence[float], flip: bool
                   ) -> CamProtocol:
    """The protocol ``name`` after checking the cam settings it needs (ConfigError naming the
    key and the fix otherwise)."""
    if name not in PROTOCOLS:
        raise ConfigError(f"cam.protocol={name!r}: choose one of {sorted(PROTOCOLS)}.")
    if name == "irn" and image_size != "original":
        raise ConfigError("cam.protocol=irn makes CAMs at each image's own size, as IRN does; "
                          "set cam.image_size=original (and cam.batch_size=1).")
    if name == "wsolevaluation" and (image_size != "square" or [float(s) for s in scales]
                                     != [1.0] or flip):
        raise ConfigError("cam.protocol=wsolevaluation feeds each image once, resized to "
                          "data.input_size square: set cam.image_size=square cam.scales=[1.0] "
                          "cam.flip=false.")
    return PROTOCOLS[name]
