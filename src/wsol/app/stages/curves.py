"""Threshold curves of the evaluate stage: ``curves.csv`` and a plot of each metric vs threshold."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from wsol.io.atomic import atomic_write_text


def curve_rows(
    cam_grid: Sequence[float],
    box_curves: Mapping[str, np.ndarray],
    center_curves: Mapping[str, np.ndarray],
    bg_grid: Sequence[float],
    miou_curve: np.ndarray | None,
) -> list[tuple[str, float, float]]:
    """Long-format ``(curve, threshold, value)`` rows; values in percent."""
    rows = []
    for prefix, curves in (("loc", box_curves), ("baseline/center", center_curves)):
        for name, values in curves.items():
            if name.startswith("boxacc@"):  # skip the threshold axis the evaluator also returns
                rows += [(f"{prefix}/{name}", t, float(v))
                         for t, v in zip(cam_grid, values, strict=True)]
    if miou_curve is not None:
        rows += [("seg/miou", t, float(v)) for t, v in zip(bg_grid, miou_curve, strict=True)]
    return rows


def write_curves(path: Path, figures_dir: Path, cam_grid, box_curves, center_curves,
                 bg_grid, miou_curve) -> None:
    """Write ``curves.csv`` and ``figures/curves.png`` (BoxAcc vs τ, seed mIoU vs background τ)."""
    rows = curve_rows(cam_grid, box_curves, center_curves, bg_grid, miou_curve)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["curve", "threshold", "value"])
    writer.writerows((name, f"{t:.4f}", f"{v:.4f}") for name, t, v in rows)
    atomic_write_text(path, buffer.getvalue())
    _plot_curves(figures_dir / "curves.png", rows)


def _plot_curves(path: Path, rows: list[tuple[str, float, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wsol.io.atomic import atomic_write_with

    names = list(dict.fromkeys(name for name, _, _ in rows))
    seg_names = [n for n in names if n.startswith("seg/")]
    box_names = [n for n in names if not n.startswith("seg/")]
    fig, axes = plt.subplots(1, 2 if seg_names else 1, figsize=(11 if seg_names else 6, 4),
                             squeeze=False)
    for ax, group, xlabel in ((axes[0, 0], box_names, "CAM threshold τ (fraction of max)"),
                              (axes[0, -1], seg_names, "background threshold τ")):
        if not group:
            continue
        for name in group:
            t = [r[1] for r in rows if r[0] == name]
            v = [r[2] for r in rows if r[0] == name]
            style = "--" if name.startswith("baseline") else "-"
            ax.plot(t, v, style, label=name)
            best = int(np.argmax(v))
            ax.plot(t[best], v[best], "o", color=ax.lines[-1].get_color())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write_with(path, lambda handle: fig.savefig(handle, format="png", dpi=110))
    plt.close(fig)
