"""Published numbers (from ../shared/REFERENCE.md) and the experiment that reproduces each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One published number and where ours comes from.

    ``experiment`` is the config that reproduces it (``None``: we have no such model or data
    recipe), ``NAME+METHOD`` for that config with ``model.wsol_method=METHOD``; ``metric`` the
    key of that run's ``metrics.json``.
    """

    table: str
    setting: str
    metric_label: str
    published: float
    source: str
    experiment: str | None
    metric: str | None


# wsolevaluation's README main table (main_table.png: the journal version's results on test,
# hyperparameters chosen on train-fullsup): CAM's number, and each training-time method's
# difference to it as the table prints it (so a method's number is CAM + that difference, to
# +-0.05), per backbone (VGG, Inception, ResNet); the last entry is the centre baseline.
WSOLEVAL_SOURCE = "Choe et al. 2020/2022, wsolevaluation main table"
WSOLEVAL_NETS = (("vgg16", "VGG-16"), ("inception_v3", "Inception-V3"), ("resnet50", "ResNet-50"))
WSOLEVAL_METHODS = {"cam": "CAM", "has": "HaS", "adl": "ADL", "cutmix": "CutMix"}
WSOLEVAL_DATASETS = {
    "ImageNet": ("ilsvrc", "MaxBoxAccV2 %", "loc/maxboxacc_v2", {
        "cam": (60.0, 63.4, 63.7), "has": (0.6, 0.3, -0.3), "adl": (-0.2, -2.0, 0.0),
        "cutmix": (-0.6, 0.5, -0.4)}, 52.5),
    "CUB": ("cub", "MaxBoxAccV2 %", "loc/maxboxacc_v2", {
        "cam": (63.7, 56.7, 63.0), "has": (0.0, -3.3, 1.7), "adl": (2.6, 2.1, -4.6),
        "cutmix": (-1.4, 0.8, -0.2)}, 59.7),
    "OpenImages": ("openimages", "PxAP %", "loc/pxap", {
        "cam": (58.3, 63.2, 58.5), "has": (-0.2, -5.1, -2.6), "adl": (0.4, -6.4, -3.3),
        "cutmix": (-0.2, -0.7, -0.8)}, 45.8),
}

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
    # The paper fine-tunes ResNet-50 for WSOL (ilsvrc_resnet50_cam below); this recipe explains
    # torchvision's ImageNet classifier as it is, on all of ILSVRC val.
    PaperRow("wsolevaluation ImageNet", "CAM, ResNet-50, torchvision weights as they are",
             "MaxBoxAccV2 %", 63.7, "Choe et al. 2020", "imagenet_resnet50_cam",
             "loc/maxboxacc_v2"),
    PaperRow("wsolevaluation ImageNet", "centre baseline", "MaxBoxAccV2 %", 52.5,
             "Choe et al. 2020", "imagenet_resnet50_cam", "baseline/center/maxboxacc_v2"),
    *(PaperRow(f"wsolevaluation {dataset}", "centre baseline", label, number, WSOLEVAL_SOURCE,
               f"{prefix}_resnet50_cam", f"baseline/center/{metric.split('/')[1]}")
      for dataset, (prefix, label, metric, _, number) in WSOLEVAL_DATASETS.items()
      if dataset != "ImageNet"),
    *(PaperRow(f"wsolevaluation {dataset}", f"{method_name}, {net_name}", label,
               round(table["cam"][i] + (table[method][i] if method != "cam" else 0.0), 1),
               WSOLEVAL_SOURCE, f"{prefix}_{net}_cam" + (f"+{method}" if method != "cam" else ""),
               metric)
      for dataset, (prefix, label, metric, table, _) in WSOLEVAL_DATASETS.items()
      for method, method_name in WSOLEVAL_METHODS.items()
      for i, (net, net_name) in enumerate(WSOLEVAL_NETS)),
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
