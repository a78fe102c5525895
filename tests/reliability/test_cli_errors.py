"""Bad inputs through the real entry point: exit status 2, one line on stderr, no partial file."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.cli import error_lines, run_cli

from wsol.cam import CamStore

pytestmark = pytest.mark.slow  # each test starts scripts/run.py


def test_a_checkpoint_that_is_not_one_stops_the_cam_stage(voc, tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(bytes(range(256)) * 4)
    run_dir = tmp_path / "run"
    result = run_cli("experiment=voc_resnet", f"data.root={voc}", f"model.checkpoint={bogus}",
                     "stages=[cam]", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("wsol: error: ") and f"{bogus} is not a wsol checkpoint" in lines[0]
    assert "model.checkpoint" in lines[0]
    assert not list(run_dir.glob("cams/*.npz"))  # nothing a later stage could read


def test_a_background_threshold_above_one_stops_before_any_seed_is_written(tmp_path):
    store_dir = tmp_path / "cams"
    cam = np.zeros((1, 8, 8), np.float32)
    cam[0, 2:5, 2:5] = 1.0
    CamStore(store_dir).write("img", cam, [0], (8, 8))
    run_dir = tmp_path / "run"
    result = run_cli("stages=[localize]", f"cam.store_dir={store_dir}", "eval.bg_threshold=1.5",
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("wsol: error: eval.bg_threshold=1.5 is not allowed") \
        and "[0, 1]" in lines[0]
    assert not (run_dir / "seeds").exists() and not (run_dir / "boxes.json").exists()
