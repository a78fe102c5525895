"""Preflight rules of the pseudo and segment stages (rows of :data:`wsol.app.preflight.INPUTS`).

A pseudo-label folder records the settings it was made with; a run whose settings differ is
stopped before any stage with one line naming the difference. The CAM store's key is part of
those settings. A run whose cam stage makes the maps (no train) computes that key up front and
compares it; a run that trains a new model cannot know it, so a folder already holding labels
from a store is refused before the training, not after. A folder holding files but no manifest
was not made by the pseudo stage and is refused too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsol.app.build import Run
from wsol.app.findings import Finding
from wsol.errors import ConfigError, WeightsError, WsolError
from wsol.io.manifest import differences, jsonable
from wsol.pseudo.folder import MANIFEST, mismatch_message, read_manifest, unrecorded_files_error

_NEW_MODEL = "this run's train stage makes a new model, so new maps"
_NEW_MAPS = "the maps this run's cam stage makes are not known before it runs"


def _current_store(run: Run) -> str | None:
    """The identity of the store a run without train and cam reads (None: none found)."""
    from wsol.app.cam_cache import store_for_reading
    from wsol.app.stages.pseudo import store_identity

    try:
        store = store_for_reading(run)
    except WsolError:
        return None  # the CAM store rule reports it
    return store_identity(store) if store is not None else None


def _store_ahead(run: Run) -> tuple[str | None, str | None]:
    """(identity of the store this run's pseudo stage will read, None with the reason it cannot
    be known before the stages run); (None, None) when no store is found (reported elsewhere).

    With cam (and no train) in the stages it is the keyed store of this configuration: the key
    recorded in its manifest when the store exists (the cam stage keeps it, or refuses other
    settings), else the key the cam stage will write.
    """
    if "train" in run.stages:
        return None, _NEW_MODEL
    if "cam" not in run.stages:
        return _current_store(run), None
    from wsol.app.cam_cache import cam_location
    from wsol.app.stages.pseudo import store_identity
    from wsol.cam.store import MANIFEST as STORE_MANIFEST

    try:
        location = cam_location(run)
    except WsolError:
        return None, _NEW_MAPS
    if (location.path / STORE_MANIFEST).is_file():
        return store_identity(location.path), None
    return location.key or str(location.path), None


def _mismatch(run: Run, writing: bool) -> tuple[str, str] | None:
    """(folder, difference) when the folder holds labels made otherwise; None if it does not.

    writing: the pseudo stage of this run writes into the folder (the maps it will read are
    compared, see :func:`_store_ahead`); else segment reads it, and the maps are compared only
    when no stage of this run makes them. Raises ConfigError when the folder holds labels of a
    store and this run makes maps whose store is not known before it runs.
    """
    from wsol.app.stages.pseudo import pseudo_dir, pseudo_settings

    folder = pseudo_dir(run)
    manifest = read_manifest(folder / MANIFEST)
    if manifest is None:
        return None
    stored: dict[str, Any] = dict(manifest.get("settings") or {})
    if writing:
        store, unknown = _store_ahead(run)
    else:
        store, unknown = (None if {"train", "cam"} & set(run.stages) else _current_store(run),
                          None)
    if unknown is not None and "cam_store" in stored:
        raise ConfigError(
            f"{folder} holds pseudo-labels made from the maps of CAM store "
            f"{stored['cam_store']}, but {unknown}: the two would be mixed. Set pseudo.dir to "
            "another folder or delete this one, or leave train and cam out of stages "
            "(stages=[pseudo,...]) to complete it from the maps it was made from.")
    wanted = jsonable(pseudo_settings(run, None))
    if store is not None:
        wanted["cam_store"] = store
    else:
        stored.pop("cam_store", None)
    return (str(folder), differences(stored, wanted)) if stored != wanted else None


def pseudo_dir_findings(run: Run) -> Iterator[Finding]:
    """The pseudo stage's folder is new, or was made by it with this run's settings."""
    from wsol.app.stages.pseudo import pseudo_dir

    refused = unrecorded_files_error(pseudo_dir(run))
    if refused is not None:
        yield Finding("pseudo.dir", False, str(refused), "", refused)
        return
    try:
        found = _mismatch(run, writing=True)
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
        found = _mismatch(run, writing=False)
    except WsolError as err:
        yield Finding("pseudo-labels", False, str(err), "see the message", err)
        return
    if manifest is None:
        message = (f"No pseudo-labels in {folder} (no {MANIFEST}); run the pseudo stage first "
                   "(stages=[pseudo,segment]) or point pseudo.dir at a folder it wrote.")
        yield Finding("pseudo-labels", False, message, "", ConfigError(message))
    elif found is not None:
        message = (f"{found[0]} holds pseudo-labels made with other settings ({found[1]}), so "
                   "the segmenter would train on labels these settings did not make; make them "
                   "in a new folder (stages=[pseudo,segment] pseudo.dir=NEW_FOLDER), or run "
                   "with the settings the folder records.")
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
