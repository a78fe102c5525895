"""Pipeline stages, in pipeline order, what each reads and which metrics it writes.

Each stage is a plain function ``stage(run) -> metrics`` over the run objects
(:class:`wsol.app.build.Run`); stages talk to each other only through files in the run
directory or the CAM cache, so any stage reruns alone. A stage's module is imported only when
it runs, so a stage list never pays for (or breaks on) the imports of stages it does not use.

``metrics`` is the one declaration of which ``metrics.json`` keys belong to which stage, and
``uses`` of which earlier stages' outputs each reads: the pipeline drops a stage's keys, and
those of every stage using its outputs (directly or through another), from the carried-over
``metrics.json`` when the stage runs (:mod:`wsol.app.carried`), with the files those stages
declare in ``files``, and warns when a stage returns a key it does not declare (tests turn that
warning into a failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class StageSpec:
    """function: ``"module:function"``; distributed: every DDP rank runs it on its share of
    the data (the others run on global rank 0 after a barrier); reads: the inputs it needs
    (names of :data:`wsol.app.preflight.INPUTS`), checked before any stage starts; metrics:
    shell-style patterns (:func:`fnmatch.fnmatchcase`, ``*`` spans ``/``) of every
    ``metrics.json`` key it may return; uses: the earlier stages whose outputs it reads (the
    model, the CAM store, the pseudo-labels), so new outputs make its numbers stale; files: the
    run-directory files and folders holding its results beside those numbers (never a model or
    a pseudo-label folder), removed with its numbers when they go stale."""

    function: str
    distributed: bool
    reads: tuple[str, ...]
    metrics: tuple[str, ...]
    uses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


STAGES: dict[str, StageSpec] = {
    "train": StageSpec("wsol.app.stages.train:train_stage", True,
                       ("train_split", "init_weights"), ("train/*", "cls/map"),
                       files=("class_ap.json",)),
    # ``<split>/cam/images``: the maps of eval.select_split
    "cam": StageSpec("wsol.app.stages.cam:cam_stage", True, ("cam_split", "classifier"),
                     ("cam/*", "*/cam/images"), uses=("train",)),
    "localize": StageSpec("wsol.app.stages.localize:localize_stage", False,
                          ("cam_split", "cam_store"), ("localize/*",), uses=("cam",),
                          files=("boxes.json", "seeds")),
    # ``<split>/{loc,cls,seg}/*``: the selection split's own scores (wsol.app.selection)
    "evaluate": StageSpec("wsol.app.stages.evaluate:evaluate_stage", False,
                          ("scored_split", "cam_store_or_seeds", "selection_store",
                           "seeds_dir", "faith_classifier"),
                          ("loc/*", "baseline/*", "seg/miou", "seg/miou_best",
                           "seg/best_threshold", "cls/top*_err", "eval/*", "data/*", "seeds/*",
                           "faith/*", "protocol/*", "*/loc/*", "*/cls/*", "*/seg/*"),
                          uses=("train", "cam"),  # the classifier: faith/*, cls/top*_err
                          files=("curves.csv", "figures/curves.png", "figures/examples.png",
                                 "per_class.json", "per_pair.csv")),
    "pseudo": StageSpec("wsol.app.stages.pseudo:pseudo_stage", False,
                        ("cam_split", "cam_store", "pseudo_dir"), ("pseudo/*", "seg/pseudo_*"),
                        uses=("cam",)),
    "segment": StageSpec("wsol.app.stages.segment:segment_stage", True,
                         ("val_masks", "pseudo_labels", "segment_init"),
                         ("segment/*", "seg/val_miou"),
                         uses=("train", "pseudo"),  # train: segment.weights=classifier
                         files=("segment", "figures/wsss.png")),  # segmenter.pt is a model
    "sanity": StageSpec("wsol.app.stages.sanity:sanity_stage", False,
                        ("cam_split", "classifier", "sanity_train_split"), ("sanity/*",),
                        uses=("train",), files=("sanity.csv", "figures/sanity.png")),
    # it draws every stage's results, so any of them rerun makes it stale
    "report": StageSpec("wsol.app.stages.report:report_stage", False, ("drawn_settings",), (),
                        uses=("train", "cam", "localize", "evaluate", "pseudo", "segment",
                              "sanity"),
                        files=("report.html", "report_files", "tables.md", "tables.csv")),
}
STAGE_ORDER = tuple(STAGES)


def owners(key: str) -> tuple[str, ...]:
    """The stages whose declared ``metrics`` patterns match ``metrics.json`` key ``key``, in
    pipeline order (one, for every key a stage writes)."""
    return tuple(name for name in STAGE_ORDER
                 if any(fnmatchcase(key, pattern) for pattern in STAGES[name].metrics))
