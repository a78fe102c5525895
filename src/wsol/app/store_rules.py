"""Pre-run rules for the CAM store the reading stages score (rows of
:data:`wsol.app.preflight.INPUTS`), the selection split's store included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from wsol.app.data_rules import selection_disjoint
from wsol.app.findings import Finding, RuleContext
from wsol.errors import DataError, WsolError


def cam_store(ctx: RuleContext, seeds_suffice: bool = False) -> Iterator[Finding]:
    run = ctx.run
    if "cam" in run.stages:
        yield Finding("CAM store", True, "made by this run's cam stage")
        return
    if seeds_suffice and run.config.eval.seeds_dir:
        from wsol.app.cam_cache import store_for_reading

        try:
            store = store_for_reading(run)
        except WsolError:
            store = None
        state = f"maps in {store} scored too" if store and _has_maps(store) else "no maps"
        yield Finding("CAM store", True, f"{state}; eval.seeds_dir is scored")
        return
    from wsol.app.cam_cache import store_for_reading

    try:
        store = store_for_reading(run)
    except WsolError as err:
        yield Finding("CAM store", False, str(err), "see the message", err)
        return
    fix = "run the cam stage first (stages=[cam,...]) with the same settings"
    if store is None:
        yield Finding("CAM store", False, "no model identifies a CAM store (no model.checkpoint, "
                      "no model.pt in the run, no model.weights file, no cam.store_dir)",
                      fix + ", or set model.checkpoint / cam.store_dir")
    elif not _has_maps(store):
        yield Finding("CAM store", False, f"No CAMs for this configuration in {store}", fix,
                      DataError(f"No CAMs for this split in {store}; run the cam stage first "
                                "(stages=[cam,...])."))
    else:
        yield Finding("CAM store", True, str(store))


def _has_maps(store: Path) -> bool:
    from wsol.cam.store import stored_ids

    return bool(stored_ids(store))


def cam_store_or_seeds(ctx: RuleContext) -> Iterator[Finding]:
    yield from cam_store(ctx, seeds_suffice=True)


def selection_store(ctx: RuleContext) -> Iterator[Finding]:
    """``eval.select_split``: no image of the scored split, and its maps when evaluate runs
    without this run's cam stage."""
    from dataclasses import replace

    from wsol.app.selection import selection_run

    selection = selection_run(ctx.run)
    if selection is None:
        return
    yield from selection_disjoint(ctx, selection.config.data.cam_split)
    if "cam" in ctx.run.stages:
        return
    split = selection.config.data.cam_split
    for finding in cam_store(RuleContext(selection, ctx.generate)):
        yield replace(finding, check=f"{finding.check} (eval.select_split={split})")
