"""Inputs that used to pass the up-front checks and then misbehave: unsorted threshold grids
(refused by PxAP after training), split names with ``../``, empty / ``~`` / file-valued
WSOL_DATA and WSOL_CACHE, and check_data's run directory (findings N6, N8, N9, N10)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
from helpers.runs import build, compose

from wsol.app import preflight
from wsol.app.build import absolute_path, typed_config
from wsol.app.validate import validate_config
from wsol.errors import ConfigError, DataError
from wsol.metrics.pixel import PxAPEvaluator
from wsol.metrics.segmentation import SegEvaluator

REPO = Path(__file__).resolve().parents[2]


def _config(**eval_values):
    config = typed_config(compose("paths.run_dir=."))
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, **eval_values))


def _accepts(check, *args) -> bool:
    try:
        check(*args)
    except ConfigError:
        return False
    return True


GRIDS = ([0.1, 0.5], [0.5, 0.1], [0.1, 0.1, 0.5], [0.5, 0.5, 0.1], [0.0], [1.0, 0.0, 0.5, 0.5])


@pytest.mark.parametrize("grid", GRIDS)
def test_a_cam_grid_is_refused_up_front_exactly_when_pxap_would_refuse_it(grid):
    """The evaluators are the oracle: validation must refuse what they refuse after training
    (PxAP: ascending, repeats allowed), and nothing more."""
    pxap_ok = _accepts(PxAPEvaluator, grid)
    assert pxap_ok == (grid == sorted(grid))  # the oracle is what the test assumes it is
    assert _accepts(validate_config, _config(cam_thresholds=grid)) == pxap_ok
    if not pxap_ok:
        with pytest.raises(ConfigError, match=r"eval\.cam_thresholds=.*ascending order"):
            validate_config(_config(cam_thresholds=grid))


@pytest.mark.parametrize("grid", GRIDS)
def test_a_background_grid_is_refused_up_front_exactly_when_the_evaluator_would(grid):
    seg_ok = _accepts(SegEvaluator, 3, grid)
    assert _accepts(validate_config, _config(bg_thresholds=grid)) == seg_ok


def test_an_unsorted_cam_grid_stops_before_training(tmp_path):
    from helpers.runs import run_pipeline

    with pytest.raises(ConfigError, match=r"eval\.cam_thresholds=\[0\.5, 0\.1\]"):
        run_pipeline(tmp_path / "run", "eval.cam_thresholds=[0.5,0.1]",
                     "data.generate.num_images=10", "stages=[train,cam,localize,evaluate]")
    assert not (tmp_path / "run").exists()


SPLIT_KEYS = ("data.train_split", "data.val_split", "data.cam_split", "eval.select_split")


def _with(key: str, value):
    config = typed_config(compose("paths.run_dir=."))
    group, name = key.split(".")
    return dataclasses.replace(config, **{group: dataclasses.replace(getattr(config, group),
                                                                     **{name: value})})


@pytest.mark.parametrize("key", SPLIT_KEYS)
@pytest.mark.parametrize("name", ["../../../esc", "a/b", "/tmp/x", "a\\b", ".hidden", "..",
                                  "", "val test"])
def test_a_split_name_that_is_not_a_plain_name_is_refused_naming_the_key(key, name):
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', r'[.]')}=.*plain split name"):
        validate_config(_with(key, name))


@pytest.mark.parametrize("name", ["train", "train_aug", "train2014", "trainval", "val2017",
                                  "train-fullsup", "v1.2"])
def test_the_split_names_of_the_configs_and_readme_stay_legal(name):
    for key in ("data.train_split", "data.val_split", "eval.select_split"):
        validate_config(_with(key, name))


def test_a_climbing_selection_split_stops_before_anything_is_written(tmp_path):
    from helpers.runs import run_pipeline

    with pytest.raises(ConfigError, match=r"eval\.select_split='\.\./esc'"):
        run_pipeline(tmp_path / "esc" / "run", "eval.select_split=../esc",
                     "data.generate.num_images=10")
    assert not (tmp_path / "esc").exists()


@pytest.mark.parametrize("variable, key", [("WSOL_DATA", "paths.data_dir"),
                                           ("WSOL_CACHE", "paths.cache_dir")])
def test_a_variable_set_but_empty_is_refused_naming_key_and_variable(variable, key,
                                                                     monkeypatch):
    monkeypatch.setenv(variable, "")
    config = typed_config(compose("paths.run_dir=."))
    assert getattr(config.paths, key.split(".")[1]) == ""  # what the environment gives
    with pytest.raises(ConfigError, match=rf"{key}='' is not allowed.*{variable} is set but "
                                          "empty: unset it"):
        validate_config(config)


def test_a_home_relative_path_is_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert absolute_path("~/wc") == home / "wc"
    monkeypatch.setenv("WSOL_CACHE", "~/cache")  # quoted in a shell: no expansion there
    monkeypatch.setenv("WSOL_DATA", "~/data")
    run = build(tmp_path / "run")
    assert run.cache_dir == home / "cache"
    assert run.data.root == home / "data" / "demo" / "VOCshapes"


@pytest.mark.parametrize("demo", [True, False])
def test_a_data_dir_that_is_a_file_stops_with_one_line_naming_it(demo, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    overrides = (f"paths.data_dir={afile}",) if demo else ("experiment=voc_resnet",
                                                          f"data.root={afile}")
    run = build(tmp_path / "run", *overrides, "data.generate.num_images=10" if demo else
                "model.weights=null")
    with pytest.raises(DataError, match=f"^{afile} is a file, not a folder, so the dataset "
                                        r"root .* \(data\.root\)"):
        run.data.ensure_root()
    root = {f.check: f for f in preflight.check_run(run, progress=False)}["data root"]
    assert not root.ok and root.detail.startswith(f"{afile} is a file, not a folder")
    with pytest.raises(DataError, match=f"^{afile} is a file"):
        preflight.require_inputs(run)
    assert afile.read_text() == "not a folder"


def _check_data_main():
    spec = importlib.util.spec_from_file_location("check_data", REPO / "scripts" /
                                                  "check_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_check_data_checks_the_run_directory_given_as_hydra_run_dir(tmp_path, monkeypatch):
    """A rerun's check (stages=[evaluate] hydra.run.dir=RUN) reads RUN, not the current dir."""
    seen = []

    def record(run, **kwargs):
        seen.append(run.run_dir)
        return []

    monkeypatch.setattr(preflight, "check_run", record)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    main = _check_data_main()
    assert main(["stages=[evaluate]", f"hydra.run.dir={tmp_path / 'RUN'}"]) == 0
    assert main(["stages=[evaluate]", "hydra.run.dir=rel/RUN"]) == 0
    assert main(["stages=[evaluate]"]) == 0  # a new run's folder: empty, not the current one
    assert seen[:2] == [tmp_path / "RUN", tmp_path / "elsewhere" / "rel" / "RUN"]
    assert seen[2] != tmp_path / "elsewhere" and not seen[2].exists()


