"""A demo tree another process is reading is never regenerated under it (D11: a parallel sweep
over data.generate.* rewrote one tree while another job trained on it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wsol.demo import tree_lock
from wsol.demo.synthetic import MARKER, ensure_demo_dataset
from wsol.errors import DataError

SMALL = {"num_images": 4, "image_size": 64}

pytestmark = pytest.mark.skipif(tree_lock.fcntl is None, reason="needs POSIX flock")


def _reader(root):
    """Another process that holds ``root`` (generated with SMALL) until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        from wsol.demo.synthetic import ensure_demo_dataset
        ensure_demo_dataset({str(root)!r}, progress=False, hold=True, **{SMALL!r})
        print("holding", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_another_runs_tree_is_not_regenerated_under_it(tmp_path):
    root = tmp_path / "demo" / "VOCshapes"
    reader = _reader(root)
    try:
        marker = (root / MARKER).read_text()
        ensure_demo_dataset(root, progress=False, hold=True, **SMALL)  # same settings: shared
        tree_lock.release_all()
        with pytest.raises(DataError) as err:
            ensure_demo_dataset(root, progress=False, **SMALL, style="hard")
        message = str(err.value)
        assert "being read by another run" in message and str(root) in message
        assert "data.generate.style: standard there, hard asked" in message
        assert f"data.root={root}-stylehard" in message
        assert (root / MARKER).read_text() == marker  # untouched
    finally:
        reader.communicate("")
    ensure_demo_dataset(root, progress=False, **SMALL, style="hard")  # that run has ended
    assert '"style": "hard"' in (root / MARKER).read_text()


def test_this_process_may_regenerate_the_tree_its_earlier_run_held(tmp_path):
    root = tmp_path / "VOCshapes"
    ensure_demo_dataset(root, progress=False, hold=True, **SMALL)
    ensure_demo_dataset(root, progress=False, hold=True, **SMALL, seed=3)
    assert '"seed": 3' in (root / MARKER).read_text()
    tree_lock.release_all()
    assert not tree_lock._HELD


def test_a_folder_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"cannot be written at /proc/wsol_demo_test.*WSOL_DATA"):
        ensure_demo_dataset(Path("/proc/wsol_demo_test/VOCshapes"), progress=False, **SMALL)


def test_a_refused_foreign_folder_gets_no_lock_files(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("not a demo")
    with pytest.raises(DataError, match="already holds other files"):
        ensure_demo_dataset(foreign, progress=False, hold=True, **SMALL)
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]


def test_the_data_checker_never_regenerates_a_tree_made_with_other_settings(tmp_path):
    """scripts/check_data.py touches nothing: a tree of other data.generate settings is named
    (with what a run would do), and its splits are not read as this run's."""
    from helpers.runs import build

    from wsol.app.preflight import check_run

    ensure_demo_dataset(tmp_path / "demo" / "VOCshapes", progress=False, **SMALL)
    marker = (tmp_path / "demo" / "VOCshapes" / MARKER).read_text()
    run = build(tmp_path / "run", f"paths.data_dir={tmp_path}", "data.generate.num_images=6",
                "data.generate.image_size=64", "stages=[train,cam]")
    findings = check_run(run, progress=False)
    root = [f for f in findings if f.check == "data root"]
    assert "data.generate.num_images: 4 there, 6 asked" in root[0].detail
    assert (tmp_path / "demo" / "VOCshapes" / MARKER).read_text() == marker
    assert not [f for f in findings if f.check.startswith("split")]
