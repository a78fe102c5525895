"""The randomisation tests: every method's maps, trained model vs each randomised model.

For each test step the similarity of the trained model's map and the randomised model's map is
measured per image (same image, same class) and summarised over the N images as mean and
sample standard deviation. A row of the result is one (test, step, block, method, metric).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from wsol.sanity.maps import reference_maps, saliency_maps
from wsol.sanity.randomize import model_blocks, randomizations
from wsol.sanity.similarity import METRICS, similarities

CSV_COLUMNS = ("test", "step", "block", "method", "metric", "mean", "std", "n")
DATA_TEST = "data"  # the data randomisation test: a model trained on permuted labels


@dataclass
class SanityResult:
    """rows: dicts with test, step, block, method, metric, mean, std, n. reference: the trained
    model's maps of the first ``examples`` images per method (E, H, W); cascade: per cascading
    step, (block, those images' maps per method); skipped: method -> why it was left out;
    constant: method -> images whose trained-model map is constant (left out of its rows)."""

    methods: list[str]
    blocks: list[str]
    rows: list[dict] = field(default_factory=list)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    cascade: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    constant: dict[str, int] = field(default_factory=dict)  # method -> images left out

    def curve(self, test: str, method: str, metric: str) -> tuple[list[str], np.ndarray,
                                                                  np.ndarray]:
        """(blocks, means, stds) of one test, method and metric, in step order."""
        rows = sorted((r for r in self.rows if (r["test"], r["method"], r["metric"])
                       == (test, method, metric)), key=lambda r: r["step"])
        return ([r["block"] for r in rows], np.array([r["mean"] for r in rows]),
                np.array([r["std"] for r in rows]))

    def csv_text(self) -> str:
        """The rows as CSV: test, step, block, method, metric, mean, std, n."""
        lines = [",".join(CSV_COLUMNS)]
        for r in self.rows:
            lines.append(f"{r['test']},{r['step']},{r['block']},{r['method']},{r['metric']},"
                         f"{r['mean']:.6f},{r['std']:.6f},{r['n']}")
        return "\n".join(lines) + "\n"

    def summary(self) -> dict[str, float]:
        """``sanity/<test>/<method>/<metric>``: the mean similarity over the test's steps
        (1: the maps ignore the randomised weights; near 0: they depend on them)."""
        groups: dict[str, list[float]] = {}
        for r in self.rows:
            if r["n"]:  # steps where no image had a map to compare say nothing
                groups.setdefault(f"sanity/{r['test']}/{r['method']}/{r['metric']}",
                                  []).append(r["mean"])
        return {key: round(float(np.mean(values)), 4) for key, values in groups.items()}



def _compare(reference: dict[str, np.ndarray], maps: dict[str, np.ndarray], test: str,
             step: int, block: str) -> list[dict]:
    """Rows of one step. Images where the trained model's map is constant (a Grad-CAM whose
    ReLU leaves nothing: no explanation to compare) are left out of that method's mean; ``n``
    counts the images used (mean and std are NaN when none is left)."""
    rows = []
    for method, ref in reference.items():
        used = [i for i in range(len(ref)) if np.ptp(ref[i]) > 0]
        scores = [similarities(ref[i], maps[method][i]) for i in used]
        for metric in METRICS:
            values = np.array([s[metric] for s in scores])
            mean = float(values.mean()) if values.size else float("nan")
            std = float(values.std(ddof=1)) if values.size > 1 else \
                (0.0 if values.size else float("nan"))
            rows.append({"test": test, "step": step, "block": block, "method": method,
                         "metric": metric, "mean": mean, "std": std, "n": int(values.size)})
    return rows


def run_sanity(model: nn.Module, target_layer: str, images: torch.Tensor,
               classes: torch.Tensor, methods: Sequence[str],
               tests: Iterable[str] = ("cascading", "independent"), seed: int = 0,
               comparisons: Mapping[str, nn.Module] | None = None,
               examples: int = 1) -> SanityResult:
    """Run the randomisation ``tests`` on ``model`` (eval mode, not modified).

    images: (N, 3, H, W) normalised; classes: (N,) the class explained in each image; methods:
    CAM method names and/or ``guided_backprop`` / ``guided_gradcam`` (the ones the model
    cannot support are skipped, with the reason). comparisons: models for the data
    randomisation test (name -> model, e.g. a classifier trained on permuted labels), scored as
    test ``data`` with the name as its block. ``examples``: images whose maps are kept for the
    figure.
    """
    tests = tuple(tests)
    reference, skipped = reference_maps(model, target_layer, methods, images, classes)
    usable = [m for m in methods if m in reference]
    result = SanityResult(methods=usable, blocks=model_blocks(model), skipped=skipped)
    result.reference = {m: v[:examples] for m, v in reference.items()}
    result.constant = {m: int(sum(np.ptp(x) == 0 for x in v)) for m, v in reference.items()}
    for test in tests:
        if test == DATA_TEST:
            continue
        for step, block, twin in randomizations(model, test, seed):
            maps = saliency_maps(twin, target_layer, usable, images, classes)
            result.rows += _compare(reference, maps, test, step, block)
            if test == "cascading":
                result.cascade.append((block, {m: v[:examples] for m, v in maps.items()}))
    if DATA_TEST in tests:
        for step, (name, other) in enumerate((comparisons or {}).items(), start=1):
            maps = saliency_maps(other, target_layer, usable, images, classes)
            result.rows += _compare(reference, maps, DATA_TEST, step, name)
    return result
