"""Published numbers (from ../shared/REFERENCE.md) and the experiment that reproduces each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One published number and where ours comes from.

    ``experiment`` is the config that reproduces it (``None``: we have no such model or data
    recipe) and ``metric`` the key of that run's ``metrics.json``.
    """

    table: str
    setting: str
    metric_label: str
    published: float
    source: str
    experiment: str | None
    metric: str | None


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("Grad-CAM ILSVRC-15 val loc. error", "VGG-16, top-1", "loc. error %", 56.51,
             "Selvaraju et al. 2017", "imagenet_vgg16_gradcam", "loc/top1_loc_err"),
    PaperRow("Grad-CAM ILSVRC-15 val loc. error", "VGG-16, top-5", "loc. error %", 46.41,
             "Selvaraju et al. 2017", "imagenet_vgg16_gradcam", "loc/top5_loc_err"),
    PaperRow("Grad-CAM ILSVRC-15 val loc. error", "GoogLeNet, top-1", "loc. error %", 60.09,
             "Selvaraju et al. 2017", None, None),
    PaperRow("CAM ILSVRC val loc. error", "VGGnet-GAP, top-1", "loc. error %", 57.20,
             "Zhou et al. 2016", None, None),
    PaperRow("CAM ILSVRC val loc. error", "GoogLeNet-GAP, top-1", "loc. error %", 56.40,
             "Zhou et al. 2016", None, None),
    # The paper fine-tunes ResNet-50 for WSOL; our recipe explains torchvision's weights as is.
    PaperRow("wsolevaluation ImageNet", "CAM, ResNet-50", "MaxBoxAccV2 %", 63.7,
             "Choe et al. 2020", "imagenet_resnet50_cam", "loc/maxboxacc_v2"),
    PaperRow("wsolevaluation ImageNet", "CAM, VGG-16", "MaxBoxAccV2 %", 60.0,
             "Choe et al. 2020", None, None),
    PaperRow("wsolevaluation ImageNet", "centre baseline", "MaxBoxAccV2 %", 52.5,
             "Choe et al. 2020", "imagenet_resnet50_cam", "baseline/center/maxboxacc_v2"),
    PaperRow("wsolevaluation OpenImages", "CAM, ResNet-50", "PxAP %", 58.5,
             "Choe et al. 2020", None, None),
    PaperRow("IRN CAM seeds, VOC12 train", "ResNet-50, τ = 0.15", "mIoU %", 48.3,
             "Ahn et al. 2019", "voc_resnet", "seg/miou"),
    PaperRow("IRN CAM seeds, COCO14 train", "ResNet-50", "mIoU %", 33.1,
             "Ahn et al. 2019", "coco_resnet", "seg/miou"),
    # The IRN lineage past the seeds. IRN refines with its inter-pixel relation network (a
    # random walk); our pseudo stage applies IRN's fg 0.30 / bg 0.05 rule with the dense CRF
    # IRN uses for those seeds, so ours is the CAM + dCRF baseline beside IRN's number.
    PaperRow("IRN pseudo-labels, VOC12 train", "CAM + IRN (ours: CAM + dCRF, IRN's rule)",
             "mIoU %", 66.5, "Ahn et al. 2019, pseudo-label quality on train",
             "voc_wsss", "seg/pseudo_miou"),
    PaperRow("IRN segmentation, VOC12 val", "DeepLab, ResNet-50, on IRN's pseudo-labels",
             "mIoU %", 63.5, "Ahn et al. 2019, semantic segmentation table (test: 64.8)",
             "voc_wsss", "seg/val_miou"),
)
