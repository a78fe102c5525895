"""Score maps to boxes (wsolevaluation sweep, Grad-CAM / CAM protocols) and seed masks."""

from wsol.localize.boxes import (
    PROTOCOLS,
    box_from_protocol,
    boxes_from_cam,
    protocol_threshold,
    sweep_cam,
)
from wsol.localize.scoremap import check_scoremap, normalize_scoremap, quantize_scoremap
from wsol.localize.seeds import pseudo_label_from_cams, seed_from_cams
from wsol.localize.thresholds import check_thresholds, threshold_grid

__all__ = [
    "PROTOCOLS",
    "box_from_protocol",
    "boxes_from_cam",
    "check_scoremap",
    "check_thresholds",
    "normalize_scoremap",
    "protocol_threshold",
    "pseudo_label_from_cams",
    "quantize_scoremap",
    "seed_from_cams",
    "sweep_cam",
    "threshold_grid",
]
