"""Fuzzing image and mask bytes: every encoding and mode a dataset may hold (PNG grey /
alpha / palette / 16-bit / 1-bit, JPEG RGB / CMYK, GIF, BMP, TIFF), truncated, bit-flipped,
empty, garbage, padded, or with a header claiming another size; read under several pixel
limits. Each case decodes to what PIL decodes (lossless, unmutated) or to a sane array, or is
one WsolError line.
``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.datasets.voc_format import check_mask_labels, read_image, read_voc_mask

from .conftest import SIZE
from .fuzzing import Outcomes, run_family

W, H = SIZE


def _encodings(rng: np.random.Generator) -> dict[str, tuple[bytes, np.ndarray | None]]:
    """name -> (file bytes, the RGB oracle for lossless formats or None)."""
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = {}
    for name, image, fmt, lossless in [
        ("rgb.png", Image.fromarray(rgb), "PNG", True),
        ("rgb.jpg", Image.fromarray(rgb), "JPEG", False),
        ("l.png", Image.fromarray(rgb[..., 0]), "PNG", True),
        ("la.png", Image.fromarray(rgb[..., :2].copy(), "LA"), "PNG", True),
        ("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"), "PNG", True),
        ("p.png", Image.fromarray(rgb).convert("P"), "PNG", True),
        ("i16.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG", False),
        ("bit.png", Image.fromarray(rgb[..., 0] > 127), "PNG", True),
        ("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG", False),
        ("rgb.gif", Image.fromarray(rgb).convert("P"), "GIF", True),
        ("rgb.bmp", Image.fromarray(rgb), "BMP", True),
        ("rgb.tif", Image.fromarray(rgb), "TIFF", True),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        data = buffer.getvalue()
        oracle = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) if lossless else None
        out[name] = (data, oracle)
    return out


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    if rng.random() < 0.4:  # intact files too: the success path and its oracle
        return "none", data
    kind = rng.choice(["none", "truncate", "flip", "flips", "empty", "garbage", "prefix",
                       "suffix", "png_size", "zero_size"])
    if kind == "truncate":
        return kind, data[:rng.randrange(len(data))]
    if kind in ("flip", "flips"):
        out = bytearray(data)
        for _ in range(1 if kind == "flip" else rng.randint(2, 40)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return kind, bytes(out)
    if kind == "empty":
        return kind, b""
    if kind == "garbage":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    if kind == "prefix":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data
    if kind == "suffix":
        return kind, data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    if kind in ("png_size", "zero_size") and data.startswith(b"\x89PNG"):
        side = 0 if kind == "zero_size" else rng.choice([9000, 65535, 2**31 - 1])
        return kind, data[:16] + struct.pack(">II", side, rng.choice([side, 30])) + data[24:]
    return "none", data


def _fuzz_images(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    encodings = _encodings(np.random.default_rng(rng.randrange(2**32)))
    outcomes = Outcomes("images")
    for n in range(cases):
        name = rng.choice(sorted(encodings))
        data, oracle = encodings[name]
        kind, mutated = _mutate(data, rng)
        path = sandbox / f"{n}_{name}"
        path.write_bytes(mutated)
        limit = rng.choice([10**8, W * H, W * H - 1])
        status, image = outcomes.run(f"{name} {kind} limit {limit}",
                                     lambda: read_image(path, limit))
        if status == "ok":
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            assert image.shape[0] * image.shape[1] <= limit
            if kind == "none" and oracle is not None:
                assert np.array_equal(image, oracle), name
        path.unlink()
    return outcomes


def _fuzz_masks(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("masks")
    gen = np.random.default_rng(rng.randrange(2**32))
    for n in range(cases):
        labels = [0, 1, 12, 20, 255] + ([21, 77, 254] if rng.random() < 0.3 else [])
        values = gen.choice(labels, (H, W)).astype(np.uint8)
        mode = rng.choice(["L", "P", "I;16", "RGB", "RGBA", "LA", "1", "F"])
        if mode in ("L", "P"):
            image = Image.fromarray(values, "L").convert(mode) if mode == "P" else \
                Image.fromarray(values, "L")
        elif mode == "I;16":
            image = Image.fromarray(values.astype(np.uint16) * rng.choice([1, 300]))
        elif mode == "F":
            image = Image.fromarray(values.astype(np.float32))
        else:
            image = Image.fromarray(values, "L").convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format="TIFF" if mode == "F" else "PNG")
        kind, data = _mutate(buffer.getvalue(), rng)
        path = sandbox / f"{n}.png"
        path.write_bytes(data)
        status, mask = outcomes.run(f"mask {mode} {kind}", lambda: check_mask_labels(
            read_voc_mask(path, 10**7), 20, path))
        if status == "ok":
            assert mask.dtype == np.uint8 and mask.ndim == 2
            assert ((mask <= 20) | (mask == 255)).all()
            if kind == "none" and mode in ("L", "P"):
                assert np.array_equal(mask, values)
        path.unlink()
    return outcomes


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_images(tmp_path, slow):
    run_family(_fuzz_images, tmp_path, cases=150, base=2000, slow=slow)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_masks(tmp_path, slow):
    run_family(_fuzz_masks, tmp_path, cases=100, base=3000, slow=slow)
