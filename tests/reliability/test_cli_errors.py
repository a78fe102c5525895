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


def test_paths_run_dir_on_the_command_line_is_refused_for_hydra_run_dir(tmp_path):
    """Set alone it split a run: results in DIR, run.log and .hydra/ in outputs/<date>/."""
    result = run_cli("stages=[evaluate]", f"paths.run_dir={tmp_path / 'prd'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert error_lines(result.stderr) == [
        f"wsol: error: paths.run_dir={tmp_path / 'prd'}: the run directory is Hydra's output "
        "dir; choose it with hydra.run.dir=DIR (hydra.sweep.dir=DIR with -m), so run.log, "
        ".hydra/ and the results share it"]
    assert list(tmp_path.iterdir()) == []  # neither DIR nor outputs/


def test_a_bad_value_in_any_sweep_job_stops_before_the_first_job_and_before_torch(tmp_path):
    import subprocess
    import sys

    from helpers.cli import SCRIPT

    sweep_dir = tmp_path / "sweep"
    result = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), "-m",
                             "stages=[evaluate]", "eval.bg_threshold=0.1,1.5",
                             f"hydra.sweep.dir={sweep_dir}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "omegaconf" in imported and "torch" not in imported
    lines = [line for line in error_lines(result.stderr) if not line.startswith("import time:")]
    assert lines == ["wsol: error: sweep job 1 (eval.bg_threshold=1.5): eval.bg_threshold=1.5 "
                     "is not allowed: use a background score in [0, 1]."]
    assert not sweep_dir.exists()  # job 0 never started
