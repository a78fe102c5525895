"""What a configured run needs on disk, checked before it starts (``scripts/check_data.py``).

:func:`check_run` looks at the stages of a composed config and lists, as :class:`Finding`
rows, everything they will read: the data root, each split the stages use (its list, the
images and annotations of every id, the masks the evaluate stage scores against), optionally
whether every image decodes, and the pretrained weights or checkpoint the model needs.
Nothing is generated, downloaded or written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from wsol.errors import WsolError

README = "data/README.md"
SHOW = 3  # ids named per missing-files line


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok`` False means the run would stop (or fail) on it."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


def check_run(cfg: DictConfig, decode: bool = False, progress: bool = True) -> list[Finding]:
    """Every input ``cfg.stages`` will read, in report order. ``decode`` also decodes images."""
    from wsol.app.context import absolute_path

    stages = set(cfg.stages)
    findings: list[Finding] = []
    if stages & {"train", "cam", "evaluate"}:
        root = absolute_path(cfg.data.root)
        if _check_root(cfg, root, findings):
            names = _class_names(cfg, root, findings)
            if names is not None:
                for split, keys, masks in _needed_splits(cfg, findings):
                    findings += _check_split(cfg, root, split, keys, names, masks, decode,
                                             progress)
    findings += _check_model(cfg, stages)
    return findings


def _check_root(cfg: DictConfig, root: Path, findings: list[Finding]) -> bool:
    if cfg.data.get("generate"):
        state = "present" if root.is_dir() else "absent: generated on first run"
        findings.append(Finding("data root", True, f"{root} ({state})"))
        return root.is_dir()
    if root.is_dir():
        findings.append(Finding("data root", True, str(root)))
        return True
    from wsol.datasets.roots import root_hint

    findings.append(Finding(
        "data root", False,
        f"{root} does not exist (data.root={cfg.data.root}){root_hint(root)}",
        f"set data.root=/path/to/{cfg.data.name} or WSOL_DATA=/dir/holding/it; {README} "
        f"shows the tree"))
    return False


def _class_names(cfg: DictConfig, root: Path, findings: list[Finding]):
    from wsol.app.context import class_names  # given the root: generates nothing

    try:
        return class_names(cfg, root)
    except WsolError as err:
        findings.append(Finding("classes", False, str(err), "see the message"))
        return None


def masks_expected(cfg: DictConfig) -> bool:
    """Whether this dataset has segmentation masks to score (VOC Segmentation sets, COCO)."""
    fmt = cfg.data.get("format", "voc")
    return fmt == "coco" or (fmt == "voc" and cfg.data.get("image_set") == "Segmentation")


def _needed_splits(cfg: DictConfig, findings: list[Finding]):
    """``(split, config keys, needs masks)`` for each distinct split the stages read."""
    stages, wanted = set(cfg.stages), []
    if "train" in stages:
        wanted += [("data.train_split", cfg.data.get("train_split"), False, True)]
        wanted += [("data.val_split", cfg.data.get("val_split"), False, False)]
    if stages & {"cam", "evaluate"}:
        wanted += [("data.cam_split", cfg.data.get("cam_split"),
                    "evaluate" in stages and masks_expected(cfg), True)]
    merged: dict[str, tuple[list[str], bool]] = {}
    for key, split, masks, required in wanted:
        if not split:
            if required:
                findings.append(Finding(key, False, f"{key} is not set",
                                        f"set {key}=SPLIT, or leave its stage out of stages="))
            continue
        keys, had = merged.get(split, ([], False))
        merged[split] = (keys + [key], had or masks)
    return [(split, ", ".join(keys), masks) for split, (keys, masks) in merged.items()]


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


def _check_split(cfg, root: Path, split: str, keys: str, names, masks: bool, decode: bool,
                 progress: bool) -> list[Finding]:
    fmt = cfg.data.get("format", "voc")
    head = f"split {split} ({keys})"
    out: list[Finding] = []
    fix = f"restore the files or fix data.root; {README}"
    try:
        if fmt == "voc":
            ds, present = _voc_split(cfg, root, split, head, names, masks, fix, out)
        elif fmt in ("coco", "imagenet"):
            ds = _open_unchecked(fmt, root, split, names, cfg.data.max_image_pixels)
            out.append(Finding(f"{head}: annotations", True, _describe(ds)))
            present = _missing(f"{head}: images", ds.ids, ds.image_path, fix, out)
            if masks:
                out.append(Finding(f"{head}: masks", True, "from the instance annotations"))
        else:
            return [Finding(head, False, f"data.format={fmt!r} is unknown",
                            "use voc, coco or imagenet")]
    except WsolError as err:
        return out + [Finding(head, False, str(err), "see the message")]
    if decode and ds is not None and present:
        out.append(_decode(ds, present, head, progress))
    return out


def _voc_split(cfg, root, split, head, names, masks, fix, out):
    from wsol.datasets.voc import VOCDataset, read_split_file

    ids = read_split_file(root, split, cfg.data.get("image_set") or "Segmentation")
    present = _missing(f"{head}: images", ids, lambda i: root / "JPEGImages" / f"{i}.jpg",
                       fix, out)
    _missing(f"{head}: annotations", ids, lambda i: root / "Annotations" / f"{i}.xml", fix, out)
    mask_dir = root / (cfg.data.get("mask_dir") or "SegmentationClass")
    if masks:
        _missing(f"{head}: masks", ids, lambda i: mask_dir / f"{i}.png",
                 f"restore {mask_dir.name}/, or score a split that has masks; {README}", out)
    if all(f.ok for f in out):  # every file is there: parse them (unknown classes, bad XML)
        return VOCDataset.from_config(root, split, cfg.data, names), present
    return None, present


def _open_unchecked(fmt: str, root: Path, split: str, names, max_pixels: int):
    if fmt == "coco":
        from wsol.datasets.coco import COCODataset

        return COCODataset(root, split, names, check_files=False, max_image_pixels=max_pixels)
    from wsol.datasets.imagenet import ImageNetDataset

    return ImageNetDataset(root, split, names, check_files=False, max_image_pixels=max_pixels)


def _describe(ds) -> str:
    text = f"{len(ds)} images"
    if getattr(ds, "dropped_empty", 0):
        text += f" ({ds.dropped_empty} without annotations dropped)"
    if getattr(ds, "clipped_boxes", 0):
        text += f" ({ds.clipped_boxes} boxes clipped to their image)"
    return text


def _decode(ds, ids: Sequence[str], head: str, progress: bool) -> Finding:
    from wsol.datasets.voc_format import read_image

    bad = []
    for image_id in tqdm(ids, desc=f"decode {head}", unit="img", disable=not progress):
        try:
            read_image(ds.image_path(image_id), ds.max_image_pixels)
        except WsolError:
            bad.append(str(ds.image_path(image_id)))
    if bad:
        return Finding(f"{head}: decode", False, f"{len(bad)} of {len(ids)} corrupt, e.g. "
                       f"{', '.join(bad[:SHOW])}", "re-extract them from the archive")
    return Finding(f"{head}: decode", True, f"{len(ids)} decode")


def _check_model(cfg: DictConfig, stages: set[str]) -> list[Finding]:
    from wsol.app.context import absolute_path

    model = cfg.model
    if "train" not in stages and "cam" in stages and model.get("checkpoint"):
        path = absolute_path(model.checkpoint)
        if path.is_file():
            return [Finding("model.checkpoint", True, str(path))]
        return [Finding("model.checkpoint", False, f"{path} does not exist",
                        "point model.checkpoint at a model.pt the train stage wrote, or add "
                        "train to stages")]
    if "train" not in stages and "cam" not in stages:
        return []
    if not model.get("weights"):
        if "train" in stages:
            return [Finding("model.weights", True, "null: the network is trained from scratch")]
        return [Finding("model.checkpoint", False, "stages run cam without train, and neither "
                        "model.checkpoint nor model.weights is set",
                        "set model.checkpoint=PATH/model.pt or add train to stages")]
    from wsol.models.weights import cached_weights_path, resolve_weights_enum

    try:
        weights = resolve_weights_enum(model.arch, model.weights)
    except WsolError as err:
        return [Finding("model.weights", False, str(err), "name torchvision weights exactly")]
    path = cached_weights_path(weights)
    if path.is_file():
        return [Finding("model.weights", True, f"{model.weights}: {path}")]
    return [Finding("model.weights", False, f"{model.weights}: {path} is missing",
                    f"on a machine with internet download {weights.url} to {path} (or set "
                    f"TORCH_HOME), or run with model.weights=null")]


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
