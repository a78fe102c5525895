"""Pipeline stages, in pipeline order, and what each reads.

Each stage is a plain function ``stage(run) -> metrics`` over the run objects
(:class:`wsol.app.build.Run`); stages talk to each other only through files in the run
directory or the CAM cache, so any stage reruns alone. A stage's module is imported only when
it runs, so a stage list never pays for (or breaks on) the imports of stages it does not use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    """function: ``"module:function"``; distributed: every DDP rank runs it on its share of
    the data (the others run on global rank 0 after a barrier); reads: the inputs it needs
    (names of :data:`wsol.app.preflight.INPUTS`), checked before any stage starts."""

    function: str
    distributed: bool
    reads: tuple[str, ...]


STAGES: dict[str, StageSpec] = {
    "train": StageSpec("wsol.app.stages.train:train_stage", True,
                       ("train_split", "init_weights")),
    "cam": StageSpec("wsol.app.stages.cam:cam_stage", True, ("cam_split", "classifier")),
    "localize": StageSpec("wsol.app.stages.localize:localize_stage", False,
                          ("cam_split", "cam_store")),
    "evaluate": StageSpec("wsol.app.stages.evaluate:evaluate_stage", False,
                          ("scored_split", "cam_store_or_seeds", "selection_store",
                           "seeds_dir", "faith_classifier")),
    "pseudo": StageSpec("wsol.app.stages.pseudo:pseudo_stage", False,
                        ("cam_split", "cam_store", "pseudo_dir")),
    "segment": StageSpec("wsol.app.stages.segment:segment_stage", True,
                         ("val_masks", "pseudo_labels", "segment_init")),
    "sanity": StageSpec("wsol.app.stages.sanity:sanity_stage", False,
                        ("cam_split", "classifier", "sanity_train_split")),
    "report": StageSpec("wsol.app.stages.report:report_stage", False, ()),
}
STAGE_ORDER = tuple(STAGES)
