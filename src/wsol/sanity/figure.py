"""``figures/sanity.png``: Adebayo et al.'s cascading figure and the similarity curves.

Top: one row per method, the image, the trained model's map, then the map after randomising
the blocks from the logits down to each column's block (absolute values, each map scaled to
its own maximum, grey). Below: per test and measure, the mean similarity to the trained map
(band: ± one standard deviation over the images) against the randomised block; the guided
methods dashed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wsol.io.atomic import atomic_write_with
from wsol.sanity.check import DATA_TEST, SanityResult
from wsol.sanity.guided import GUIDED_METHODS
from wsol.sanity.similarity import METRICS, unit_abs

METRIC_TITLES = {"spearman": "Spearman (signed)", "spearman_abs": "Spearman |map|",
                 "ssim": "SSIM", "hog": "HOG correlation"}


def _map_grid(fig, grid, result: SanityResult, image: np.ndarray) -> None:
    columns = [("trained", result.reference)] + [(f"→ {b}", maps) for b, maps in result.cascade]
    for row, method in enumerate(result.methods):
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(image)
        ax.set_ylabel(method, fontsize=7, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title("image", fontsize=7)
        for col, (title, maps) in enumerate(columns, start=1):
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(unit_abs(maps[method][0]), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            if row == 0:
                ax.set_title(title, fontsize=7)


def _curves(fig, grid, result: SanityResult, test: str, row: int) -> None:
    for col, metric in enumerate(METRICS):
        ax = fig.add_subplot(grid[row, col])
        for method in result.methods:
            blocks, mean, std = result.curve(test, method, metric)
            if test == "cascading":  # the trained model itself: similarity 1 by definition
                blocks, mean, std = ["none"] + blocks, np.r_[1.0, mean], np.r_[0.0, std]
            x = np.arange(len(blocks))
            style = "--" if method in GUIDED_METHODS else "-"  # the comparison methods
            ax.plot(x, mean, style, marker=".", linewidth=1, label=method)
            ax.fill_between(x, mean - std, mean + std, alpha=0.12)
        ax.set_xticks(np.arange(len(blocks)), blocks, rotation=60, fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylim(-0.3, 1.05)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.grid(alpha=0.3)
        ax.set_title(f"{test}: {METRIC_TITLES[metric]}", fontsize=7)
        if col == 0:
            ax.set_ylabel("similarity to trained", fontsize=7)


def _data_bars(fig, grid, result: SanityResult, row: int) -> None:
    ax = fig.add_subplot(grid[row, :])
    width = 0.8 / max(1, len(result.methods))
    for i, method in enumerate(result.methods):
        means = [result.curve(DATA_TEST, method, m)[1][0] for m in METRICS]
        stds = [result.curve(DATA_TEST, method, m)[2][0] for m in METRICS]
        ax.bar(np.arange(len(METRICS)) + i * width, means, width, yerr=stds, label=method)
    ax.set_xticks(np.arange(len(METRICS)) + 0.4 - width / 2,
                  [METRIC_TITLES[m] for m in METRICS], fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.set_title("data randomisation: trained vs permuted-label model", fontsize=7)


def save_sanity_figure(path: Path, result: SanityResult, image: np.ndarray, dpi: int = 80
                       ) -> Path:
    """Write the figure for ``result`` to ``path`` (PNG); ``image`` (H, W, 3) uint8 is the
    first example image (the one whose maps ``result.reference`` keeps first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = [t for t in ("cascading", "independent") if any(r["test"] == t for r in result.rows)]
    has_data = any(r["test"] == DATA_TEST for r in result.rows)
    curve_rows = len(tests) + int(has_data)
    columns = 2 + len(result.cascade)
    map_rows = len(result.methods) if result.cascade else 0
    width = max(8.0, 0.9 * columns)
    # map cells square: the grid's height follows its width
    grid_height = width * map_rows / columns if map_rows else 0.0
    fig = plt.figure(figsize=(width, grid_height + 2.3 * curve_rows + 0.9))
    outer = fig.add_gridspec(2, 1, height_ratios=[max(grid_height, 0.01), 2.3 * curve_rows],
                             hspace=0.1, top=0.97, bottom=0.07, left=0.14, right=0.98)
    if map_rows:
        _map_grid(fig, outer[0].subgridspec(map_rows, columns, wspace=0.04, hspace=0.04),
                  result, image)
    lower = outer[1].subgridspec(max(curve_rows, 1), len(METRICS), hspace=0.75, wspace=0.25)
    for row, test in enumerate(tests):
        _curves(fig, lower, result, test, row)
    if has_data:
        _data_bars(fig, lower, result, len(tests))
    handles, labels = fig.axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=7,
               frameon=False)
    fig.suptitle("Sanity checks (Adebayo et al. 2018): maps after randomising the model",
                 fontsize=9, y=0.995)
    atomic_write_with(Path(path), lambda h: fig.savefig(h, format="png", dpi=dpi))
    plt.close(fig)
    return Path(path)
