"""Which results of a run directory's earlier runs a new run keeps (:func:`stale_stages`).

A run directory's ``metrics.json`` is carried from run to run so that ``stages=[evaluate]``
keeps the ``cls/map`` its train stage measured. When a stage has run, these earlier results are
stale, with their numbers and their files:

* its own, and those of every stage using its outputs (``StageSpec.uses``, followed through:
  segment uses pseudo, which uses cam): a new model invalidates everything downstream, new
  maps the localize / evaluate / pseudo / segment results; an evaluate with other ``eval.*``
  settings replaces every evaluate key, including ones it no longer writes. Not when the stage
  produced exactly what those results were made from (a cam stage finding the same store
  complete, a pseudo stage resuming the same folder: ``same_output``);
* those made from another output than the one the stage read (``changed_inputs``: boxes of
  other maps than an evaluate scores; a run directory holds one chain);
* for a stage that makes numbers, those recorded with another classifier, whichever way round,
  and with a classifier other than the directory's own ``model.pt``, every stage without a
  record to tell (run directories older than :mod:`wsol.app.run_record`);
* never any for the report stage, which only draws;
* a key that no stage declares (hand-written, or from an older wsol) is never carried.

Which stage writes which key is declared once, in ``StageSpec.metrics``; the files that hold
a stage's other results (``per_pair.csv``, figures, ``report.html``, ...) are declared in
``StageSpec.files`` and go with its numbers (:func:`remove_stale_files`), so no report or table
shows results the numbers beside them no longer describe. Models and pseudo-label folders are
never removed.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path

from wsol.app.build import Run
from wsol.app.stages import STAGE_ORDER, STAGES, owners


class UndeclaredMetricWarning(UserWarning):
    """A stage returned a key its ``StageSpec.metrics`` does not declare (a wsol bug: a later
    run could not tell the key is stale). The test suite turns it into an error."""


def explains_other_model(run: Run) -> bool:
    """True when the run's classifier is not this run directory's own ``model.pt``."""
    source = run.classifier
    if source.kind == "pretrained":
        return True
    if source.kind != "checkpoint" or source.checkpoint is None:
        return False  # "trained" runs the train stage; "none" explains nothing
    return Path(source.checkpoint).resolve() != (run.run_dir / "model.pt").resolve()


OWN_MODEL = "the run directory's model.pt"


def classifier_identity(run: Run) -> str | None:
    """What names the classifier ``run`` explains: its checkpoint (resolved path, size and
    modification time, so weights retrained in place are another classifier), or the
    torchvision weights it uses as they are; None when it explains none (a pinned store)."""
    source = run.classifier
    if source.kind == "pretrained":
        return f"weights {source.model.arch} {source.model.weights}"
    if source.checkpoint is None:
        return None
    path = Path(source.checkpoint).resolve()
    try:
        stat = path.stat()
        stamp = f" ({stat.st_size} bytes, mtime_ns {stat.st_mtime_ns})"
    except OSError:
        stamp = ""  # not written yet: this run's train stage makes it
    # the directory's own model by name, so a copied run directory (cp -a) keeps its results
    name = OWN_MODEL if path == run.model_path.resolve() else f"checkpoint {path}"
    return name + stamp


def stale_stages(stage: str, run: Run, records: Mapping[str, Mapping] | None = None,
                 same_output: bool = False, changed_inputs: set[str] = frozenset()) -> set[str]:
    """The stages whose earlier results are stale once ``stage`` has run in ``run``.

    ``stage`` itself, and every stage using its outputs unless ``same_output`` (the stage
    produced exactly what its last record names: a cam stage that found the same store
    complete, a pseudo stage resuming the same folder). For a stage that makes numbers, also
    every stage whose record (``records``: :mod:`wsol.app.run_record`'s ``by_stage``) names
    another classifier than this run's, and when the run explains a classifier other than the
    directory's own ``model.pt``, every stage with no record to tell (older run directories).
    And each of ``changed_inputs`` (earlier stages whose recorded output is not the one
    ``stage`` read) with what was made from it.
    """
    records = records or {}
    if not STAGES[stage].metrics:
        return {stage}  # the report only draws: it never drops what it draws
    stale = {stage} if same_output else downstream(stage)
    for upstream in changed_inputs:
        stale |= downstream(upstream)
    mine = classifier_identity(run)
    if mine is not None:  # and what was made from their results
        for other, record in records.items():
            if record.get("classifier") not in (None, mine):
                stale |= downstream(other)
    if explains_other_model(run):
        stale |= {other for other in STAGE_ORDER if other not in records}
    return stale


def carried_metrics(metrics: Mapping[str, float], stale: set[str]) -> dict[str, float]:
    """``metrics`` (what earlier runs left in the run directory) without the keys of the
    ``stale`` stages (:func:`stale_stages`) and without keys no stage declares."""
    return {key: value for key, value in metrics.items()
            if (found := owners(key)) and not stale.intersection(found)}


def remove_stale_files(run: Run, stale: set[str]) -> list[str]:
    """Delete the ``StageSpec.files`` of the ``stale`` stages (leave out this run's own, whose
    files are fresh), as their numbers leave ``metrics.json``; returns the names removed."""
    return remove_run_files(run.run_dir, [name for other in STAGE_ORDER if other in stale
                                          for name in STAGES[other].files])


def remove_run_files(run_dir: Path, names: tuple[str, ...] | list[str]) -> list[str]:
    """Delete these files or folders of ``run_dir`` where they exist; returns those removed."""
    removed = []
    for name in names:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


def downstream(stage: str) -> set[str]:
    """``stage`` and every stage that uses its outputs, directly or through another."""
    found = {stage}
    for name in STAGE_ORDER:  # pipeline order: a stage's inputs come before it
        if found.intersection(STAGES[name].uses):
            found.add(name)
    return found


def warn_undeclared(stage: str, result: Mapping[str, float]) -> list[str]:
    """Warn (:class:`UndeclaredMetricWarning`) about the keys of ``result`` that ``stage``'s
    ``StageSpec.metrics`` does not declare; returns them."""
    patterns = STAGES[stage].metrics
    undeclared = [k for k in result if not any(fnmatchcase(k, p) for p in patterns)]
    if undeclared:
        warnings.warn(f"stage {stage} returned metrics.json keys its StageSpec.metrics "
                      f"(src/wsol/app/stages/__init__.py) does not declare: {undeclared}; a "
                      "later run could not drop them when they are stale",
                      UndeclaredMetricWarning, stacklevel=2)
    return undeclared
