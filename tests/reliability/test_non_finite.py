"""Numbers that are not finite never reach a file: a NaN checkpoint is refused when loaded, a
model whose logits or maps overflow stops the cam stage naming it (no all-zero maps, no exit
0), the store refuses such maps, and JSON outputs stay strict (no NaN / Infinity)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.cli import error_lines, run_cli

from wsol.app.pipeline import run
from wsol.cam import CamStore
from wsol.cam.finite import require_finite
from wsol.datasets.voc_format import write_voc_mask
from wsol.errors import WeightsError
from wsol.io.atomic import atomic_write_json
from wsol.models.checkpoint import load_classifier, state_dict_sha256

from .conftest import SIZE, compose_run, tiny_checkpoint, voc_overrides


def _edit(path, key: str, value: float):
    payload = torch.load(path, weights_only=True)
    payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], value)
    payload["state_dict_sha256"] = state_dict_sha256(payload["state_dict"])  # as training saves
    torch.save(payload, path)
    return path


def test_a_checkpoint_with_nan_weights_is_refused_naming_the_tensor(tmp_path):
    path = _edit(tiny_checkpoint(tmp_path / "model.pt"), "layer1.0.conv1.weight", float("nan"))
    with pytest.raises(WeightsError) as err:
        load_classifier(path)
    assert str(err.value).startswith(f"{path} is a damaged wsol checkpoint: tensor "
                                     f"'layer1.0.conv1.weight' holds NaN or infinite values")


def test_overflowing_logits_stop_the_cam_stage_and_write_no_map(voc, tmp_path):
    model = _edit(tiny_checkpoint(tmp_path / "model.pt"), "fc.weight", 3e38)  # finite, overflows
    overrides = voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                              f"model.checkpoint={model}", "cam.scales=[1.0]", "cam.flip=false",
                              "cam.image_size=square", "cam.protocol=default", "stages=[cam]")
    with pytest.raises(WeightsError) as err:
        run(compose_run(*overrides))
    assert str(err.value).startswith(f"The model {model} gives non-finite logits (NaN or "
                                     f"infinity) for image 'a' (2 of 2 in its batch)")
    assert not list((tmp_path / "cache").rglob("*.npz"))  # never all-zero maps


def test_require_finite_names_the_first_bad_image_and_suggests_fp32_for_half_precision():
    logits = torch.zeros(3, 4)
    maps = [torch.zeros(1, 2, 2), torch.zeros(2, 2, 2), torch.zeros(1, 2, 2)]
    require_finite(logits, maps, ["x", "y", "z"], "m.pt", "fp32")  # all finite: no error
    maps[1][1, 0, 0] = float("inf")
    with pytest.raises(WeightsError, match=r"non-finite maps .* image 'y' \(1 of 3 .*"
                                           r"cam\.precision=fp32 \(fp16 overflowed\?\)"):
        require_finite(logits, maps, ["x", "y", "z"], "m.pt", "fp16")


def test_the_store_and_json_writers_refuse_non_finite_numbers(tmp_path):
    store = CamStore(tmp_path / "store")
    with pytest.raises(ValueError, match="NaN or infinite"):
        store.write("a", np.full((1, 2, 2), np.nan), [0], (2, 2))
    assert not store.has("a")
    with pytest.raises(ValueError, match="refusing to write .*boxes.json.*not JSON compliant"):
        atomic_write_json(tmp_path / "boxes.json", [{"score": float("nan")}])
    assert not (tmp_path / "boxes.json").exists()
    atomic_write_json(tmp_path / "boxes.json", [{"score": 0.5}])
    assert json.loads((tmp_path / "boxes.json").read_text()) == [{"score": 0.5}]


@pytest.mark.slow
def test_a_nan_checkpoint_exits_2_with_one_line(voc, tmp_path):
    model = _edit(tiny_checkpoint(tmp_path / "model.pt"), "fc.bias", float("nan"))
    result = run_cli("experiment=voc_resnet", f"data.root={voc}", f"model.checkpoint={model}",
                     "model.weights=null", "stages=[cam]", f"paths.cache_dir={tmp_path / 'c'}",
                     f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"wsol: error: {model} is a damaged wsol "
                                                   f"checkpoint: tensor 'fc.bias' holds NaN")
    assert not list((tmp_path / "c").rglob("*.npz"))


def test_metrics_undefined_on_the_split_are_left_out_named_never_nan(voc, tmp_path, caplog):
    for image_id in ("a", "b"):  # every ground-truth pixel ignored: seed mIoU and PxAP undefined
        write_voc_mask(voc / "SegmentationClass" / f"{image_id}.png",
                       np.full((SIZE[1], SIZE[0]), 255, np.uint8))
    store = CamStore(tmp_path / "pinned")
    for image_id in ("a", "b"):
        store.write(image_id, np.ones((1, 8, 10), np.float32), [11], (SIZE[1], SIZE[0]), [0.5])
    metrics = run(compose_run(*voc_overrides(voc, tmp_path, "experiment=voc_resnet",
                                             "model.weights=null", "stages=[evaluate]",
                                             f"cam.store_dir={tmp_path / 'pinned'}")))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text(),
                         parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert written == metrics and "loc/maxboxacc" in written
    assert "seg/miou" not in written and "loc/pxap" not in written
    assert "left out of metrics.json" in caplog.text and "seg/miou" in caplog.text
