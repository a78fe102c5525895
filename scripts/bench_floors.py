"""The floors scripts/bench_pipeline.py puts beside each stage, measured in its own process.

- JPEG decode: the dataset reader's ``image(i)`` (header check + OpenCV decode), one core; and
  the cam stage's loader item (decode + the IRN pyramid with PIL bicubic, normalised), one core.
- Forward: the same checkpoint's plain forward (inference mode, no CAM) on the same images'
  pyramids, batched exactly as the cam stage batches them (equal sizes together), every scale
  with its flip in one forward, at the stage's precision and memory format; inputs are made and
  moved to the device before the clock starts, so this is the forward alone.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from wsol.cam.batching import header_sizes, size_batches
from wsol.cam.protocols import check_protocol
from wsol.datasets.coco import COCODataset
from wsol.datasets.voc import VOCDataset
from wsol.models.checkpoint import load_classifier
from wsol.training.torch_datasets import CamDataset

IRN_SCALES = (1.0, 0.5, 1.5, 2.0)


def open_split(fmt: str, root: Path, split: str):
    """The split through the reader the pipeline uses for ``fmt``."""
    return VOCDataset(root, split) if fmt == "voc" else COCODataset(root, split)


def cam_items(images) -> CamDataset:
    """The cam stage's loader items for IRN's protocol (original size, 4 scales + flip)."""
    protocol = check_protocol("irn", "original", IRN_SCALES, True)
    return CamDataset(images, None, protocol.resample, IRN_SCALES)


def decode_rates(images, limit: int = 64) -> tuple[float, float]:
    """(JPEG decodes / s, loader items / s) on one core over the first ``limit`` images."""
    count = min(limit, len(images))
    start = time.perf_counter()
    for i in range(count):
        images.image(i)
    decode = count / (time.perf_counter() - start)
    items = cam_items(images)
    start = time.perf_counter()
    for i in range(count):
        items[i]
    return decode, count / (time.perf_counter() - start)


@dataclass
class ForwardFloor:
    images_per_s: float
    seconds: float
    batches: int
    cuda_peak_bytes: int | None


def forward_floor(images, checkpoint: Path, batch_size: int, device: str, precision: str,
                  channels_last: bool, threads: int) -> ForwardFloor:
    """The plain forward of the checkpoint over every image of ``images`` (see the module)."""
    torch.set_num_threads(threads)
    net, _, _ = load_classifier(checkpoint, list(images.class_names))
    net = net.eval().to(device)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory)
    sizes = header_sizes([images.image_path(i) for i in images.ids], 1 << 30)
    batches = size_batches(sizes, batch_size)
    items = cam_items(images)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16) \
        if precision == "bf16" else contextlib.nullcontext()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    total = 0.0
    with torch.inference_mode():
        for n, batch in enumerate(batches):
            pyramid = CamDataset.collate([items[i] for i in batch])["pyramid"]
            inputs = [torch.cat([x, x.flip(-1)]).to(device).contiguous(memory_format=memory)
                      for x in pyramid]
            if n == 0:  # one untimed warm-up forward: the floor is the steady state
                with autocast:
                    net(inputs[0])
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            with autocast:
                for x in inputs:
                    net(x)
            if cuda:
                torch.cuda.synchronize()
            total += time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else None
    return ForwardFloor(len(images) / total, total, len(batches), peak)
