"""Dataset format readers (PASCAL VOC, COCO, ILSVRC) behind one record interface
(:mod:`wsol.datasets.records`); no torch, no config."""
