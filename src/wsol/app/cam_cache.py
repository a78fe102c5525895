"""Where a run's CAM store lives: the content-keyed cache, an explicit directory, or the record.

The cam stage computes the key (hashing the split's ids and the weights file), opens
``${paths.cache_dir}/cams/<key>`` (or ``cam.store_dir`` when set) and writes
``<run_dir>/cam_store.json``; later stages of the run read that record instead of rehashing,
after a cheap check (settings, dataset location, the image files' and the weights file's sizes
and mtimes) that it still describes this configuration. A run without the record
(``stages=[evaluate]`` with ``model.checkpoint``) computes the key and finds the cache the same
way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsol.app.build import Run
from wsol.app.compose import override_text
from wsol.app.schema import CamConfig
from wsol.cam.cache_key import (
    cache_key,
    cam_map_settings,
    checkpoint_fingerprint,
    file_stamp,
    image_stamps_sha256,
    key_inputs,
    pretrained_fingerprint,
)
from wsol.cam.store import MANIFEST, require_same_settings
from wsol.datasets.records import LabelledImages
from wsol.errors import ConfigError
from wsol.io.atomic import atomic_write_json
from wsol.io.manifest import differences, jsonable, load_json_dict
from wsol.models.checkpoint import require_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CamLocation:
    """A CAM store directory, its key (None for an unkeyed legacy store) and the key's inputs."""

    path: Path
    key: str | None
    inputs: dict[str, Any] | None


def weights_file(run: Run) -> tuple[Path, dict[str, Any]] | None:
    """The file whose bytes are the model (the checkpoint, or torchvision's weights used as they
    are) and, for the latter, what names them; None when no such file exists yet."""
    source = run.classifier
    if source.kind in ("checkpoint", "trained"):
        exists = source.checkpoint is not None and source.checkpoint.is_file()
        return (source.checkpoint, {}) if exists or source.kind == "checkpoint" else None
    if source.kind == "pretrained":
        from wsol.models.weights import weights_file as locate

        model = source.model
        found = locate(model.arch, model.weights)
        extra = {"arch": model.arch, "weights": found.name, "output_stride": model.output_stride}
        return (found.path, extra) if found.path.is_file() else None
    return None


def _cam_settings(run: Run) -> dict[str, Any]:
    return cam_map_settings(asdict(run.config.cam))


def _image_stamps(run: Run, images: LabelledImages) -> str:
    """``image_stamps_sha256`` of the cam split's image files, once per run object."""
    memo = ("image_stamps", run.config.data.cam_split)
    if memo not in run._memo:
        run._memo[memo] = image_stamps_sha256(
            (image_id, images.image_path(image_id)) for image_id in images.ids)
    return run._memo[memo]


