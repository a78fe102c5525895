"""Session-wide trees in the real dataset formats (written once, read by many tests).

Each fixture returns ``(root, truth)`` where ``truth`` is the
:class:`format_drawing.WrittenTree` the writer returned. Tests must not modify these trees;
copy one (``shutil.copytree``) to break it.
"""

from __future__ import annotations

import os

import pytest
import torch
from helpers import cli
from helpers.format_trees import (
    write_coco_tree,
    write_imagenet_val_tree,
    write_voc2007_tree,
    write_voc2012_tree,
)
from helpers.format_trees_wsolevaluation import write_wsolevaluation_tree

from wsol.demo.synthetic import generate_demo_dataset
from wsol.io.cpus import available_cpus


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (the default, see pyproject.toml): one worker per CPU this process may use
    (affinity and cgroup quota), not per CPU of the machine."""
    return available_cpus()


def _share_the_cpus_between_workers() -> None:
    """Each xdist worker gets its share of the CPUs: two workers each running two threads on
    two cores only fight over them. OMP_NUM_THREADS caps what an in-process run's
    ``threads: null`` resolves to (and so skips its idle-CPU measurement)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        share = max(1, available_cpus() // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)


_share_the_cpus_between_workers()


@pytest.fixture(autouse=True)
def _release_demo_trees():
    """A test that opened a demo tree outside a pipeline run (which releases its own) lets go
    of it, so a later test's CLI run in another process may regenerate the tree."""
    yield
    from wsol.demo.tree_lock import release_all

    release_all()


@pytest.fixture(scope="session")
def voc2012_tree(tmp_path_factory):
    """VOCdevkit/VOC2012 + SBD (train 12, val 12, train_aug 18)."""
    root = tmp_path_factory.mktemp("voc2012") / "VOCdevkit" / "VOC2012"
    return root, write_voc2012_tree(root)


@pytest.fixture(scope="session")
def voc2007_tree(tmp_path_factory):
    """VOCdevkit/VOC2007 (trainval 12, test 12)."""
    root = tmp_path_factory.mktemp("voc2007") / "VOCdevkit" / "VOC2007"
    return root, write_voc2007_tree(root)


@pytest.fixture(scope="session")
def coco2014_tree(tmp_path_factory):
    """coco/ with train2014 and val2014 (12 annotated + 2 empty images each)."""
    root = tmp_path_factory.mktemp("coco2014") / "coco"
    return root, write_coco_tree(root, year=2014)


@pytest.fixture(scope="session")
def coco2017_tree(tmp_path_factory):
    """coco/ with train2017 and val2017 (12 annotated + 2 empty images each)."""
    root = tmp_path_factory.mktemp("coco2017") / "coco"
    return root, write_coco_tree(root, year=2017, seed=5)


@pytest.fixture(scope="session")
def imagenet_tree(tmp_path_factory):
    """ILSVRC/ CLS-LOC val (12 images over 5 synsets)."""
    root = tmp_path_factory.mktemp("imagenet") / "ILSVRC"
    return root, write_imagenet_val_tree(root)

@pytest.fixture(scope="session")
def wsoleval_trees(tmp_path_factory):
    """``{"CUB" | "ILSVRC" | "OpenImages": tree}`` in wsolevaluation's format under one base
    (``<base>/dataset/<NAME>``, ``<base>/metadata/<NAME>``; train 12, val 6, test 9 images)."""
    base = tmp_path_factory.mktemp("wsolevaluation")
    return {name: write_wsolevaluation_tree(base, name, seed=n)
            for n, name in enumerate(("CUB", "ILSVRC", "OpenImages"))}


@pytest.fixture(scope="session")
def cub_tree(wsoleval_trees):
    """(images root, truth) of the CUB tree; ``truth.extra["metadata"]`` is its metadata."""
    return wsoleval_trees["CUB"].root, wsoleval_trees["CUB"]


@pytest.fixture(scope="session")
def ilsvrc_wsol_tree(wsoleval_trees):
    """(images root, truth) of the ILSVRC tree in wsolevaluation's format."""
    return wsoleval_trees["ILSVRC"].root, wsoleval_trees["ILSVRC"]


@pytest.fixture(scope="session")
def openimages_tree(wsoleval_trees):
    """(images root, truth) of the OpenImages30k tree (masks with ignore regions)."""
    return wsoleval_trees["OpenImages"].root, wsoleval_trees["OpenImages"]


TINY_DEMO = {"num_images": 20, "image_size": 64, "val_fraction": 0.25, "seed": 3}


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    return dict(TINY_DEMO)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A generated demo tree of 20 images (15 train, 5 val)."""
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "VOCshapes", progress=False,
                                 **TINY_DEMO)


@pytest.fixture
def run_cli(tmp_path_factory):
    """``run_cli(*overrides)``: ``python scripts/run.py OVERRIDES`` from the repo root
    (:func:`helpers.cli.run_cli`), the CAM cache in a fresh temporary directory."""
    cache = tmp_path_factory.mktemp("cam_cache")
    return lambda *overrides, **kwargs: cli.run_cli(*overrides, cache_dir=cache, **kwargs)
