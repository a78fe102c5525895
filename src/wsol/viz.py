"""Pictures a person would rather look at than read: heatmap overlays with boxes.

The example figure follows the spirit of the Grad-CAM paper's Figure 1: each row is one image,
then one heatmap overlay per ground-truth class, with the predicted box (yellow, dashed) and
the ground-truth boxes of that class (green).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsol.errors import DataError
from wsol.io.atomic import atomic_write_with


def overlay_heatmap(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a ``(H,W)`` map in [0,1] (jet colours) over an ``(H,W,3)`` uint8 RGB image."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](np.clip(cam, 0.0, 1.0))[..., :3]
    blended = (1 - alpha) * image.astype(np.float32) / 255.0 + alpha * colours
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)


def _draw_box(ax, box: Sequence[int], colour: str, style: str = "-") -> None:
    import matplotlib.patches as patches

    x0, y0, x1, y1 = (int(v) for v in box)
    ax.add_patch(patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False,
                                   edgecolor=colour, linewidth=1.5, linestyle=style))


def save_example_grid(
    path: Path,
    rows: Sequence[dict],
    class_names: Sequence[str],
) -> None:
    """Save a grid figure; each row dict has ``image`` (H,W,3) uint8, ``image_id``, and ``panels``:
    a list of ``(class_id, cam (H,W) in [0,1], predicted_box (4,), gt_boxes (M,4))``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 + max((len(r["panels"]) for r in rows), default=0)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols, 2.2 * len(rows)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, row in enumerate(rows):
        axes[r, 0].imshow(row["image"])
        # an id is data: "$...$" in it must not be parsed as mathtext (a parse error)
        axes[r, 0].set_title(row["image_id"], fontsize=7, parse_math=False)
        for c, (class_id, cam, box, gt_boxes) in enumerate(row["panels"], start=1):
            ax = axes[r, c]
            ax.imshow(overlay_heatmap(row["image"], cam))
            for gt in gt_boxes:
                _draw_box(ax, gt, "lime")
            _draw_box(ax, box, "yellow", "--")
            ax.set_title(class_names[class_id], fontsize=7, parse_math=False)
    fig.suptitle("Grad-CAM per ground-truth class (green: GT box, yellow dashed: predicted)",
                 fontsize=8)
    fig.tight_layout()
    atomic_write_with(Path(path), lambda handle: fig.savefig(handle, format="png", dpi=110))
    plt.close(fig)


def save_example_figures(path: Path, store, images, class_names: Sequence[str],
                         num_figures: int, box_protocol: str,
                         box_threshold: float | None
                         ) -> Path | None:
    """Figure of the first ``num_figures`` scored images into ``path`` (a PNG).

    store: a :class:`~wsol.cam.CamStore`; images: the scored split
    (:class:`~wsol.datasets.records.LabelledImages`); boxes by ``box_protocol`` at
    ``box_threshold`` (None: the protocol's own; see :func:`wsol.localize.box_from_protocol`).
    """
    from wsol.localize import box_from_protocol

    index_of = {image_id: i for i, image_id in enumerate(images.ids)}
    ids = list(images.ids)[: int(num_figures)]  # the split's, never the store's files
    if not ids:
        return None
    rows = []
    for image_id in ids:
        index = index_of[image_id]
        image = images.image(index)
        cams, class_ids = store.read(image_id)
        if cams.shape[-2:] != image.shape[:2]:
            raise DataError(f"Image {images.image_path(image_id)} is {image.shape[1]}x"
                            f"{image.shape[0]} but its maps in {store.directory} were made for "
                            f"a {cams.shape[-1]}x{cams.shape[-2]} image: the image changed "
                            f"after the maps were made. Rerun the cam stage into a fresh store "
                            f"(delete {store.directory}).")
        ann = images.annotations[index]
        panels = []
        for cam, class_id in zip(cams, class_ids.tolist(), strict=True):
            box = box_from_protocol(cam, box_protocol, threshold=box_threshold)
            panels.append((class_id, cam, box, ann.boxes[ann.box_labels == class_id]))
        rows.append({"image_id": image_id, "image": image, "panels": panels})
    save_example_grid(path, rows, class_names)
    return path
