"""On-disk CAM store: one compact .npz per image, written atomically, upsampled on read.

Each file holds the maps at the resolution they were written (normally the target layer's, so
a COCO-sized run fits on disk) as float16 after dividing each class map by its own max (kept as
float32 ``scale``), so unnormalised maps neither overflow float16 nor lose relative precision.
``manifest.json`` records the settings that produced the maps; opening a store with different
settings is refused, so stale maps are never mixed with new ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsol.errors import ConfigError, DataError

MANIFEST = "manifest.json"
_SUFFIX = ".npz"


class CamStore:
    """CAMs per image id in ``directory``.

    settings: optional JSON-serialisable description of how the maps were made (model,
    checkpoint, method, scales, ...); written to manifest.json on first use and checked after.
    """

    def __init__(self, directory: str | os.PathLike, settings: Mapping[str, Any] | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / MANIFEST
        if path.exists():
            try:
                self.manifest = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"{path} is unreadable ({exc}); delete it to start over") from exc
            if settings is not None and self.manifest.get("settings") != _jsonable(settings):
                raise ConfigError(
                    f"{path} was written with other settings; use another cam directory or "
                    "delete this one to recompute the maps"
                )
        else:
            self.manifest = {"format": 1, "dtype": "float16", "settings": _jsonable(settings)}
            _atomic_write(path, json.dumps(self.manifest, indent=2, sort_keys=True).encode())

    def write(
        self,
        image_id: str,
        cams: torch.Tensor | np.ndarray,
        class_ids: Sequence[int] | np.ndarray | torch.Tensor,
        image_size: tuple[int, int],
    ) -> None:
        """Store maps (K, h, w) >= 0 for ``class_ids`` (K,) of an image of size (H, W)."""
        if isinstance(cams, torch.Tensor):
            cams = cams.detach().float().cpu().numpy()
        cams = np.asarray(cams, dtype=np.float32)
        ids = np.asarray(
            class_ids.cpu() if isinstance(class_ids, torch.Tensor) else class_ids, dtype=np.int64
        ).reshape(-1)
        if cams.ndim != 3 or cams.shape[0] != ids.shape[0]:
            raise ValueError(
                f"cams must be (K, h, w) with K = len(class_ids) = {ids.shape[0]}, "
                f"got {cams.shape} for image {image_id!r}"
            )
        peak = cams.reshape(cams.shape[0], -1).max(axis=1) if cams.size else np.zeros(len(ids))
        scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
        compact = (cams / scale[:, None, None]).astype(np.float16)
        size = np.asarray(image_size, dtype=np.int64)
        _atomic_write(
            self._path(image_id),
            lambda f: np.savez(f, cams=compact, scale=scale, class_ids=ids, image_size=size),
        )

    def read(
        self, image_id: str, size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cams float32 (K, H, W) upsampled bilinearly to ``size`` or image size, class_ids (K,)).

        Values are the written maps' (float16-rounded), not renormalised after upsampling.
        """
        cams, ids, image_size = self.read_compact(image_id)
        target = tuple(size) if size is not None else image_size
        if cams.shape[0] and cams.shape[1:] != target:
            up = F.interpolate(
                torch.from_numpy(cams)[None], size=target, mode="bilinear", align_corners=False
            )
            cams = up[0].numpy()
        elif not cams.shape[0]:
            cams = np.zeros((0, *target), np.float32)
        return cams, ids

    def read_compact(self, image_id: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """(cams float32 (K, h, w) as stored, class_ids (K,), image_size (H, W))."""
        path = self._path(image_id)
        if not path.exists():
            raise DataError(
                f"no CAMs for image {image_id!r} in {self.directory}; run the cam stage"
            )
        try:
            with np.load(path) as data:
                cams = data["cams"].astype(np.float32) * data["scale"][:, None, None]
                ids = data["class_ids"].astype(np.int64)
                image_size = tuple(int(v) for v in data["image_size"])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(
                f"{path} is unreadable ({exc}); delete it and rerun the cam stage"
            ) from exc
        return cams, ids, image_size

    def has(self, image_id: str) -> bool:
        """True if maps for ``image_id`` are stored."""
        return self._path(image_id).exists()

    def ids(self) -> list[str]:
        """Sorted ids of the stored images."""
        return sorted(
            urllib.parse.unquote(p.name[: -len(_SUFFIX)])
            for p in self.directory.iterdir()
            if p.name.endswith(_SUFFIX)
        )

    def __len__(self) -> int:
        return len(self.ids())

    def _path(self, image_id: str) -> Path:
        # Reversible and filesystem-safe: COCO/VOC ids are unchanged, "/" and friends are quoted.
        return self.directory / (urllib.parse.quote(str(image_id), safe="") + _SUFFIX)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _atomic_write(path: Path, payload: bytes | Any) -> None:
    """Write ``payload`` (bytes, or a callable writing to a binary file) to ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(payload, bytes):
                f.write(payload)
            else:
                payload(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
