"""One table of pre-run rules: what the configured stages will read, checked before any starts.

Each stage declares what it reads (:data:`wsol.app.stages.STAGES`); :data:`INPUTS` maps each of
those names to a rule that yields :class:`Finding` rows. The same rules serve two callers:
``scripts/check_data.py`` lists every finding (:func:`check_run`; nothing is generated,
downloaded or written), and the run stops at the first failing one (:func:`require_inputs`,
which may generate the demo dataset). Only the stages that run are checked, and an input an
earlier stage of the same run produces (its model.pt, its CAM store) is not required up front.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from wsol.app.build import Run, absolute_path, root_blocked_message
from wsol.app.stages import STAGES
from wsol.errors import ConfigError, DataError, WeightsError, WsolError
from wsol.io.paths import file_in_the_way

README = "data/README.md"
SHOW = 3  # ids named per missing-files line


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok`` False means the run would stop on it. ``error`` is the
    exception the run raises for it (the reader's own, when a reader found it)."""

    check: str
    ok: bool
    detail: str
    fix: str = ""
    error: WsolError | None = field(default=None, compare=False)

    def exception(self) -> WsolError:
        if self.error is not None:
            return self.error
        return DataError(f"{self.detail}; {self.fix}" if self.fix else self.detail)


@dataclass
class _Context:
    """What one pass over the rules shares: the run, the mode and the splits already checked."""

    run: Run
    generate: bool  # the run (may generate the demo) or the checker (generates nothing)
    decode: bool = False
    progress: bool = False
    root_ok: bool | None = None
    splits_done: set = field(default_factory=set)


def _root(ctx: _Context) -> Iterator[Finding]:
    if ctx.root_ok is not None:
        return
    data = ctx.run.data
    blocker = file_in_the_way(data.root)
    if blocker is not None:  # the demo cannot be generated there either
        ctx.root_ok = False
        yield Finding("data root", False, f"{blocker} is a file, not a folder "
                      f"(data.root={data.config.root})",
                      "point data.root, or paths.data_dir / WSOL_DATA, at a folder",
                      DataError(root_blocked_message(data.root, blocker)))
        return
    if data.config.generate is not None and not ctx.generate:
        state = "present" if data.root.is_dir() else "absent: generated on first run"
        ctx.root_ok = data.root.is_dir()
        yield Finding("data root", True, f"{data.root} ({state})")
        return
    try:
        data.ensure_root()  # generates the demo when configured (the run only)
    except WsolError as err:
        ctx.root_ok = False
        from wsol.datasets.roots import root_hint

        yield Finding("data root", False,
                      f"{data.root} does not exist (data.root={data.config.root})"
                      f"{root_hint(data.root)}",
                      f"set data.root=/path/to/{data.config.name} or WSOL_DATA=/dir/holding/it;"
                      f" {README} shows the tree", err)
        return
    ctx.root_ok = True
    yield Finding("data root", True, str(data.root))


def _splits(ctx: _Context, wanted: Sequence[tuple[str, str | None, bool, bool]]
            ) -> Iterator[Finding]:
    """``wanted``: (config key, split, needs masks, required) for each split a stage reads."""
    yield from _root(ctx)
    if not ctx.root_ok:
        return
    try:
        names = ctx.run.data.class_names()
    except WsolError as err:
        yield Finding("classes", False, str(err), "see the message", err)
        return
    merged: dict[str, tuple[list[str], bool]] = {}
    for key, split, masks, required in wanted:
        if not split:
            if required:
                yield Finding(key, False, f"{key} is not set",
                              f"set {key}=SPLIT, or leave its stage out of stages=")
            continue
        keys, had = merged.get(split, ([], False))
        merged[split] = (keys + [key], had or masks)
    for split, (keys, masks) in merged.items():
        if (split, masks) in ctx.splits_done:
            continue
        ctx.splits_done.add((split, masks))
        yield from _check_split(ctx, split, ", ".join(keys), names, masks)


