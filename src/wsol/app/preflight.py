"""One table of pre-run rules: what the configured stages will read, checked before any starts.

Each stage declares what it reads (:data:`wsol.app.stages.STAGES`); :data:`INPUTS` maps each of
those names to a rule that yields :class:`Finding` rows. The same rules serve two callers:
``scripts/check_data.py`` lists every finding (:func:`check_run`; nothing is generated,
downloaded or written), and the run stops at the first failing one (:func:`require_inputs`,
which may generate the demo dataset). Only the stages that run are checked, and an input an
earlier stage of the same run produces (its model.pt, its CAM store) is not required up front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from wsol.app.build import Run
from wsol.app.data_rules import (
    cam_split,
    sanity_train_split,
    scored_split,
    seeds_dir,
    train_split,
    val_masks,
)
from wsol.app.findings import Finding, RuleContext
from wsol.app.stages import STAGES
from wsol.app.store_rules import cam_store, cam_store_or_seeds, selection_store
from wsol.errors import WeightsError, WsolError

# -- the rules of the model a stage reads (data rules: data_rules.py, store: store_rules.py) --


def _weights_finding(run: Run, arch: str | None = None, name: str | None = None,
                     key: str = "model.weights") -> Finding:
    """The weights file ``name`` of ``arch`` (default: ``model.arch`` and ``model.weights``;
    ``key`` names the setting): torchvision's in the local torch cache, or a timm model's own
    file."""
    from wsol.models.weights import weights_file

    arch = arch or run.config.model.arch
    name = name or run.config.model.weights
    try:
        found = weights_file(arch, name)
    except WsolError as err:
        return Finding(key, False, str(err), "name torchvision weights exactly", err)
    path = found.path
    if path.is_file():
        return Finding(key, True, f"{name}: {path}")
    if found.url is None:
        from wsol.models.timm_backbones import missing_weights_error

        err = missing_weights_error(arch.partition(":")[2], path)
        return Finding(key, False, f"{path} is missing", str(err), err)
    fix = (f"on a machine with internet download {found.url} to {path} (or set TORCH_HOME), "
           f"or run with {key}=null")
    return Finding(key, False, f"{name}: {path} is missing", fix,
                   WeightsError(f"Pretrained weights {name} ({key}) are not in the local torch "
                                f"cache: {path} is missing. To fix: {fix}."))


def _init_weights(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.run.config.model.weights:
        yield _weights_finding(ctx.run)
    else:
        yield Finding("model.weights", True, "null: the network is trained from scratch")


def _classifier(ctx: RuleContext) -> Iterator[Finding]:
    source = ctx.run.classifier
    if source.kind == "trained":
        yield Finding("classifier", True, f"{source.checkpoint}, written by this run's train stage")
    elif source.kind == "pretrained":
        yield _weights_finding(ctx.run)
    elif source.kind == "checkpoint":
        path = source.checkpoint
        if path.is_file():
            yield Finding("model.checkpoint", True, str(path))
        else:
            fix = ("point model.checkpoint at a model.pt the train stage wrote, or add train to "
                   "stages")
            yield Finding("model.checkpoint", False, f"{path} does not exist", fix,
                          WeightsError(f"Checkpoint {path} does not exist; run the train stage "
                                       "first (stages=[train,...]) or set model.checkpoint=PATH."))
    else:
        users = "/".join(s for s in run_stages_needing_classifier(ctx.run.stages))
        yield Finding("model.checkpoint", False, f"stages run {users} without train, and "
                      "neither model.checkpoint nor model.weights is set",
                      "set model.checkpoint=PATH/model.pt or add train to stages",
                      WeightsError(f"Nothing to explain: stages run {users} without train and "
                                   "neither model.checkpoint nor model.weights is set; set "
                                   "model.checkpoint=PATH/model.pt or add train to stages."))


def run_stages_needing_classifier(stages: Sequence[str]) -> list[str]:
    """The stages of ``stages`` that read the classifier."""
    return [s for s in stages if "classifier" in STAGES[s].reads]


def _faith_classifier(ctx: RuleContext) -> Iterator[Finding]:
    """The classifier, when the evaluate stage scores faithfulness (it runs the model); with
    none configured at all (maps from cam.store_dir only) faithfulness is skipped, not fatal:
    the demo turns it on, and scoring a pinned store must still work there."""
    if not ctx.run.config.eval.faithfulness or "classifier" in needed_inputs(ctx.run.stages):
        return
    if ctx.run.classifier.kind == "none":
        yield Finding("eval.faithfulness", True, "no classifier (model.checkpoint, this run's "
                      "model.pt or model.weights): faith/* is skipped")
        return
    yield from _classifier(ctx)


def _pseudo_dir(ctx: RuleContext) -> Iterator[Finding]:
    from wsol.app.pseudo_rules import pseudo_dir_findings

    yield from pseudo_dir_findings(ctx.run)


def _pseudo_labels(ctx: RuleContext) -> Iterator[Finding]:
    from wsol.app.pseudo_rules import pseudo_labels_findings

    yield from pseudo_labels_findings(ctx.run)


def _segment_init(ctx: RuleContext) -> Iterator[Finding]:
    weights = ctx.run.config.segment.weights
    if weights is None:
        yield Finding("segment.weights", True, "null: the segmenter is trained from scratch")
    elif weights == "classifier":
        from wsol.app.pseudo_rules import classifier_backbone_finding

        yield classifier_backbone_finding(ctx.run)
    else:
        from wsol.app.pseudo_rules import weights_arch_finding

        finding = _weights_finding(ctx.run, ctx.run.config.segment.arch, weights,
                                   "segment.weights")
        yield finding if not finding.ok else weights_arch_finding(ctx.run)


def _drawn_settings(ctx: RuleContext) -> Iterator[Finding]:
    from wsol.app.report_rules import drawn_settings_findings

    yield from drawn_settings_findings(ctx.run)


# Input name -> rule, in report order. A stage's ``reads`` names these.
INPUTS: dict[str, Callable[[RuleContext], Iterator[Finding]]] = {
    "train_split": train_split,
    "cam_split": cam_split,
    "scored_split": scored_split,
    "init_weights": _init_weights,
    "classifier": _classifier,
    "faith_classifier": _faith_classifier,
    "sanity_train_split": sanity_train_split,
    "cam_store": cam_store,
    "cam_store_or_seeds": cam_store_or_seeds,
    "selection_store": selection_store,
    "seeds_dir": seeds_dir,
    "pseudo_dir": _pseudo_dir,
    "val_masks": val_masks,
    "pseudo_labels": _pseudo_labels,
    "segment_init": _segment_init,
    "drawn_settings": _drawn_settings,
}


def needed_inputs(stages: Sequence[str]) -> list[str]:
    """The inputs ``stages`` read, in :data:`INPUTS` order (a store that only a store-free
    evaluate reads is the same rule as the store localize reads)."""
    reads = {name for stage in stages for name in STAGES[stage].reads}
    if "cam_store" in reads:
        reads.discard("cam_store_or_seeds")
    return [name for name in INPUTS if name in reads]


def _findings(run: Run, generate: bool, decode: bool = False,
              progress: bool = False) -> Iterator[Finding]:
    ctx = RuleContext(run, generate, decode, progress)
    for name in needed_inputs(run.stages):
        yield from INPUTS[name](ctx)


def check_run(run: Run, decode: bool = False, progress: bool = True) -> list[Finding]:
    """Every input the run's stages will read, in report order; ``decode`` decodes images too.
    Nothing is generated, downloaded or written."""
    run.data.forbid_generation()
    return list(_findings(run, generate=False, decode=decode, progress=progress))


def require_inputs(run: Run) -> None:
    """Stop at the first missing or broken input (its WsolError), before any stage starts."""
    for finding in _findings(run, generate=True):
        if not finding.ok:
            raise finding.exception()


def print_findings(findings: Sequence[Finding], title: str = "wsol data check") -> None:
    """The findings as a table on stdout: check, OK / MISSING, detail, fix."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), show_lines=True)
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for f in findings:
        status = "[green]OK[/green]" if f.ok else "[bold red]MISSING[/bold red]"
        table.add_row(escape(f.check), status, escape(f.detail), escape(f.fix))
    Console().print(table)
