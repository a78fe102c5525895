"""A folder of pseudo-labels: ``<id>.png`` VOC palette PNGs and a ``manifest.json``.

The manifest records the settings the labels were made with (the CAM store, thresholds,
refiner); opening the folder with other settings is refused with one line naming the
difference, so labels of two recipes are never mixed. The manifest is written before the first
label, so a folder holding files but no manifest was not made here (or lost its record) and is
refused rather than adopted. Every PNG is written atomically, so a killed run leaves whole files
only and a rerun completes the folder.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wsol.datasets.voc_format import read_voc_mask, write_voc_mask
from wsol.errors import ConfigError, DataError
from wsol.io.atomic import TMP_SUFFIX, atomic_write_json
from wsol.io.manifest import differences, jsonable

MANIFEST = "manifest.json"


class PseudoLabelFolder:
    """Pseudo-labels per image id in ``directory``, made with ``settings`` (None: read only,
    whatever made them)."""

    def __init__(self, directory: str | os.PathLike,
                 settings: Mapping[str, Any] | None = None) -> None:
        self.directory = Path(directory)
        self.settings = jsonable(dict(settings)) if settings is not None else None
        stored = read_manifest(self.directory / MANIFEST)
        if self.settings is not None and stored is not None \
                and stored.get("settings") != self.settings:
            raise ConfigError(mismatch_message(
                self.directory, differences(stored.get("settings"), self.settings)))

    def prepare(self, expected_images: int) -> None:
        """Create the folder, record the settings, drop temporary files a killed run left.

        Raises ConfigError when the folder holds files but no manifest (see
        :func:`unrecorded_files_error`): those labels would be adopted as this run's.
        """
        if self.settings is None:
            raise ValueError("a read-only PseudoLabelFolder (no settings) cannot be written")
        refused = unrecorded_files_error(self.directory)
        if refused is not None:
            raise refused
        self.directory.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(self.directory):
            if _temporary(entry.name):
                os.unlink(entry.path)
        atomic_write_json(self.directory / MANIFEST,
                          {"format": 1, "settings": self.settings,
                           "expected_images": int(expected_images)})

    def path(self, image_id: str) -> Path:
        return self.directory / (urllib.parse.quote(str(image_id), safe="") + ".png")

    def has(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    def write(self, image_id: str, label: np.ndarray) -> None:
        """Write uint8 (H, W) labels (0 background, k + 1 class k, 255 ignored) atomically."""
        write_voc_mask(self.path(image_id), label)

    def read(self, image_id: str) -> np.ndarray:
        """uint8 (H, W) labels of ``image_id``."""
        return read_voc_mask(self.path(image_id))

    def manifest(self) -> dict[str, Any] | None:
        """The folder's manifest.json (None when there is none)."""
        return read_manifest(self.directory / MANIFEST)

    def missing(self, ids: list[str]) -> list[str]:
        """The ids of ``ids`` without a label file."""
        return [i for i in ids if not self.has(i)]


def mismatch_message(directory: Path | str, difference: str) -> str:
    """The one line that refuses a folder made with other settings."""
    return (f"{directory} holds pseudo-labels made with other settings ({difference}); set "
            "pseudo.dir to another folder, or delete this one to make them again.")


def _temporary(name: str) -> bool:
    """A half-written file of a killed run (:func:`wsol.io.atomic.atomic_write` names)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def unrecorded_files_error(directory: Path) -> ConfigError | None:
    """The refusal of a ``directory`` that is a file, or that holds files but no manifest
    (temporary files aside); None when it is new, empty or has its manifest.

    Such files were not made by the pseudo stage (it records its settings before the first
    label), or their record was deleted: taking them as this run's labels would score, and
    train on, whatever they are (ground-truth masks give a pseudo-label mIoU of 100).
    """
    if not directory.exists() and not directory.is_symlink():
        return None
    if not directory.is_dir():
        return ConfigError(f"Pseudo-label folder {directory} (pseudo.dir) is not a folder; set "
                           "pseudo.dir to an empty or new folder.")
    if (directory / MANIFEST).exists():
        return None
    names = sorted(e.name for e in os.scandir(directory) if not _temporary(e.name))
    if not names:
        return None
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return ConfigError(f"Pseudo-label folder {directory} (pseudo.dir) already holds {len(names)} "
                       f"files ({shown}) and no {MANIFEST}, so they were not made by the pseudo "
                       "stage (or their record is lost); set pseudo.dir to an empty or new "
                       "folder, or remove those files.")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``, None when absent; DataError when unreadable."""
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is unreadable ({err}); delete the folder to start over") \
            from err
    if not isinstance(manifest, dict):
        raise DataError(f"{path} is not a pseudo-label manifest; delete the folder")
    return manifest
