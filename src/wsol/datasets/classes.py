"""Class lists of the supported datasets and the resolver behind the ``data.classes`` key."""

from __future__ import annotations

from collections.abc import Sequence

from wsol.errors import ConfigError

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

# The embedded demo (wsol.demo.synthetic): the shape alone decides the class.
SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "hexagon", "heart", "crescent",
)

# MS COCO's 80 detection classes in category-id order (ids 1..90 with gaps -> indices 0..79).
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

# The category ids of COCO_CLASSES in the official instances files (1..90, ten ids unused).
COCO_CATEGORY_IDS: tuple[int, ...] = tuple(
    i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
)

NAMED_CLASS_LISTS: dict[str, tuple[str, ...]] = {
    "voc": VOC_CLASSES, "shapes": SHAPE_CLASSES, "coco": COCO_CLASSES,
}


def resolve_class_names(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The class names (classifier order, 0-based) for ``spec``.

    ``spec`` is a named list (``"voc"``, ``"shapes"``, ``"coco"``) or an explicit sequence of
    unique, non-empty names. ImageNet's wnids come from the dataset root
    (:func:`wsol.datasets.imagenet.imagenet_class_names`), not from here. Raises
    :class:`ConfigError` naming ``data.classes`` otherwise.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in NAMED_CLASS_LISTS:
            raise ConfigError(
                f"data.classes={spec!r} is not a known class list; use one of "
                f"{sorted(NAMED_CLASS_LISTS)} or give an explicit list of class names."
            )
        return NAMED_CLASS_LISTS[key]
    try:
        names = tuple(str(name).strip() for name in spec)
    except TypeError:
        raise ConfigError(
            f"data.classes={spec!r} must be 'voc', 'shapes', 'coco' or a list of class names."
        ) from None
    if not names or any(not name for name in names):
        raise ConfigError(f"data.classes={list(spec)!r}: give at least one non-empty class name.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"data.classes lists {duplicates} more than once; names must be unique.")
    return names
