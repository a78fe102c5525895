"""The generated demo dataset: shapes scenes written as a real PASCAL VOC tree (and COCO JSON)."""
