"""The metadata files of wsolevaluation (Choe et al., CVPR 2020), one folder per split.

``<metadata>/<split>/`` (split: ``train`` = train-weaksup, ``val`` = train-fullsup, ``test``)::

    image_ids.txt      <image_id>                       one per line; the id is the image's
                                                        path under the dataset root
    class_labels.txt   <image_id>,<class index>         0-based, one class per image
    image_sizes.txt    <image_id>,<width>,<height>      CUB / ILSVRC; empty for OpenImages
    localization.txt   <image_id>,<x0>,<y0>,<x1>,<y1>   boxes (CUB, ILSVRC): inclusive 0-based
                                                        pixels, several lines per image allowed
                       <image_id>,<mask>,<ignore>       masks (OpenImages): one line per
                                                        instance mask; the image's first line
                                                        names its ignore mask, later lines leave
                                                        it empty
                       (empty)                          no localization (the train splits)

Every id is checked to be a safe relative path (it is joined to the dataset root:
:func:`wsol.io.paths.entry_problem`) and listed once; a malformed line stops with one DataError
naming the file, the line and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wsol.datasets.ids import checked_ids, read_text_lines
from wsol.errors import DataError
from wsol.io.paths import entry_problem

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train-weaksup": "train", "train-fullsup": "val"}
FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")
README = "data/README.md"


def split_folder(metadata_root: Path, split: str) -> Path:
    """``metadata_root/<split>`` (aliases ``train-weaksup``, ``train-fullsup`` accepted);
    DataError listing the splits present when it is missing."""
    name = SPLIT_ALIASES.get(split, split)
    folder = Path(metadata_root) / name
    if not folder.is_dir():
        if not Path(metadata_root).is_dir():
            raise DataError(f"wsolevaluation metadata folder {metadata_root} (data.metadata_dir) "
                            f"does not exist; point data.metadata_dir at the dataset's folder "
                            f"of wsolevaluation's metadata/ (holding train/ val/ test/); "
                            f"{README} shows the tree.")
        present = sorted(p.name for p in Path(metadata_root).iterdir() if p.is_dir())
        raise DataError(f"Split {split!r} has no metadata folder {folder}; present: {present}. "
                        f"Use one of {list(SPLITS)} (val is train-fullsup).")
    return folder


@dataclass
class SplitMetadata:
    """One split's metadata: ids in file order, their class, size (W, H; absent for
    OpenImages) and localization (boxes, or instance masks + one ignore mask per image)."""

    folder: Path
    ids: list[str]
    labels: dict[str, int]
    sizes: dict[str, tuple[int, int]]
    kind: str  # "boxes" | "masks" | "none"
    boxes: dict[str, list[tuple[int, int, int, int, int]]] = field(default_factory=dict)
    masks: dict[str, list[str]] = field(default_factory=dict)
    ignore: dict[str, str] = field(default_factory=dict)


def _lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines; DataError when unreadable."""
    if not path.is_file():
        raise DataError(f"wsolevaluation metadata file {path} is missing; copy the split's four "
                        f"files {list(FILES)} from wsolevaluation's metadata/ ({README}).")
    lines = read_text_lines(path, "wsolevaluation metadata file")
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def _fields(path: Path, number: int, line: str, count: int | tuple[int, ...], what: str
            ) -> list[str]:
    parts = line.split(",")
    counts = (count,) if isinstance(count, int) else count
    if len(parts) not in counts:
        raise DataError(f"{path}:{number}: {line[:80]!r} is not {what}; restore the file.")
    return parts


def _int(path: Path, number: int, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}:{number}: {text!r} is not an integer; restore the "
                        f"file.") from None


def _read_ids(folder: Path) -> list[str]:
    path = folder / "image_ids.txt"
    ids = checked_ids(_lines(path), path)  # safe relative paths, each listed once
    if not ids:
        raise DataError(f"{path} lists no images; restore the file.")
    return ids


def read_class_labels(folder: Path) -> dict[str, int]:
    """``class_labels.txt`` as ``{image_id: class index}``."""
    path = folder / "class_labels.txt"
    labels = {}
    for number, line in _lines(path):
        image_id, label = _fields(path, number, line, 2, "<image_id>,<class index>")
        value = _int(path, number, label)
        if value < 0:
            raise DataError(f"{path}:{number}: class index {value} is negative; restore the "
                            f"file.")
        labels[image_id] = value
    return labels


def _read_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    path = folder / "image_sizes.txt"
    sizes = {}
    for number, line in _lines(path):
        image_id, width, height = _fields(path, number, line, 3, "<image_id>,<w>,<h>")
        size = (_int(path, number, width), _int(path, number, height))
        if min(size) <= 0:
            raise DataError(f"{path}:{number}: size {size} is not positive; restore the file.")
        sizes[image_id] = size
    return sizes


def _read_localization(meta: SplitMetadata) -> None:
    path = meta.folder / "localization.txt"
    lines = _lines(path)
    if not lines:
        return
    first = len(lines[0][1].split(","))
    meta.kind = "boxes" if first == 5 else "masks" if first == 3 else "invalid"
    if meta.kind == "invalid":
        raise DataError(f"{path}:{lines[0][0]}: expected <image_id>,<x0>,<y0>,<x1>,<y1> (boxes) "
                        f"or <image_id>,<mask>,<ignore> (masks); restore the file.")
    for number, line in lines:
        if meta.kind == "boxes":
            image_id, *coords = _fields(path, number, line, 5, "<image_id>,<x0>,<y0>,<x1>,<y1>")
            box = tuple(_int(path, number, c) for c in coords)
            if box[2] < box[0] or box[3] < box[1]:
                raise DataError(f"{path}:{number}: box {list(box)} is inverted (x1 < x0 or "
                                f"y1 < y0); restore the file.")
            meta.boxes.setdefault(image_id, []).append((*box, number))
            continue
        image_id, mask, ignore = _fields(path, number, line, 3, "<image_id>,<mask>,<ignore>")
        for entry in (mask, ignore) if ignore else (mask,):
            problem = entry_problem(entry)
            if problem:
                raise DataError(f"{path}:{number}: mask path {entry[:80]!r} {problem}; mask "
                                f"paths name files under data.mask_dir. Correct that line.")
        if image_id in meta.masks:
            if ignore:
                raise DataError(f"{path}:{number}: {image_id} names a second ignore mask; only "
                                f"an image's first line may name one. Restore the file.")
        else:
            meta.ignore[image_id] = ignore
        meta.masks.setdefault(image_id, []).append(mask)


def read_split(metadata_root: Path, split: str) -> SplitMetadata:
    """The metadata of ``split``: every id labelled, and located where the split localizes."""
    folder = split_folder(metadata_root, split)
    ids = _read_ids(folder)
    labels = read_class_labels(folder)
    unlabelled = [i for i in ids if i not in labels]
    if unlabelled:
        raise DataError(f"{folder / 'class_labels.txt'} has no class for {len(unlabelled)} id(s) "
                        f"of image_ids.txt, e.g. {unlabelled[0]!r}; restore the file.")
    meta = SplitMetadata(folder, ids, {i: labels[i] for i in ids}, _read_sizes(folder), "none")
    _read_localization(meta)
    located = meta.boxes if meta.kind == "boxes" else meta.masks
    if meta.kind != "none":
        bare = [i for i in ids if i not in located]
        if bare:
            raise DataError(f"{folder / 'localization.txt'} has no {meta.kind} for {len(bare)} "
                            f"id(s), e.g. {bare[0]!r}; every image of a localized split needs "
                            f"them. Restore the file.")
    return meta
