"""A pinned cam.store_dir scored with no model is read as the maps it holds: its map settings
(cam.classes / cam.topk, cam.method, ...) must be the ones asked for (F1 of the third
exploratory pass, D4 of the fourth)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.runs import build

from wsol.app.cam_cache import store_for_reading
from wsol.cam import CamStore
from wsol.errors import ConfigError


def _store(directory, classes: str, topk: int, method: str = "gradcam") -> None:
    store = CamStore(directory, {"cam": {"classes": classes, "topk": topk, "method": method}},
                     key="k")
    store.write("000000", np.ones((1, 4, 4), np.float32), [0], (8, 8))


@pytest.mark.parametrize(("made", "asked", "match"), [
    (("gt", 1), ("topk", 1), r"\(classes: stored 'gt', requested 'topk'\).*with cam.classes=gt"),
    (("topk", 1), ("topk", 5), r"\(topk: stored 1, requested 5\).* with cam.topk=1"),
    (("topk", 5), ("gt", 5), r"classes: stored 'topk', requested 'gt'")])
def test_another_class_rule_is_refused(tmp_path, made, asked, match):
    _store(tmp_path / "maps", *made)
    run = build(tmp_path / "run", "stages=[evaluate]", f"cam.store_dir={tmp_path / 'maps'}",
                f"cam.classes={asked[0]}", f"cam.topk={asked[1]}")
    with pytest.raises(ConfigError, match=match):
        store_for_reading(run)


def test_the_same_rule_or_no_manifest_is_scored_as_it_is(tmp_path):
    _store(tmp_path / "maps", "gt", 1)
    run = build(tmp_path / "run", "stages=[evaluate]", f"cam.store_dir={tmp_path / 'maps'}",
                "cam.topk=7")  # top-k means nothing to ground-truth maps
    assert store_for_reading(run) == tmp_path / "maps"
    bare = tmp_path / "bare"
    CamStore(bare).write("000000", np.ones((1, 4, 4), np.float32), [0], (8, 8))
    (bare / "manifest.json").unlink()
    run = build(tmp_path / "run2", "stages=[evaluate]", f"cam.store_dir={bare}",
                "cam.classes=topk")
    assert store_for_reading(run) == bare


def test_maps_of_another_method_are_not_labelled_with_the_typed_one(tmp_path):
    _store(tmp_path / "maps", "gt", 1, method="gradcam")
    run = build(tmp_path / "run", "stages=[evaluate]", f"cam.store_dir={tmp_path / 'maps'}",
                "cam.method=layercam")
    with pytest.raises(ConfigError, match=r"method: stored 'gradcam', requested 'layercam'.*"
                                          r"Score them with cam.method=gradcam"):
        store_for_reading(run)