def _check_split(ctx: _Context, split: str, keys: str, names, masks: bool) -> Iterator[Finding]:
    run, head = ctx.run, f"split {split} ({keys})"
    fmt = run.config.data.format
    fix = f"restore the files or fix data.root; {README}"
    findings: list[Finding] = []
    try:
        if fmt == "voc":
            present = _voc_files(run, split, head, masks, fix, findings)
        else:
            listing = _open_unchecked(run, split, names)
            findings.append(Finding(f"{head}: annotations", True, _describe(listing)))
            present = _missing(f"{head}: images", listing.ids, listing.image_path, fix, findings)
            if masks and fmt == "wsolevaluation":
                _mask_files(listing, head, findings)
            elif masks:
                findings.append(Finding(f"{head}: masks", True, "from the instance annotations"))
        if all(f.ok for f in findings):  # every file is there: parse (unknown classes, bad XML)
            dataset = run.data.open(split, require_masks=masks)
            if ctx.decode:
                findings.append(_decode(dataset, present, head, ctx.progress))
    except WsolError as err:
        findings.append(Finding(head, False, str(err), "see the message", err))
    yield from findings


def _voc_files(run: Run, split: str, head: str, masks: bool, fix: str,
               findings: list[Finding]) -> list[str]:
    from wsol.datasets.voc import read_split_file

    data, root = run.config.data, run.data.root
    ids = read_split_file(root, split, data.image_set or "Segmentation")
    present = _missing(f"{head}: images", ids, lambda i: root / "JPEGImages" / f"{i}.jpg", fix,
                       findings)
    _missing(f"{head}: annotations", ids, lambda i: root / "Annotations" / f"{i}.xml", fix,
             findings)
    if masks:
        mask_dir = root / data.mask_dir
        _missing(f"{head}: masks", ids, lambda i: mask_dir / f"{i}.png",
                 f"restore {mask_dir.name}/, or score a split that has masks; {README}", findings)
    return present


def _missing(label: str, ids: Sequence[str], path_of: Callable[[str], Path], fix: str,
             findings: list[Finding]) -> list[str]:
    """Append a finding for the ids whose file is absent; returns the ids whose file exists."""
    absent = [i for i in ids if not os.path.exists(path_of(i))]
    if absent:
        shown = ", ".join(str(path_of(i)) for i in absent[:SHOW])
        findings.append(Finding(label, False, f"{len(absent)} of {len(ids)} missing, e.g. "
                                f"{shown}", fix))
    else:
        findings.append(Finding(label, True, f"{len(ids)} present"))
    absent_set = set(absent)
    return [i for i in ids if i not in absent_set]


def _open_unchecked(run: Run, split: str, names):
    fmt, root, data = run.config.data.format, run.data.root, run.config.data
    pixels = data.max_image_pixels
    if fmt == "coco":
        from wsol.datasets.coco import COCODataset

        return COCODataset(root, split, names, check_files=False, max_image_pixels=pixels)
    if fmt == "wsolevaluation":
        from wsol.app.build import metadata_path
        from wsol.datasets.wsolevaluation import WsolEvalDataset

        return WsolEvalDataset(root, split, names, metadata_root=metadata_path(data),
                               mask_dir=data.mask_dir, check_files=False,
                               max_image_pixels=pixels)
    from wsol.datasets.imagenet import ImageNetDataset

    return ImageNetDataset(root, split, names, check_files=False, max_image_pixels=pixels)


def _mask_files(listing, head: str, findings: list[Finding]) -> None:
    """wsolevaluation: every instance and ignore mask of a split localized by masks."""
    if not listing.has_masks:
        findings.append(Finding(f"{head}: masks", True, "none: the split is localized by boxes"))
        return
    files = [str(p) for i in listing.ids for p in listing.mask_files(i)]
    _missing(f"{head}: masks", files, Path, f"restore the masks under {listing.mask_root} "
             f"(data.mask_dir); {README}", findings)


