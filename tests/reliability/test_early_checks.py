"""Bad settings stop a run before its first stage; results are readable by collaborators."""

from __future__ import annotations

import os
import stat

import numpy as np
from helpers.cli import error_lines, run_cli

from wsol.cam import CamStore
from wsol.io.atomic import FILE_MODE, atomic_write_json


def test_bad_eval_threshold_stops_before_training(voc, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("experiment=voc_resnet", f"data.root={voc}", "data.train_split=train",
                     "model.weights=null", "stages=[train,cam,localize]",
                     "eval.box_threshold=-0.2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "eval.box_threshold" in lines[0], result.stderr[-2000:]
    assert not (run_dir / "model.pt").exists()  # no training happened


def test_results_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    assert FILE_MODE == 0o666 & ~mask
    atomic_write_json(tmp_path / "metrics.json", {"a": 1})
    store = CamStore(tmp_path / "cams")
    store.write("img", np.ones((1, 4, 4), np.float32), [0], (4, 4))
    for path in (tmp_path / "metrics.json", next((tmp_path / "cams").glob("*.npz"))):
        assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE, path
