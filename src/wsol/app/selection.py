"""wsolevaluation's protocol in a run: thresholds chosen on ``eval.select_split``, scored on
``data.cam_split``.

With ``eval.select_split=val`` (train-fullsup) the cam stage also makes the maps of that split
and the evaluate stage scores it first: its own metrics go to metrics.json under ``val/``, the
CAM threshold best on it (per IoU delta for boxes, by foreground IoU for masks) is applied to
the scored split, and ``protocol/chosen_on`` / ``protocol/scored_on`` say which split did what.
The selection split is a second :class:`Run` over the same classifier and settings whose
``data.cam_split`` is the selection split; its files live in ``<run_dir>/select_<split>/``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wsol.app.build import DataSource, Run
from wsol.metrics.selection import boxacc_at, chosen_thresholds, pixel_iou_curve


def selection_run(run: Run) -> Run | None:
    """The run of ``eval.select_split`` (memoised), or None when no split selects."""
    split = run.config.eval.select_split
    if not split:
        return None
    if "selection" not in run._memo:
        config = replace(run.config, data=replace(run.config.data, cam_split=split),
                         eval=replace(run.config.eval, select_split=None))
        data = DataSource(config.data, run.data.root, run.data._splits)  # splits read once
        # the selection maps go to the keyed cache: a pinned cam.store_dir holds the scored
        # split's maps, whose manifest would refuse another split's
        run._memo["selection"] = Run(config, run.run_dir / f"select_{split}", data,
                                     run.classifier, run.cache_dir, None)
    return run._memo["selection"]


def selection_metrics(select_suite, scored_suite, split: str, scored: str,
                      select_metrics: dict[str, float]) -> dict[str, float | str]:
    """metrics.json entries of the protocol: the selection split's own metrics (``val/...``),
    the thresholds it chose and what they score on the scored split (``protocol/...``)."""
    out: dict[str, float | str] = {f"{split}/{k}": v for k, v in select_metrics.items()
                                   if k.startswith(("loc/", "cls/", "seg/"))}
    out["protocol/chosen_on"] = split
    out["protocol/scored_on"] = scored
    grid = scored_suite.cam_grid
    if select_suite.pairs and scored_suite.pairs:
        chosen = chosen_thresholds(select_suite.boxes.curves(), grid)
        scores = boxacc_at(scored_suite.boxes.curves(), grid, chosen)
        for delta, tau in chosen.items():
            out[f"protocol/threshold@{delta}"] = round(tau, 4)
            out[f"protocol/boxacc@{delta}"] = round(scores[delta], 2)
        ev = scored_suite.ev  # all contours and IoU {30, 50, 70}: the operating MaxBoxAccV2
        v2 = ev.multi_contour and sorted(ev.iou_thresholds) == [30, 50, 70]
        mean = round(float(np.mean(list(scores.values()))), 2)
        out["protocol/boxacc_v2" if v2 else "protocol/boxacc_mean"] = mean
    if select_suite.has_masks and scored_suite.has_masks:
        val = select_suite.pxap.curves()
        test = scored_suite.pxap.curves()
        index = int(np.argmax(pixel_iou_curve(val["precision"], val["recall"])))
        out["protocol/mask_threshold"] = round(float(grid[index]), 4)
        out["protocol/pixel_iou"] = round(float(
            pixel_iou_curve(test["precision"], test["recall"])[index]), 2)
    return out
