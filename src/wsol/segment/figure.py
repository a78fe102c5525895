"""``figures/wsss.png``: image, CAM seed, pseudo-label, prediction and ground truth per row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsol.datasets.voc_format import VOC_PALETTE
from wsol.io.atomic import atomic_write_with

COLUMNS = ("image", "seed", "pseudo-label", "prediction", "ground truth")


def colourise(labels: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) in the VOC palette (255 = ignored is VOC's cream); grey when None."""
    if labels is None:
        return np.full((*shape, 3), 128, np.uint8)
    return VOC_PALETTE[labels]


def save_wsss_figure(path: Path, rows: Sequence[dict], seed_threshold: float | None = None
                     ) -> None:
    """One row per image: dicts with "id", "image" uint8 (H, W, 3) and "seed", "pseudo",
    "prediction", "gt" uint8 (H, W) label maps (None: not available, drawn grey);
    ``seed_threshold`` (the seeds' background tau) goes into the seed column's title."""
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(COLUMNS), squeeze=False,
                             figsize=(2.2 * len(COLUMNS), 2.2 * len(rows)))
    for r, row in enumerate(rows):
        shape = row["image"].shape[:2]
        panels = [row["image"]] + [colourise(row[k], shape)
                                   for k in ("seed", "pseudo", "prediction", "gt")]
        for c, panel in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                title = COLUMNS[c]
                if c == 1 and seed_threshold is not None:
                    title = f"seed (τ = {seed_threshold:g})"
                ax.set_title(title, fontsize=9)
        axes[r][0].set_ylabel(str(row["id"]), fontsize=8)
    fig.suptitle("cream: ignored (255) in pseudo-labels, void border in the ground truth",
                 fontsize=8, y=0.995)
    fig.tight_layout()
    atomic_write_with(Path(path), lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
