"""The pseudo-label folder: its manifest refuses other settings in one line."""

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.pseudo.folder import PseudoLabelFolder

SETTINGS = {"fg_threshold": 0.3, "bg_threshold": 0.05, "refiner": "crf",
            "crf": {"iterations": 10}, "cam_store": "abc"}


def test_labels_round_trip_and_temporary_files_of_a_killed_run_are_removed(tmp_path):
    folder = PseudoLabelFolder(tmp_path / "p", SETTINGS)
    folder.prepare(2)
    label = np.array([[0, 3, 255]], np.uint8)
    folder.write("a/b", label)  # ids with a slash stay one file
    np.testing.assert_array_equal(folder.read("a/b"), label)
    assert folder.missing(["a/b", "c"]) == ["c"]
    (tmp_path / "p" / ".c.png.x1y2.tmp").write_bytes(b"half")
    PseudoLabelFolder(tmp_path / "p", SETTINGS).prepare(2)
    assert not list((tmp_path / "p").glob("*.tmp")) and not list((tmp_path / "p").glob(".*tmp"))


def test_other_settings_are_refused_naming_the_difference(tmp_path):
    PseudoLabelFolder(tmp_path, SETTINGS).prepare(1)
    other = {**SETTINGS, "fg_threshold": 0.4, "crf": {"iterations": 5}}
    with pytest.raises(ConfigError) as err:
        PseudoLabelFolder(tmp_path, other)
    message = str(err.value)
    assert "\n" not in message
    assert "fg_threshold: stored 0.3, requested 0.4" in message
    assert "crf.iterations: stored 10, requested 5" in message
    assert "refiner" not in message.split("(")[1].split(")")[0]  # only what differs
    PseudoLabelFolder(tmp_path)  # read-only: whatever made them
    with pytest.raises(ValueError):
        PseudoLabelFolder(tmp_path).prepare(1)


def test_a_folder_with_files_but_no_manifest_is_refused_and_left_as_it_was(tmp_path):
    """Files the pseudo stage did not record (another method's labels, masks, a folder whose
    manifest was deleted) are never adopted: prepare refuses before writing a manifest."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in ("a.png", "b.png", "c.png", "d.png"):
        (foreign / name).write_bytes(b"not ours")
    with pytest.raises(ConfigError) as err:
        PseudoLabelFolder(foreign, SETTINGS).prepare(4)
    message = str(err.value)
    assert "\n" not in message and str(foreign) in message
    assert "4 files (a.png, b.png, c.png, ...) and no manifest.json" in message
    assert sorted(p.name for p in foreign.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
    # temporary files alone hold no label: the folder counts as new (and they are removed)
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / ".a.png.x1y2.tmp").write_bytes(b"half")
    PseudoLabelFolder(killed, SETTINGS).prepare(1)
    assert sorted(p.name for p in killed.iterdir()) == ["manifest.json"]
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigError, match="is not a folder"):
        PseudoLabelFolder(tmp_path / "file", SETTINGS).prepare(1)
