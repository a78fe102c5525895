"""Every paper recipe shrunk to seconds on its small tree (tests/app/test_experiments.py)."""

# Shrinks a recipe to seconds on a 2-core CPU without changing what it computes.
TINY = ("model.weights=null", "data.input_size=64", "data.batch_size=6", "data.num_workers=0",
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
    # recipes explain torchvision's pretrained classifier and have no train stage).
    "imagenet_vgg16_gradcam": ("imagenet_tree",
                               ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                                "cam.topk=5", "cam.batch_size=6"),
                               ("loc/top1_loc_err", "loc/top5_loc_err", "cls/top1_err")),
    "imagenet_resnet50_cam": ("imagenet_tree",
                              ("stages=[train,cam,localize,evaluate]", "data.train_split=val",
                               "cam.batch_size=6"),
                              ("loc/maxboxacc_v2", "loc/maxboxacc@70")),
    "voc07_corloc": ("voc2007_tree", ("cam.batch_size=6",), ("loc/corloc", "loc/maxboxacc")),
}