def _describe(dataset) -> str:
    text = f"{len(dataset)} images"
    if dataset.dropped_empty:
        text += f" ({dataset.dropped_empty} without annotations dropped)"
    if dataset.clipped_boxes:
        text += f" ({dataset.clipped_boxes} boxes clipped to their image)"
    return text


def _decode(dataset, ids: Sequence[str], head: str, progress: bool) -> Finding:
    from wsol.datasets.voc_format import read_image

    bad = []
    for image_id in tqdm(ids, desc=f"decode {head}", unit="img", disable=not progress):
        try:
            read_image(dataset.image_path(image_id), dataset.max_image_pixels)
        except WsolError:
            bad.append(str(dataset.image_path(image_id)))
    if bad:
        return Finding(f"{head}: decode", False, f"{len(bad)} of {len(ids)} corrupt, e.g. "
                       f"{', '.join(bad[:SHOW])}", "re-extract them from the archive")
    return Finding(f"{head}: decode", True, f"{len(ids)} decode")


# -- the inputs stages read ----------------------------------------------------------------


def _train_split(ctx: _Context) -> Iterator[Finding]:
    data = ctx.run.config.data
    yield from _splits(ctx, [("data.train_split", data.train_split, False, True),
                             ("data.val_split", data.val_split, False, False)])


def _cam_split(ctx: _Context) -> Iterator[Finding]:
    cfg = ctx.run.config
    yield from _splits(ctx, [("data.cam_split", cfg.data.cam_split, False, True),
                             ("eval.select_split", cfg.eval.select_split, False, False)])


def _scored_split(ctx: _Context) -> Iterator[Finding]:
    masks, cfg = ctx.run.data.masks_expected, ctx.run.config
    yield from _splits(ctx, [("data.cam_split", cfg.data.cam_split, masks, True),
                             ("eval.select_split", cfg.eval.select_split, masks, False)])


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


def _init_weights(ctx: _Context) -> Iterator[Finding]:
    if ctx.run.config.model.weights:
        yield _weights_finding(ctx.run)
    else:
        yield Finding("model.weights", True, "null: the network is trained from scratch")


def _classifier(ctx: _Context) -> Iterator[Finding]:
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


def _faith_classifier(ctx: _Context) -> Iterator[Finding]:
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


def _sanity_train_split(ctx: _Context) -> Iterator[Finding]:
    """The train split, when the sanity stage trains a model on its permuted labels."""
    if "data" in ctx.run.config.sanity.tests:
        data = ctx.run.config.data
        yield from _splits(ctx, [("data.train_split", data.train_split, False, True)])


def _cam_store(ctx: _Context, seeds_suffice: bool = False) -> Iterator[Finding]:
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


def _cam_store_or_seeds(ctx: _Context) -> Iterator[Finding]:
    yield from _cam_store(ctx, seeds_suffice=True)


def _selection_store(ctx: _Context) -> Iterator[Finding]:
    """``eval.select_split``: no image of the scored split, and its maps when evaluate runs
    without this run's cam stage."""
    from dataclasses import replace

    from wsol.app.selection import selection_run

    selection = selection_run(ctx.run)
    if selection is None:
        return
    yield from _selection_disjoint(ctx, selection.config.data.cam_split)
    if "cam" in ctx.run.stages:
        return
    split = selection.config.data.cam_split
    for finding in _cam_store(_Context(selection, ctx.generate)):
        yield replace(finding, check=f"{finding.check} (eval.select_split={split})")


def _selection_disjoint(ctx: _Context, split: str) -> Iterator[Finding]:
    """The selection split shares no image with the scored one: thresholds chosen on scored
    images would score their own choice (wsolevaluation's train-fullsup / test split)."""
    yield from _root(ctx)
    scored = ctx.run.config.data.cam_split
    if not ctx.root_ok:
        return
    try:  # both opened already by the split rules (DataSource reads a split once)
        shared = set(ctx.run.data.open(split).ids) & set(ctx.run.data.open(scored).ids)
    except WsolError:
        return  # a split that cannot be read has its own finding
    check = f"eval.select_split={split}"
    if not shared:
        yield Finding(check, True, f"no image shared with data.cam_split={scored}")
        return
    detail = (f"{len(shared)} of its images are also in data.cam_split={scored} (e.g. "
              f"{', '.join(sorted(shared)[:SHOW])}), so the thresholds would be chosen partly "
              "on the images they score")
    fix = "choose a selection split that shares no image with data.cam_split"
    yield Finding(check, False, detail, fix, ConfigError(f"{check}: {detail}; {fix}."))


