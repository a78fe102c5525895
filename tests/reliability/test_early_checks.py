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


def test_a_value_out_of_range_stops_before_hydra_starts_and_before_torch_is_imported(tmp_path):
    """Most value rules read no library registry: a mistyped number costs well under a second,
    not the ~5 s of importing torch and torchvision (``-X importtime`` lists every import)."""
    import subprocess
    import sys

    from helpers.cli import SCRIPT

    result = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT),
                             "eval.bg_threshold=1.5", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "omegaconf" in imported  # the listing works
    assert "torch" not in imported and "torchvision" not in imported
    lines = [line for line in error_lines(result.stderr) if not line.startswith("import time:")]
    assert lines == ["wsol: error: eval.bg_threshold=1.5 is not allowed: use a background "
                     "score in [0, 1]."]
    assert not (tmp_path / "run").exists()  # stopped before Hydra made its run directory
