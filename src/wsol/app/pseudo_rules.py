"""Preflight rules of the pseudo and segment stages (rows of :data:`wsol.app.preflight.INPUTS`).

A pseudo-label folder records the settings it was made with; a run whose settings differ is
stopped before any stage with one line naming the difference. The CAM store's key is part of
those settings but is known up front only when no stage of this run makes the maps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsol.app.build import Run
from wsol.app.preflight import Finding
from wsol.errors import ConfigError, WeightsError, WsolError
from wsol.io.manifest import differences, jsonable
from wsol.pseudo.folder import MANIFEST, mismatch_message, read_manifest


def _comparable(run: Run, stored: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(stored, wanted) settings, the CAM store left out where this run makes it anew."""
    from wsol.app.cam_cache import store_for_reading
    from wsol.app.stages.pseudo import pseudo_settings

    store = None
    if not {"train", "cam"} & set(run.stages):
        try:
            store = store_for_reading(run)
        except WsolError:
            store = None
    wanted = jsonable(pseudo_settings(run, store))
    stored = dict(stored)
    if "cam_store" not in wanted:
        stored.pop("cam_store", None)
    return stored, wanted


def _mismatch(run: Run) -> tuple[str, str] | None:
    """(folder, difference) when the folder holds labels made otherwise; None if it does not."""
    from wsol.app.stages.pseudo import pseudo_dir

    folder = pseudo_dir(run)
    manifest = read_manifest(folder / MANIFEST)
    if manifest is None:
        return None
    stored, wanted = _comparable(run, manifest.get("settings") or {})
    return (str(folder), differences(stored, wanted)) if stored != wanted else None


def pseudo_dir_findings(run: Run) -> Iterator[Finding]:
    """The pseudo stage's folder is new, or was made with this run's settings."""
    try:
        found = _mismatch(run)
    except WsolError as err:
        yield Finding("pseudo.dir", False, str(err), "see the message", err)
        return
    if found is None:
        yield Finding("pseudo.dir", True, "pseudo-labels are made with this run's settings")
        return
    message = mismatch_message(*found)
    yield Finding("pseudo.dir", False, message, "", ConfigError(message))


def pseudo_labels_findings(run: Run) -> Iterator[Finding]:
    """What the segment stage trains on: made by this run, or a folder of the same recipe."""
    if "pseudo" in run.stages:
        yield Finding("pseudo-labels", True, "made by this run's pseudo stage")
        return
    from wsol.app.stages.pseudo import pseudo_dir

    folder = pseudo_dir(run)
    try:
        manifest = read_manifest(folder / MANIFEST)
        found = _mismatch(run)
    except WsolError as err:
        yield Finding("pseudo-labels", False, str(err), "see the message", err)
        return
    if manifest is None:
        message = (f"No pseudo-labels in {folder} (no {MANIFEST}); run the pseudo stage first "
                   "(stages=[pseudo,segment]) or point pseudo.dir at a folder it wrote.")
        yield Finding("pseudo-labels", False, message, "", ConfigError(message))
    elif found is not None:
        message = (f"{found[0]} holds pseudo-labels made with other settings ({found[1]}); "
                   "run the pseudo stage with these settings, or set pseudo.* to the folder's.")
        yield Finding("pseudo-labels", False, message, "", ConfigError(message))
    else:
        yield Finding("pseudo-labels", True, str(folder))


def classifier_backbone_finding(run: Run) -> Finding:
    """``segment.weights=classifier``: the stage-1 model.pt exists or this run trains it."""
    source = run.classifier
    if source.kind == "trained":
        return Finding("segment.weights", True, "the classifier this run's train stage writes")
    if source.kind == "checkpoint" and source.checkpoint.is_file():
        return Finding("segment.weights", True, f"the backbone of {source.checkpoint}")
    message = ("segment.weights=classifier needs the stage-1 classifier (model.pt): add train "
               "to stages or set model.checkpoint=PATH/model.pt, or set segment.weights to "
               "torchvision weights or null.")
    return Finding("segment.weights", False, message, "", WeightsError(message))


def weights_arch_finding(run: Run) -> Finding:
    """``segment.weights`` names torchvision weights of ``segment.arch`` (ResNet50_Weights for
    resnet50, ...), so a mismatch stops before training, not after it."""
    from wsol.models.weights import resolve_weights_enum

    seg = run.config.segment
    family = type(resolve_weights_enum(seg.arch, seg.weights)).__name__
    if family.lower() == f"{seg.arch}_weights":
        return Finding("segment.weights", True, f"{seg.weights} for {seg.arch}")
    message = (f"segment.weights={seg.weights} are {family} weights but segment.arch="
               f"{seg.arch!r}; name weights of that architecture, or change segment.arch.")
    return Finding("segment.weights", False, message, "", ConfigError(message))
