"""Fuzzing checkpoints: metadata deleted or set to odd values, tensors NaN, reshaped,
retyped, replaced by other objects, dropped or added, a changed format marker, truncated or
bit-flipped files, a hand edit with a matching checksum. A checkpoint that loads must give
finite logits for the right classes (and the original weights when its bytes are the
original's); anything else is one WsolError line.
``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from wsol.datasets.classes import VOC_CLASSES
from wsol.models.checkpoint import load_classifier, state_dict_sha256

from .conftest import tiny_checkpoint
from .fuzzing import Outcomes, run_family

META_VALUES = [None, "x", -1, 0, 3, 20, 2**40, 1.5, float("nan"), [], ["a"], list(VOC_CLASSES),
               {"a": 1}, True, "resnet18_quarter", "resnet50", 16, 8, 32, 7]


def _fuzz_checkpoints(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("checkpoints")
    good = tiny_checkpoint(sandbox / "good.pt")
    clean = torch.load(good, weights_only=True)
    data = good.read_bytes()
    path = sandbox / "model.pt"
    image = torch.randn(1, 3, 32, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32x32 forward: thread start-up would dominate on a shared box
    try:
        _checkpoint_cases(rng, cases, clean, data, path, image, outcomes)
    finally:
        torch.set_num_threads(threads)
    return outcomes


def _checkpoint_cases(rng, cases, clean, data, path, image, outcomes) -> None:
    for _ in range(cases):
        how = rng.choice(["none", "meta", "delete_meta", "tensor_nan", "tensor_shape",
                          "tensor_dtype", "tensor_other", "drop_tensor", "extra_tensor",
                          "truncate", "flip", "format", "consistent_edit"])
        payload = {**clean, "state_dict": dict(clean["state_dict"])}
        key = rng.choice(sorted(payload["state_dict"]))
        if how == "meta":
            payload[rng.choice(["arch", "num_classes", "output_stride", "class_names",
                                "state_dict_sha256"])] = rng.choice(META_VALUES)
        elif how == "delete_meta":
            payload.pop(rng.choice(sorted(payload)))
        elif how == "tensor_nan":
            key = rng.choice([k for k, v in sorted(payload["state_dict"].items())
                              if v.is_floating_point()])
            payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], float("nan"))
        elif how == "tensor_shape":
            payload["state_dict"][key] = torch.zeros(rng.randint(1, 5), 3)
        elif how == "tensor_dtype":
            payload["state_dict"][key] = payload["state_dict"][key].to(torch.int64)
        elif how == "tensor_other":
            payload["state_dict"][key] = rng.choice([[1, 2], "x", None, 3.0])
        elif how == "drop_tensor":
            del payload["state_dict"][key]
        elif how == "extra_tensor":
            payload["state_dict"]["extra.weight"] = torch.zeros(2)
        elif how == "format":
            payload["format"] = rng.choice(["wsol-classifier-v2", None, 1])
        elif how == "consistent_edit":  # a hand edit that also updates the checksum
            payload["state_dict"][key] = payload["state_dict"][key] * 0.5
            payload["state_dict_sha256"] = state_dict_sha256(payload["state_dict"])
        if how in ("truncate", "flip"):
            raw = bytearray(data)
            if how == "truncate":
                raw = raw[:rng.randrange(len(raw))]
            else:
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(raw))
        else:
            torch.save(payload, path)
        names = rng.choice([None, list(VOC_CLASSES), ["a", "b"]])
        status, loaded = outcomes.run(f"checkpoint {how}", lambda: load_classifier(
            path, names))
        if status == "ok":
            net, _, meta = loaded
            assert meta["num_classes"] == len(meta["class_names"]) == len(VOC_CLASSES)
            with torch.no_grad():
                logits = net(image)
            assert logits.shape == (1, 20) and torch.isfinite(logits).all()
            if how in ("none", "flip"):  # bytes that load are the original weights
                assert all(torch.equal(net.state_dict()[k], v)
                           for k, v in clean["state_dict"].items())


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_checkpoints(tmp_path, slow):
    run_family(_fuzz_checkpoints, tmp_path, cases=20, base=7000, slow=slow)
