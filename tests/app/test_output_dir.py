"""An output directory that cannot be written stops the run at once with one clear error."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
from helpers.runs import compose

from wsol.app import pipeline, preflight
from wsol.errors import WsolError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _run_expecting_error(run_dir: Path, monkeypatch) -> str:
    """``pipeline.run`` on ``run_dir``; asserts no stage (nor data check) started."""
    started: list[str] = []
    monkeypatch.setattr(pipeline, "_load_stage", lambda name: started.append(name))
    monkeypatch.setattr(preflight, "require_inputs", lambda run: started.append("inputs"))
    cfg = compose(f"paths.run_dir={run_dir}", "stages=[train,cam,evaluate]")
    with pytest.raises(WsolError) as err:
        pipeline.run(cfg)
    assert started == []
    message = str(err.value)
    assert str(run_dir) in message and "hydra.run.dir=" in message and "writable" in message
    return message


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores permission bits; the monkeypatched test covers it")
def test_read_only_run_dir_is_a_clear_error(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o500)
    try:
        assert "Permission denied" in _run_expecting_error(run_dir, monkeypatch)
        assert list(run_dir.iterdir()) == []
    finally:
        run_dir.chmod(0o700)


def test_unwritable_run_dir_is_a_clear_error_even_as_root(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(run_dir))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    message = _run_expecting_error(run_dir, monkeypatch)
    assert os.strerror(errno.EACCES) in message and "chmod" in message


def test_run_dir_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.write_text("not a directory")
    _run_expecting_error(run_dir, monkeypatch)
    assert run_dir.read_text() == "not a directory"


def test_a_quoted_run_directory_is_checked_as_hydra_reads_it(tmp_path):
    """``'hydra.run.dir="DIR/a b"'`` names DIR/a b, not a folder called ``"``."""
    from wsol.app.output_dir import output_dir_problem

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for argv in ([f'hydra.run.dir="{blocker}/a b"'], ["-m", f"hydra.sweep.dir='{blocker}/é'"]):
        problem = output_dir_problem(argv, Path("/"))
        assert problem is not None and problem.startswith(
            f"Run directory {blocker}/{'a b' if len(argv) == 1 else 'é'} cannot be made: "
            f"{blocker} is a file"), problem
