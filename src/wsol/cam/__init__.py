"""Class activation maps: the GradCAM engine, multi-scale/flip TTA and the on-disk CAM store."""

from wsol.cam.engine import GradCAM
from wsol.cam.methods import METHODS
from wsol.cam.store import CamStore
from wsol.cam.tta import multiscale_cams

__all__ = ["GradCAM", "METHODS", "CamStore", "multiscale_cams"]
