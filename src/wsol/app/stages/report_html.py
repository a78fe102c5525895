"""``report.html`` of a run: gathers what the earlier stages wrote into a browsable page.

Reads ``metrics.json``, ``per_class.json``, ``class_ap.json``, ``per_pair.csv``,
``figures/*.png``, ``sanity.csv`` / ``figures/sanity.png`` and, for the gallery, the CAM store
and the split's images. A part whose files are missing is left out with a note saying which
stage makes it. Gallery thumbnails go to ``report_files/`` beside the page.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from wsol.app.build import Run
from wsol.app.cam_cache import store_for_reading
from wsol.app.map_classes import predicted
from wsol.app.run_record import numbers_record, read_run_info
from wsol.cam import CamStore
from wsol.errors import WsolError
from wsol.io.atomic import atomic_write_text
from wsol.io.manifest import load_json_dict
from wsol.localize import (
    box_from_protocol,
    boxes_from_cam,
    normalize_scoremap,
    protocol_threshold,
    seed_from_cams,
)
from wsol.report.gallery import gallery_strip, pick_gallery, read_pairs, write_jpeg
from wsol.report.html import Card, Page, Table, render_page

log = logging.getLogger(__name__)
FILES = "report_files"
FAITH = (("deletion_auc", "deletion AUC ↓"), ("insertion_auc", "insertion AUC ↑"),
         ("avg_drop", "Average Drop ↓"), ("avg_increase", "Increase in Confidence ↑"))
SANITY = (("spearman", "Spearman"), ("spearman_abs", "Spearman |map|"), ("ssim", "SSIM"),
          ("hog", "HOG"))
SANITY_TEXT = (
    "Adebayo et al. (2018): each method's maps of the trained model compared with the maps "
    "of copies whose weights were redrawn, from the logits down block by block (cascading) "
    "or one block at a time (independent), and, if run, with a model trained on permuted "
    "labels (data). Values: mean similarity over the test's steps and images (1 = the map "
    "does not change when the model does). A map that explains the model should fall towards "
    "0; one that stays high (Guided Backprop typically) shows the image's edges, whatever the "
    "model learned.")


def _json(path: Path) -> dict:
    return load_json_dict(path) or {}  # absent or damaged: the page says what is missing


def _headline(metrics: dict[str, float]) -> Table | None:
    from wsol.app.pipeline import SUMMARY_ROWS

    rows = [[label, metrics[key], metrics.get(at) if at else None, key]
            for key, label, at in SUMMARY_ROWS if key in metrics]
    return Table(["metric", "%", "at τ", "key"], rows, "Headline", filterable=False) \
        if rows else None


def _faith_table(metrics: dict[str, float]) -> Table | None:
    methods = sorted({k.split("/")[1] if not k.startswith("faith/baseline") else
                      "baseline/center" for k in metrics if k.startswith("faith/")} - {"pairs"})
    rows = [[m, *[metrics.get(f"faith/{m}/{key}") for key, _ in FAITH]] for m in methods]
    caption = f"Faithfulness over {int(metrics.get('faith/pairs', 0))} (image, class) pairs, %"
    return Table(["method", *[label for _, label in FAITH]], rows, caption, False) \
        if rows else None


def _class_table(run_dir: Path) -> Table | None:
    per_class, ap = _json(run_dir / "per_class.json"), _json(run_dir / "class_ap.json")
    if not per_class:
        return None
    keys = ("pairs", "pxap", "maxboxacc", "best_threshold", "boxacc", "seed_iou",
            "seed_iou_best")
    heads = ["class", "pairs", "classifier AP", "PxAP", "MaxBoxAcc", "its τ",
             "BoxAcc at best τ", "seed IoU", "seed IoU, best τ"]
    rows = [[name, int(row.get("pairs", 0)), ap.get(name), *[row.get(k) for k in keys[1:]]]
            for name, row in per_class.items()]
    # a column no class has a value for (classifier AP without a train stage, the seed
    # columns without masks) is left out rather than shown empty
    keep = [i for i in range(len(heads)) if any(r[i] is not None for r in rows)]
    return Table([heads[i] for i in keep], [[r[i] for i in keep] for r in rows],
                 "Per class (%; box accuracy at IoU 0.5)")


def _sanity_table(metrics: dict[str, float]) -> Table | None:
    groups = sorted({tuple(k.split("/")[1:3]) for k in metrics if k.startswith("sanity/")
                     and k.count("/") == 3})
    rows = [[test, method, *[metrics.get(f"sanity/{test}/{method}/{m}") for m, _ in SANITY]]
            for test, method in groups]
    return Table(["test", "method", *[label for _, label in SANITY]], rows,
                 "Mean similarity to the trained model's maps") if rows else None


def _gallery(run: Run, metrics: dict[str, float], page: Page) -> None:
    cfg = run.config
    pairs_path = run.run_dir / "per_pair.csv"
    if not pairs_path.is_file() or "loc/best_threshold" not in metrics:
        page.notes["gallery"] = "No per_pair.csv: run the evaluate stage on CAMs first."
        return
    try:
        store_path = store_for_reading(run)
    except WsolError:
        store_path = None
    if store_path is None or not store_path.is_dir():
        page.notes["gallery"] = "The CAM store of this configuration is gone; rerun the cam stage."
        return
    store, images = CamStore(store_path), run.data.open(cfg.data.cam_split)
    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    tau, ev = metrics["loc/best_threshold"], cfg.eval
    folder = run.run_dir / FILES
    if folder.is_dir():
        shutil.rmtree(folder)  # only this stage writes there: no stale thumbnails
    picked = pick_gallery(read_pairs(pairs_path), cfg.report.gallery_per_class)
    for n, (row, tag) in enumerate(picked):
        index = index_of[row.image_id]
        cams, class_ids = store.read(row.image_id)
        cam = cams[class_ids.tolist().index(row.class_id)]
        ann = images.annotations[index]
        strip = gallery_strip(
            images.image(index), normalize_scoremap(cam), row.class_id,
            ann.boxes[ann.box_labels == row.class_id],
            boxes_from_cam(normalize_scoremap(cam), [tau], ev.multi_contour)[0],
            box_from_protocol(cam, ev.box_protocol, threshold=ev.box_threshold),
            seed_from_cams(*predicted(cams, class_ids, cfg.cam), ev.bg_threshold),
            cfg.report.thumb_height)
        name = f"{n:05d}.jpg"
        write_jpeg(folder / name, strip)
        page.cards.append(Card(f"{FILES}/{name}", strip.shape[1], strip.shape[0],
                               row.image_id, row.class_name, tag, row.iou_best,
                               row.iou_protocol, row.seed_iou))
    per = cfg.report.gallery_per_class
    box_tau = protocol_threshold(ev.box_protocol, ev.box_threshold)
    page.gallery_note = (
        f"{'Every' if per is None else f'The {per} best and {per} worst'} (image, class) pairs "
        f"per class, ranked by the IoU of the box at the best threshold τ = {tau:.2f}. Panels: "
        "image with ground truth (green); map with the boxes at the best τ (yellow) and of "
        f"the {ev.box_protocol} protocol at {box_tau:.2f} (magenta); seeds at "
        f"background τ = {ev.bg_threshold:.2f} (the class's seed outlined in white).")


def write_report_html(run: Run) -> Path:
    """Write ``report.html`` (and its thumbnails) into the run directory; returns its path."""
    cfg, run_dir = run.config, run.run_dir
    metrics = _json(run.metrics_path)
    info = read_run_info(run_dir)
    made_by = numbers_record(info)  # the numbers' command, not the last one
    page = Page(title=f"wsol report · {run_dir.name}",
                subtitle=f"{run_dir} · data {cfg.data.name} ({cfg.data.cam_split}) · model "
                         f"{cfg.model.arch} · cam.method {cfg.cam.method} · "
                         f"{made_by.get('command', '')}")
    every = Table(["key", "value"], [[k, v] for k, v in sorted(metrics.items())],
                  "All metrics (metrics.json)") if metrics else None
    page.summary = [t for t in (_headline(metrics), _faith_table(metrics), every) if t]
    page.per_class = _class_table(run_dir)
    for name, caption in (("curves.png", "Threshold curves: BoxAcc vs CAM threshold, seed "
                           "mIoU vs background threshold (dots: best)"),
                          ("examples.png", "First images of the split")):
        path = run.figures_dir / name
        if path.is_file():
            page.figures.append((caption, path.read_bytes()))
    if (run.figures_dir / "sanity.png").is_file():
        page.sanity_figure = (run.figures_dir / "sanity.png").read_bytes()
    page.sanity_table, page.sanity_text = _sanity_table(metrics), SANITY_TEXT
    page.notes.update(summary="No metrics.json yet: run the evaluate stage.",
                      classes="No per_class.json: run the evaluate stage on CAMs.",
                      curves="No figures: run the evaluate stage.",
                      sanity="No sanity results: add sanity to stages.")
    _gallery(run, metrics, page)
    html = render_page(page)
    atomic_write_text(run_dir / "report.html", html)
    log.info("report: %s (%d gallery pairs)", run_dir / "report.html", len(page.cards))
    return run_dir / "report.html"