def _quick_check(run: Run, weights: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """What the record must match to be trusted without rehashing the weights: the settings,
    the dataset's location and its image files' sizes and times (a ``stat`` each; the split is
    read once per run anyway), the weights file's size and time."""
    path, extra = weights
    data = run.config.data
    images = run.data.open(data.cam_split)
    return {"dataset": {"format": data.format, "root": str(run.data.root.resolve()),
                        "split": data.cam_split, "images": _image_stamps(run, images)},
            "input_size": data.input_size, "class_names": list(run.class_names()),
            "cam": _cam_settings(run), "target_layer": run.config.model.target_layer,
            "weights": {**file_stamp(path), **extra}}


def cam_location(run: Run, images: LabelledImages | None = None) -> CamLocation:
    """The keyed store for this configuration (hashes the weights file once per process).

    Raises WeightsError when no weights file identifies the model.
    """
    found = weights_file(run)
    if found is None:  # require_checkpoint raises, naming the checkpoint and the fix
        found = (require_checkpoint(run.classifier.checkpoint or run.model_path), {})
    path, extra = found
    model = (pretrained_fingerprint(extra["arch"], extra["weights"], path, extra["output_stride"])
             if extra else checkpoint_fingerprint(require_checkpoint(path)))
    data = run.config.data
    images = images if images is not None else run.data.open(data.cam_split)
    inputs = key_inputs(data_format=data.format, root=run.data.root, split=data.cam_split,
                        ids=list(images.ids), input_size=data.input_size, model=model,
                        class_names=run.class_names(), cam_cfg=asdict(run.config.cam),
                        image_stamps=_image_stamps(run, images),
                        class_lists=[np.flatnonzero(row).tolist() for row in images.labels],
                        target_layer=run.config.model.target_layer)
    key = cache_key(inputs)
    store = run.store_dir if run.store_dir is not None else run.cache_dir / "cams" / key
    return CamLocation(store, key, inputs)


def write_cam_record(run: Run, location: CamLocation) -> None:
    """``<run_dir>/cam_store.json``: the store path and key, for the run's later stages."""
    weights = weights_file(run)
    atomic_write_json(run.cam_record_path, {
        "path": str(location.path), "key": location.key,
        "check": _quick_check(run, weights) if weights else None})


def store_for_reading(run: Run) -> Path | None:
    """The store a reading stage (localize, evaluate) should use, or None when no model
    identifies one (nothing was ever computed for this configuration).

    Order: ``cam.store_dir`` (refused, when a weights file identifies the model, if its
    manifest describes other maps or it holds maps without one); this run's record if it
    still matches; the keyed cache when a weights file identifies the model (with a warning
    when the run's record names another store).
    """
    if "store" in run._memo:
        return run._memo["store"]
    weights = weights_file(run)
    if run.store_dir is not None:
        if weights is None:  # no model names the maps: the pinned ones are scored as they are,
            require_same_map_settings(run.store_dir, run.config.cam)  # as what they are
            return run.store_dir
        location = cam_location(run)  # refused if its manifest describes other maps
        require_same_settings(location.path, location.inputs)
        run._memo["store"] = location.path
        return location.path
    path = None
    if weights is not None:
        record = _read_record(run.cam_record_path)
        check = jsonable(_quick_check(run, weights))
        if record and record.get("check") == check:
            path = Path(record["path"])
        else:
            path = cam_location(run).path
            if record and isinstance(record.get("check"), dict) and record["path"] != str(path):
                log.warning("%s records maps made with other settings (%s); scoring the store "
                            "of the settings asked for now, %s", run.cam_record_path,
                            differences(record["check"], check), path)
    if path is not None:  # None may change: a train stage of this run makes the model later
        run._memo["store"] = path
    return path


def require_same_map_settings(store: Path, cam: CamConfig) -> None:
    """ConfigError when the pinned ``store``'s manifest records other map settings
    (``cam.method``, ``cam.classes`` / ``cam.topk``, scales, flip, ...) than ``cam``: scored
    with no model, the maps would be labelled with the typed settings (Grad-CAM maps as
    LayerCAM's), and their class lists read under another rule (ground-truth maps as top-1
    guesses). A store without a manifest has nothing to compare and is scored as it is."""
    manifest = load_json_dict(Path(store) / MANIFEST) or {}
    settings = manifest.get("settings")
    stored = settings.get("cam") if isinstance(settings, dict) else None
    if not isinstance(stored, dict):
        return
    wanted = cam_map_settings(asdict(cam))
    recorded = {key: stored.get(key) for key in wanted if key in stored}
    wanted = {key: wanted[key] for key in recorded}
    if not recorded.get("classes") == wanted.get("classes") == "topk":
        recorded.pop("topk", None)  # top-k means nothing to other class rules
        wanted.pop("topk", None)
    if jsonable(recorded) != jsonable(wanted):
        shown = " ".join(override_text(f"cam.{k}", v) for k, v in recorded.items()
                         if wanted.get(k) != v)
        raise ConfigError(
            f"cam.store_dir={store} holds maps made with other settings "
            f"({differences(recorded, wanted)}); with no model to check them, they would be "
            f"scored and labelled as these settings' maps. Score them with {shown}, or make "
            f"maps with these settings (stages=[cam,...]) in another folder.")


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None  # an unreadable record is only a missed shortcut: the key is recomputed
    return record if isinstance(record, dict) and "path" in record else None