def test_a_seeds_dir_missing_a_scored_image_is_missing_before_the_run(tiny_demo_tree,
                                                                      tmp_path):
    root = tiny_demo_tree / "demo" / "VOCshapes"
    val = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for image_id in val[1:]:
        (seeds / f"{image_id}.png").write_bytes(b"")
    run = build(tmp_path / "run", f"paths.data_dir={tiny_demo_tree}",
                "data.generate.num_images=60", "data.generate.val_fraction=0.2",  # the tree's
                "stages=[evaluate]", f"eval.seeds_dir={seeds}")

    def seeds_finding():
        found = [f for f in preflight.check_run(run, progress=False)
                 if f.check == "eval.seeds_dir"]
        assert len(found) == 1
        return found[0]

    finding = seeds_finding()
    assert not finding.ok and "no seed for 1 scored image(s)" in finding.detail
    assert repr(val[0]) in finding.detail
    (seeds / f"{val[0]}.png").write_bytes(b"")
    assert seeds_finding().ok


@pytest.mark.parametrize("name", ["../../x", "a/b", ".."])
def test_an_image_set_that_leaves_imagesets_is_refused(name):
    with pytest.raises(ConfigError, match=r"^data[.]image_set=.*plain folder name"):
        validate_config(_with("data.image_set", name))
    validate_config(_with("data.image_set", "Main"))


def test_the_cheap_checks_across_keys_run_without_the_registries():
    """A sweep checks every job with ``registry=False`` first: the checks across keys that
    import nothing (a checkpoint beside train, bg above fg) are among them."""
    config = typed_config(compose("paths.run_dir=.", "model.checkpoint=/x/model.pt",
                                  "stages=[train,cam]"))
    with pytest.raises(ConfigError, match="model.checkpoint='/x/model.pt' is set but stages "
                                          "include train"):
        validate_config(config, registry=False)
