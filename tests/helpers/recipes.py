"""Every paper recipe shrunk to seconds on its small tree (tests/app/test_experiments.py)."""

# Shrinks a recipe to seconds on a 2-core CPU without changing what it computes. IRN's lr 0.1
# assumes ImageNet weights: from random init with BatchNorm statistics fixed (model.recipe=irn)
# a ResNet-50 diverges in one step, hence the lower lr of the tiny runs.
TINY = ("model.weights=null", "model.lr=0.001", "data.input_size=64", "data.batch_size=6",
        "data.num_workers=0",
        "trainer.max_epochs=1", "trainer.accelerator=cpu",
        "eval.num_figures=2")

# experiment -> (tree fixture, extra overrides, metric keys its table needs)
RECIPES = {
    # IRN recipes: CAMs at each image's own size (the trees' images differ), one a batch
    "voc_resnet": ("voc2012_tree", ("cam.scales=[1.0,0.5]",),
                   ("seg/miou", "seg/miou_best", "loc/maxboxacc", "cls/map")),
    "coco_resnet": ("coco2014_tree", ("cam.scales=[1.0,0.5]",),
                    ("seg/miou", "seg/miou_best", "loc/maxboxacc")),
    # No train split on ImageNet val: the tiny runs train on val to get a checkpoint (the real
    # recipes explain torchvision's pretrained classifier and have no train stage; the stand-in
    # trains with model.recipe=default: IRN's fixed BatchNorm saturates a random-init
    # ResNet-50's sigmoid scores to 0).
    "imagenet_vgg16_gradcam": ("imagenet_tree",
                               ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                                "cam.topk=5", "cam.batch_size=6"),
                               ("loc/top1_loc_err", "loc/top5_loc_err", "cls/top1_err")),
    "imagenet_resnet50_cam": ("imagenet_tree",
                              ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                               "cam.batch_size=6", "model.recipe=default"),
                              ("loc/maxboxacc_v2", "loc/maxboxacc@70")),
    "voc07_corloc": ("voc2007_tree", ("cam.batch_size=6",), ("loc/corloc", "loc/maxboxacc")),
    # the IRN recipe past the seeds, its DeepLab shrunk to a quarter ResNet-18 from scratch
    "voc_wsss": ("voc2012_tree", ("cam.scales=[1.0,0.5]", "pseudo.crf.iterations=2",
                                  "segment.arch=resnet18_quarter", "segment.weights=null",
                                  "segment.max_epochs=1", "segment.crop_size=64",
                                  "segment.batch_size=4", "segment.test_scales=[1.0,0.5]"),
                 ("seg/miou", "seg/pseudo_miou", "seg/pseudo_ignored", "seg/val_miou")),
}
