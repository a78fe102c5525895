"""On-disk CAM store: one compact .npz per image, written atomically, composed on read.

A file holds the maps in one of the layouts of :mod:`wsol.cam.compose`. ``resized`` (the
default protocol): the maps at the resolution they were written (the fed size / store_stride,
so a COCO-sized run fits on disk) as float16 after dividing each class map by its largest
magnitude (kept as float32 ``scale``), so unnormalised maps neither overflow float16 nor lose
relative precision; upsampled bilinearly on read. ``irn`` / ``bicubic``: the raw maps of each
scale at the target layer's resolution, float32, composed on read exactly as the reference
pipeline composes them (so maps read back equal the reference's high-resolution maps).
``manifest.json`` records the settings that produced the maps (with the cache key and the number
of images expected); opening a store with different settings is refused, so stale maps are never
mixed with new ones. Temporary files carry the writer's host and pid, so the ones a killed run
left behind are removed when the store is opened, without touching a live writer's.

Every read verifies its file (:mod:`wsol.cam.store_verify`); :meth:`CamStore.intact` lists the
images whose file is whole and removes damaged ones, so the cam stage recomputes them.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsol.cam.compose import LAYOUTS
from wsol.cam.store_files import atomic_write, is_temp, remove_stale_temps
from wsol.cam.store_messages import mismatch_message, write_error_message
from wsol.cam.store_verify import DamagedMapFile, StoredMaps, read_map_file
from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from wsol.errors import ConfigError, DataError, OutputWriteError, WsolError
from wsol.io.manifest import jsonable
from wsol.io.paths import confined_path
from wsol.io.workers import map_chunks

MANIFEST = "manifest.json"
_SUFFIX = ".npz"
log = logging.getLogger(__name__)
# A verifying worker process costs about as much to start as reading ~1,000 files (0.2-0.4 s):
# fewer files per worker than this and the store is checked faster in one process.
FILES_PER_WORKER = 1000


class CamStore:
    """CAMs per image id in ``directory``.

    settings: optional JSON-serialisable description of how the maps were made (the cache key's
    inputs); written to manifest.json on first use and checked on every later open. Opened
    without settings, a store is read-only until the first write (nothing is created).
    key, expected_images: recorded in the manifest (the cache key, the split's image count).
    max_image_pixels: a stored image size above it marks the file damaged (maps are upsampled
    to that size on read); ``data.max_image_pixels``.
    """

    def __init__(self, directory: str | os.PathLike, settings: Mapping[str, Any] | None = None,
                 *, key: str | None = None, expected_images: int | None = None,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.directory = Path(directory)
        self.max_image_pixels = int(max_image_pixels)
        self._manifest_path = self.directory / MANIFEST
        self.manifest: dict[str, Any] = {"format": 1, "dtype": "float16", "settings": None}
        if self.directory.is_dir():
            remove_stale_temps(self.directory)
        if settings is not None:
            found = require_same_settings(self.directory, settings)
        else:
            found = _read_manifest(self._manifest_path) if self._manifest_path.exists() else None
        if found is not None:
            self.manifest = found
        elif settings is not None:
            self.manifest.update(settings=jsonable(settings), key=key,
                                 expected_images=expected_images)
            self._write_manifest()

    @property
    def num_classes(self) -> int | None:
        """The class count the manifest's settings name (None: unknown provenance)."""
        settings = self.manifest.get("settings")
        names = settings.get("class_names") if isinstance(settings, dict) else None
        return len(names) if isinstance(names, list) and names else None

    @property
    def expected_images(self) -> int | None:
        """The number of images the run that made the store meant to write (None if unknown)."""
        return self.manifest.get("expected_images")

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"

        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(self._manifest_path, text.encode())

        self._guarded(write)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a write; an OSError (full disk, read-only, ...) becomes one clear WsolError."""
        try:
            action()
        except (OSError, OutputWriteError) as exc:
            cause = exc.cause if isinstance(exc, OutputWriteError) else exc
            try:
                stored = len(self.ids())
            except OSError:
                stored = 0
            raise WsolError(write_error_message(self.directory, cause, stored)) from cause

    def write(
        self,
        image_id: str,
        cams: torch.Tensor | np.ndarray,
        class_ids: Sequence[int] | np.ndarray | torch.Tensor,
        image_size: tuple[int, int],
        scores: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        """Store maps (K, h, w) for ``class_ids`` (K,) of an image of size (H, W), and
        optionally the classifier's scores (K,) in [0, 1] for those classes (``resized``)."""
        cams = _array(cams)
        ids = _class_ids(class_ids, cams, image_id)
        # the largest magnitude: ReLU'd maps use their max, raw (signed) maps fit float16 too
        peak = np.abs(cams).reshape(len(ids), -1).max(axis=1) if cams.size else np.zeros(len(ids))
        scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
        compact = (cams / scale[:, None, None]).astype(np.float16)
        self._save(image_id, {"cams": compact, "scale": scale}, ids, image_size, scores)

    def write_levels(
        self,
        image_id: str,
        levels: Sequence[torch.Tensor | np.ndarray],
        class_ids: Sequence[int] | np.ndarray | torch.Tensor,
        image_size: tuple[int, int],
        layout: str,
        stride: int = 0,
        scores: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        """Store raw float32 maps, one (K, h_s, w_s) array per level (scale), in ``layout``
        ``irn`` (composed on read with the target layer's ``stride``) or ``bicubic`` (one
        level, any sign); see :mod:`wsol.cam.compose`."""
        if layout not in LAYOUTS or layout == "resized" or not levels:
            raise ValueError(f"write_levels: layout irn or bicubic with >= 1 level, got "
                             f"{layout!r} with {len(levels)} levels")
        arrays = {f"level_{i}": _array(lv) for i, lv in enumerate(levels)}
        ids = _class_ids(class_ids, arrays["level_0"], image_id)
        for name, level in arrays.items():
            _class_ids(ids, level, f"{image_id} {name}")
        arrays.update(layout=np.asarray(layout), stride=np.asarray(int(stride), np.int64))
        self._save(image_id, arrays, ids, image_size, scores)

    def _save(self, image_id: str, arrays: dict[str, np.ndarray], ids: np.ndarray,
              image_size: tuple[int, int], scores) -> None:
        maps = [a for name, a in arrays.items() if name == "cams" or name.startswith("level_")]
        if not all(np.isfinite(m).all() for m in maps):  # the cam stage names the model first
            raise ValueError(f"cams of image {image_id!r} hold NaN or infinite values")
        # the id's bytes: a file copied over another image's then fails verification (a lone
        # surrogate passes here; the file name check refuses it with its own message)
        written_for = np.frombuffer(str(image_id).encode("utf-8", "surrogatepass"), np.uint8)
        arrays = {**arrays, "class_ids": ids, "image_size": np.asarray(image_size, np.int64),
                  "image_id": written_for}
        if scores is not None:
            arrays["scores"] = _array(scores).reshape(-1)
            if arrays["scores"].shape != ids.shape:
                raise ValueError(f"scores must be (K,) = ({ids.shape[0]},) for {image_id!r}")
        if not self._manifest_path.exists():
            self._write_manifest()  # a store written without settings: provenance unknown
        self._guarded(lambda: atomic_write(
            self._path(image_id),
            lambda f: np.savez(f, **arrays),
        ))

    def read(
        self, image_id: str, size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cams float32 (K, H, W) at ``size`` or the image size, class_ids (K,)), composed
        as the file's layout says (``resized``: upsampled bilinearly, not renormalised)."""
        stored = self._load(image_id)
        return stored.compose(size), stored.class_ids

    def read_scored(
        self, image_id: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As :meth:`read` at image size, plus the classifier's scores (K,) stored with the maps
        (None for maps written without them), from one read of the file."""
        stored = self._load(image_id)
        return stored.compose(None), stored.class_ids, stored.scores

    def read_compact(self, image_id: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """(cams float32 (K, h, w) as stored, class_ids (K,), image_size (H, W)); for a
        multi-level layout the first level (see :meth:`read_levels`)."""
        stored = self._load(image_id)
        return stored.levels[0], stored.class_ids, stored.image_size

    def read_levels(self, image_id: str) -> StoredMaps:
        """Everything the file holds (layout, every level, ids, size, scores, stride)."""
        return self._load(image_id)

    def _load(self, image_id: str) -> StoredMaps:
        """The verified file of ``image_id``; DataError when it is missing or damaged."""
        path = self._path(image_id)
        if not path.exists():
            raise DataError(
                f"no CAMs for image {image_id!r} in {self.directory}; run the cam stage"
            )
        try:
            stored = read_map_file(path, self.num_classes, self.max_image_pixels, image_id)
        except DamagedMapFile as err:
            raise DamagedMapFile(f"{err}; rerun the cam stage with the same settings: it "
                                 f"recomputes damaged files") from None
        return stored

    def intact(self, ids: Sequence[str], workers: int = 1) -> set[str]:
        """The ids of ``ids`` whose file is present and passes every check; a damaged file is
        deleted (logged), so a resumed cam stage recomputes it. Reads every file once, spread
        over up to ``workers`` processes, one per ``FILES_PER_WORKER`` files
        (:func:`wsol.io.workers.map_chunks`; the verdicts do not depend on it); the deletions
        happen here."""
        start = time.perf_counter()
        stored = set(self.ids())
        present = [image_id for image_id in ids if image_id in stored]
        workers = max(1, min(int(workers), len(present) // FILES_PER_WORKER))
        good, damaged = set(), []
        for _, (passed, failed) in map_chunks(partial(_check_files, self, present),
                                              len(present), workers):
            good.update(passed)
            damaged += failed
        for image_id, message in damaged:
            try:
                self._path(image_id).unlink()
            except FileNotFoundError:
                pass  # another rank of this run removed it first
            except OSError as exc:  # a folder of that name, a read-only store, ...
                raise DataError(f"{message}, and it cannot be removed ({exc.strerror}); "
                                f"delete it by hand and rerun.") from None
        if damaged:
            log.warning("CAM store %s: %d damaged file(s) removed, to be recomputed; e.g. %s",
                        self.directory, len(damaged), damaged[0][1])
        log.info("CAM store %s: verified %d stored file(s) in %.2f s over %d process(es)",
                 self.directory, len(present), time.perf_counter() - start, workers)
        return good

    def has(self, image_id: str) -> bool:
        """True if maps for ``image_id`` are stored."""
        return self._path(image_id).exists()

    def ids(self) -> list[str]:
        """Sorted ids of the stored images (never temporary files; [] before the first write)."""
        return stored_ids(self.directory)

    def __len__(self) -> int:
        return len(self.ids())

    def _path(self, image_id: str) -> Path:
        # Reversible and filesystem-safe: COCO/VOC ids are unchanged, "/" and friends are quoted;
        # the quoted name is one path component, checked for length and symlinks.
        try:
            name = urllib.parse.quote(str(image_id), safe="")
        except UnicodeEncodeError:  # a lone surrogate: no file name can hold it
            raise DataError(f"CAM store {self.directory}: image id {image_id!r} is not valid "
                            f"Unicode text; correct it in the split.") from None
        return confined_path(self.directory, name, f"CAM store {self.directory}", suffix=_SUFFIX,
                             encoded=True, fix="use shorter image ids or remove the link")


def _array(values: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def _class_ids(class_ids, cams: np.ndarray, image_id: str) -> np.ndarray:
    """class_ids as int64 (K,), checked against maps (K, h, w)."""
    ids = np.asarray(
        class_ids.cpu() if isinstance(class_ids, torch.Tensor) else class_ids, dtype=np.int64
    ).reshape(-1)
    if cams.ndim != 3 or cams.shape[0] != ids.shape[0]:
        raise ValueError(
            f"cams must be (K, h, w) with K = len(class_ids) = {ids.shape[0]}, "
            f"got {cams.shape} for image {image_id!r}"
        )
    return ids


def stored_ids(directory: Path) -> list[str]:
    """Sorted ids of the map files in ``directory`` (never temporary files; [] when it is not
    a folder)."""
    if not Path(directory).is_dir():
        return []
    return sorted(urllib.parse.unquote(entry.name[: -len(_SUFFIX)])
                  for entry in os.scandir(directory)
                  if entry.name.endswith(_SUFFIX) and not is_temp(entry.name))


def require_same_settings(directory: Path, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest of the store in ``directory`` when it was made with ``settings``; None when
    no store is there yet (no manifest, no map file). A manifest of other settings, or map files
    without a manifest (maps of unknown origin: copied in, or their record deleted), raise
    ConfigError naming the directory and the ways out; nothing is written."""
    path = Path(directory) / MANIFEST
    if path.exists():
        manifest = _read_manifest(path)
        if manifest.get("settings") != jsonable(settings):
            raise ConfigError(mismatch_message(path, manifest.get("settings"), settings))
        return manifest
    maps = len(stored_ids(directory))
    if maps:
        raise ConfigError(
            f"{directory} holds {maps} map file(s) but no {MANIFEST}, so nothing says which "
            "model and settings made them; they are not used as this configuration's maps. "
            "Point cam.store_dir at an empty or new directory, or delete those files to "
            "compute the maps there.")
    return None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); delete it to start over") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{path} is not a CAM store manifest; delete it to start over")
    return manifest


def _check_files(store: CamStore, ids: list[str], part: range
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """For :meth:`CamStore.intact`: (the ids of ``ids[part]`` whose file passes every check,
    (id, why) of the damaged ones). Reads only; deleting is the caller's."""
    passed, failed = [], []
    for index in part:
        image_id = ids[index]
        try:
            read_map_file(store._path(image_id), store.num_classes, store.max_image_pixels,
                          image_id)
            passed.append(image_id)
        except DamagedMapFile as err:
            failed.append((image_id, str(err)))
    return passed, failed