def _seeds_dir(ctx: _Context) -> Iterator[Finding]:
    seeds = ctx.run.config.eval.seeds_dir
    if not seeds:
        return
    path = absolute_path(seeds)
    if path.is_dir():
        missing = _missing_seeds(ctx, path)
        if missing:
            yield Finding("eval.seeds_dir", False,
                          f"{path} has no seed for {len(missing)} scored image(s) of "
                          f"data.cam_split={ctx.run.config.data.cam_split} (e.g. "
                          f"{missing[0]!r})",
                          "name the seeds <image_id>.png, one per scored image")
        else:
            yield Finding("eval.seeds_dir", True, str(path))
    else:
        yield Finding("eval.seeds_dir", False, f"{path} is not a directory",
                      "point eval.seeds_dir at a folder of <image_id>.png label maps")


def _missing_seeds(ctx: _Context, seeds: Path) -> list[str]:
    """The scored images without ``<id>.png`` in ``seeds``: every id of data.cam_split when
    its images carry masks (evaluate scores a seed against each mask), none otherwise. A
    split that cannot be read is the split rule's finding, not this one's."""
    if not ctx.root_ok:
        return []
    run = ctx.run
    try:
        images = run.data.open(run.config.data.cam_split, require_masks=run.data.masks_expected)
        if not len(images) or images.mask(0) is None:
            return []
    except WsolError:
        return []
    return [i for i in images.ids if not (seeds / f"{i}.png").is_file()]


def _pseudo_dir(ctx: _Context) -> Iterator[Finding]:
    from wsol.app.pseudo_rules import pseudo_dir_findings

    yield from pseudo_dir_findings(ctx.run)


def _pseudo_labels(ctx: _Context) -> Iterator[Finding]:
    from wsol.app.pseudo_rules import pseudo_labels_findings

    yield from pseudo_labels_findings(ctx.run)


def _val_masks(ctx: _Context) -> Iterator[Finding]:
    data = ctx.run.config.data
    if data.format == "imagenet":
        yield Finding("data.val_split", False, "ImageNet splits have no segmentation masks, "
                      "which the segment stage scores against",
                      "leave segment out of stages, or use a dataset with masks (voc, coco)")
        return
    yield from _splits(ctx, [("data.val_split", data.val_split, True, True)])


def _segment_init(ctx: _Context) -> Iterator[Finding]:
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


def _drawn_settings(ctx: _Context) -> Iterator[Finding]:
    from wsol.app.report_rules import drawn_settings_findings

    yield from drawn_settings_findings(ctx.run)


# Input name -> rule, in report order. A stage's ``reads`` names these.
INPUTS: dict[str, Callable[[_Context], Iterator[Finding]]] = {
    "train_split": _train_split,
    "cam_split": _cam_split,
    "scored_split": _scored_split,
    "init_weights": _init_weights,
    "classifier": _classifier,
    "faith_classifier": _faith_classifier,
    "sanity_train_split": _sanity_train_split,
    "cam_store": _cam_store,
    "cam_store_or_seeds": _cam_store_or_seeds,
    "selection_store": _selection_store,
    "seeds_dir": _seeds_dir,
    "pseudo_dir": _pseudo_dir,
    "val_masks": _val_masks,
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
    ctx = _Context(run, generate, decode, progress)
    for name in needed_inputs(run.stages):
        yield from INPUTS[name](ctx)


def check_run(run: Run, decode: bool = False, progress: bool = True) -> list[Finding]:
    """Every input the run's stages will read, in report order; ``decode`` decodes images too.
    Nothing is generated, downloaded or written."""
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
