"""Shared fixtures for the data tests: one tiny generated demo tree per test session."""

from __future__ import annotations

import pytest

from wsol.data.synthetic import generate_demo_dataset

TINY = {"num_images": 20, "image_size": 64, "val_fraction": 0.25, "seed": 3}


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    return dict(TINY)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A generated demo tree of 20 images (15 train, 5 val)."""
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "VOCshapes", progress=False,
                                 **TINY)
