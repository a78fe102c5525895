"""Re-derivation of wsolevaluation's CAM evaluation (clovaai/wsolevaluation), for parity tests.

Written from reading data_loaders.py (the test transform), wsol/resnet.py (ResNetCam's
``return_cam``), inference.py (CAMComputer: bicubic resize, normalize_scoremap) and
evaluation.py (resize_bbox, compute_bboxes_from_scoremaps, calculate_multiple_iou,
BoxEvaluator); independent of wsol: numpy, PIL, OpenCV and torch primitives only.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
RESIZE = 224


def val_transform(path) -> torch.Tensor:
    """Resize((224, 224)) on the PIL image (bilinear), ToTensor, Normalize: (3, 224, 224)."""
    image = Image.open(path).convert("RGB").resize((RESIZE, RESIZE), Image.BILINEAR)
    x = np.asarray(image, np.float32) / 255.0
    return torch.from_numpy(((x - MEAN) / STD).transpose(2, 0, 1).copy())


def resnet_cam(stages, fc_weight: torch.Tensor, image: torch.Tensor, label: int) -> np.ndarray:
    """ResNetCam.forward(x, labels, return_cam=True): (w_c · feature_map).mean over channels,
    no ReLU: float32 (h, w)."""
    with torch.no_grad():
        feature_map = stages(image[None])
        weights = fc_weight[[label]]
        cams = (weights.view(*feature_map.shape[:2], 1, 1) * feature_map).mean(1)
    return cams[0].numpy()


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """inference.normalize_scoremap (in place on a copy)."""
    cam = cam.copy()
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def scoremap(cam: np.ndarray) -> np.ndarray:
    """CAMComputer: cv2.resize(cam, (224, 224), INTER_CUBIC) then normalize_scoremap."""
    return normalize_scoremap(cv2.resize(cam, (RESIZE, RESIZE), interpolation=cv2.INTER_CUBIC))


def resize_bbox(box, image_size, resize_size) -> tuple[int, int, int, int]:
    """evaluation.resize_bbox: image_size / resize_size are (width, height)."""
    x0, y0, x1, y1 = map(float, box)
    w, h = map(float, image_size)
    nw, nh = map(float, resize_size)
    return int(x0 * nw / w), int(y0 * nh / h), int(x1 * nw / w), int(y1 * nh / h)


def boxes_at_thresholds(score: np.ndarray, thresholds, multi_contour: bool) -> list:
    """evaluation.compute_bboxes_from_scoremaps: one (n, 4) array per threshold."""
    height, width = score.shape
    image = np.expand_dims((score * 255).astype(np.uint8), 2)
    out = []
    for threshold in thresholds:
        _, binary = cv2.threshold(src=image, thresh=int(threshold * np.max(image)), maxval=255,
                                  type=cv2.THRESH_BINARY)
        contours = cv2.findContours(image=binary, mode=cv2.RETR_TREE,
                                    method=cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.asarray([[0, 0, 0, 0]]))
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        out.append(np.asarray(boxes))
    return out


def multiple_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """evaluation.calculate_multiple_iou (inclusive pixel areas)."""
    a, b = a[:, None, :], b[None, :, :]
    ix = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    iy = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = ix * iy
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


class BoxEvaluator:
    """evaluation.BoxEvaluator's accumulate / compute for already-resized GT boxes."""

    def __init__(self, interval: float = 0.001, iou_thresholds=(30, 50, 70),
                 multi_contour: bool = True) -> None:
        self.thresholds = list(np.arange(0, 1, interval))
        self.deltas = iou_thresholds
        self.multi_contour = multi_contour
        self.correct = {d: np.zeros(len(self.thresholds)) for d in iou_thresholds}
        self.count = 0

    def accumulate(self, score: np.ndarray, gt_boxes) -> None:
        per_threshold = boxes_at_thresholds(score, self.thresholds, self.multi_contour)
        counts = [len(b) for b in per_threshold]
        ious = multiple_iou(np.concatenate(per_threshold), np.asarray(gt_boxes)).max(1)
        best, start = [], 0
        for n in counts:
            best.append(ious[start:start + n].max())
            start += n
        for delta in self.deltas:
            self.correct[delta][np.asarray(best) >= delta / 100] += 1
        self.count += 1

    def compute(self) -> dict[int, float]:
        """MaxBoxAcc per delta (percent)."""
        return {d: float((self.correct[d] * 100.0 / self.count).max()) for d in self.deltas}
