"""Pre-run rules for the dataset a run reads (rows of :data:`wsol.app.preflight.INPUTS`): its
root, each split's list, annotations, images and masks (decoded with ``--decode``), the
selection split's overlap with the scored one, and a folder of seeds to score."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from wsol.app.build import Run, absolute_path, root_blocked_message
from wsol.app.findings import README, SHOW, Finding, RuleContext
from wsol.errors import ConfigError, DataError, WsolError
from wsol.io.paths import file_in_the_way


def _root(ctx: RuleContext) -> Iterator[Finding]:
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
    if data.config.generate is not None and not ctx.generate:  # the checker generates nothing
        from dataclasses import asdict

        from wsol.demo.synthetic import demo_tree_problem

        problem = demo_tree_problem(data.root, **asdict(data.config.generate))
        ctx.root_ok = problem is None  # the splits of another tree are not this run's
        yield Finding("data root", True, f"{data.root} ({problem or 'present'})")
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


def _splits(ctx: RuleContext, wanted: Sequence[tuple[str, str | None, bool, bool]]
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


def _check_split(ctx: RuleContext, split: str, keys: str, names, masks: bool) -> Iterator[Finding]:
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


def train_split(ctx: RuleContext) -> Iterator[Finding]:
    data = ctx.run.config.data
    yield from _splits(ctx, [("data.train_split", data.train_split, False, True),
                             ("data.val_split", data.val_split, False, False)])


def cam_split(ctx: RuleContext) -> Iterator[Finding]:
    cfg = ctx.run.config
    yield from _splits(ctx, [("data.cam_split", cfg.data.cam_split, False, True),
                             ("eval.select_split", cfg.eval.select_split, False, False)])


def scored_split(ctx: RuleContext) -> Iterator[Finding]:
    masks, cfg = ctx.run.data.masks_expected, ctx.run.config
    yield from _splits(ctx, [("data.cam_split", cfg.data.cam_split, masks, True),
                             ("eval.select_split", cfg.eval.select_split, masks, False)])


def sanity_train_split(ctx: RuleContext) -> Iterator[Finding]:
    """The train split, when the sanity stage trains a model on its permuted labels."""
    if "data" in ctx.run.config.sanity.tests:
        data = ctx.run.config.data
        yield from _splits(ctx, [("data.train_split", data.train_split, False, True)])


def val_masks(ctx: RuleContext) -> Iterator[Finding]:
    data = ctx.run.config.data
    if data.format == "imagenet":
        yield Finding("data.val_split", False, "ImageNet splits have no segmentation masks, "
                      "which the segment stage scores against",
                      "leave segment out of stages, or use a dataset with masks (voc, coco)")
        return
    yield from _splits(ctx, [("data.val_split", data.val_split, True, True)])


def selection_disjoint(ctx: RuleContext, split: str) -> Iterator[Finding]:
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


def seeds_dir(ctx: RuleContext) -> Iterator[Finding]:
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


def _missing_seeds(ctx: RuleContext, seeds: Path) -> list[str]:
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
