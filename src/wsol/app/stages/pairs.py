"""``per_pair.csv``: one row per scored (image, ground-truth class) pair, for the report's gallery.

The IoU at the dataset's best threshold is known only after the last image, so each pair's
best IoU at every threshold goes to a temporary binary file as it is scored (memory does not
grow with the split) and the CSV is written from it at the end.

Columns: image_id, class_id, class, iou_best (IoU at the dataset's best threshold), iou_max
(the pair's own best over the sweep), iou_protocol (the ``eval.box_protocol`` box), seed_iou
(the seed's IoU for that class at ``eval.bg_threshold``; empty without a mask). Percent.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsol.io.atomic import atomic_write_with

COLUMNS = ("image_id", "class_id", "class", "iou_best", "iou_max", "iou_protocol", "seed_iou")


class PairLog:
    """Collects pairs during the evaluate stage; :meth:`write` makes the CSV, :meth:`close`
    (or the context manager) removes the temporary files."""

    def __init__(self, directory: Path) -> None:
        self.num_thresholds = 0  # from the first pair
        directory.mkdir(parents=True, exist_ok=True)
        fd, self._ious_path = tempfile.mkstemp(prefix=".pairs-", suffix=".f4", dir=directory)
        self._ious = os.fdopen(fd, "wb")
        fd, self._rows_path = tempfile.mkstemp(prefix=".pairs-", suffix=".csv", dir=directory)
        self._rows = os.fdopen(fd, "w", newline="")
        self._writer = csv.writer(self._rows)
        self.count = 0

    def add(self, image_id: str, class_id: int, ious: np.ndarray, protocol_iou: float,
            seed_iou: float) -> None:
        """One pair: its best IoU at every threshold (T,) in [0, 1], and two IoUs in percent."""
        ious = np.asarray(ious).reshape(-1)
        if not self.count:
            self.num_thresholds = ious.size
        elif ious.size != self.num_thresholds:
            raise ValueError(f"pair IoUs: expected {self.num_thresholds} thresholds, got "
                             f"{ious.size}")
        self._ious.write(np.asarray(ious, dtype="<f4").tobytes())
        self._writer.writerow((image_id, int(class_id), f"{protocol_iou:.2f}",
                               "" if math.isnan(seed_iou) else f"{seed_iou:.2f}"))
        self.count += 1

    def write(self, path: Path, best_index: int, class_names: Sequence[str]) -> None:
        """Write the CSV with ``iou_best`` taken at threshold index ``best_index``."""
        self._ious.flush()
        self._rows.flush()
        shape = (self.count, self.num_thresholds)
        ious = (np.memmap(self._ious_path, dtype="<f4", mode="r", shape=shape)
                if self.count else np.zeros(shape, "<f4"))

        def write(handle) -> None:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(COLUMNS)
            with open(self._rows_path, newline="") as rows:
                for row, (image_id, class_id, protocol, seed) in zip(ious, csv.reader(rows),
                                                                     strict=True):
                    writer.writerow((image_id, class_id, class_names[int(class_id)],
                                     f"{100 * row[best_index]:.2f}", f"{100 * row.max():.2f}",
                                     protocol, seed))
            text.flush()
            text.detach()  # the atomic writer closes the file itself

        atomic_write_with(path, write)

    def close(self) -> None:
        for handle, name in ((self._ious, self._ious_path), (self._rows, self._rows_path)):
            handle.close()
            Path(name).unlink(missing_ok=True)

    def __enter__(self) -> PairLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PairBuffer:
    """Pairs kept in memory, in order (a worker's chunk of the split); :meth:`replay` hands
    them to the :class:`PairLog` of the process that writes the CSV."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, np.ndarray, float, float]] = []

    def add(self, image_id: str, class_id: int, ious: np.ndarray, protocol_iou: float,
            seed_iou: float) -> None:
        """As :meth:`PairLog.add`."""
        self.rows.append((image_id, int(class_id), np.asarray(ious, np.float32),
                          float(protocol_iou), float(seed_iou)))

    def replay(self, log: PairLog) -> None:
        """Add every kept pair to ``log``, in the order they came."""
        for row in self.rows:
            log.add(*row)
