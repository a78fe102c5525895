"""Scoring a folder of label PNGs (another method's pseudo-labels) needs no maps and no model."""

from __future__ import annotations

import json

import pytest
from helpers.runs import run_pipeline


@pytest.mark.parametrize("weights", ["default", "null"])
def test_voc_recipe_scores_a_seeds_folder_without_maps_or_weights(tiny_voc_tree, tmp_path,
                                                                   monkeypatch, weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # no ImageNet file
    extra = ["model.weights=null"] if weights == "null" else []
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, "experiment=voc_resnet", f"data.root={tiny_voc_tree}",
                           "stages=[evaluate]",
                           f"eval.seeds_dir={tiny_voc_tree / 'SegmentationClass'}", *extra)
    assert metrics["seeds/miou"] == 100.0  # the ground truth scored as seeds is perfect
    assert "seg/miou" not in metrics and "loc/maxboxacc" not in metrics  # no maps were read
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics


def test_a_missing_seeds_folder_stops_before_scoring(tiny_voc_tree, tmp_path):
    from wsol.errors import DataError

    with pytest.raises(DataError, match="eval.seeds_dir"):
        run_pipeline(tmp_path / "run", "experiment=voc_resnet", f"data.root={tiny_voc_tree}",
                     "stages=[evaluate]", f"eval.seeds_dir={tmp_path / 'nope'}")
    assert not (tmp_path / "run" / "metrics.json").exists()
