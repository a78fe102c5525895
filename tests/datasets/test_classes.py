import pytest

from wsol.datasets.classes import SHAPE_CLASSES, VOC_CLASSES, resolve_class_names
from wsol.errors import ConfigError


def test_named_lists():
    assert resolve_class_names("voc") == VOC_CLASSES
    assert resolve_class_names("SHAPES") == SHAPE_CLASSES
    assert len(VOC_CLASSES) == 20
    assert VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    assert len(SHAPE_CLASSES) == 8


def test_explicit_list_kept_in_order():
    assert resolve_class_names(["dog", "cat"]) == ("dog", "cat")


@pytest.mark.parametrize("spec", ["coco_typo", [], ["a", "a"], ["a", ""]])
def test_bad_specs_name_the_key(spec):
    with pytest.raises(ConfigError, match="data.classes"):
        resolve_class_names(spec)
