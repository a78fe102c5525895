"""Re-derivations of IRN's steps (jiwoon-ahn/irn), written from reading its code, for parity tests.

Independent of wsol: only numpy, PIL, Python's ``random`` and torch primitives, in the order
IRN calls them. Sources: net/resnet50_cam.py (CAM), step/make_cam.py (high-res maps),
misc/imutils.py (pil_rescale, get_strided_up_size, random_resize_long, random_lr_flip,
get_random_crop_box, random_crop), voc12/dataloader.py (TorchvisionNormalize, the order of
the training transforms, VOC12ClassificationDatasetMSF), step/eval_cam.py (seeds),
misc/torchutils.py (PolyOptimizer).
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IRN_STRIDE = 16  # make_cam's get_strided_up_size(size, 16)


def torchvision_normalize(img: np.ndarray) -> np.ndarray:
    """IRN's TorchvisionNormalize: (H, W, 3) uint8 -> float32, (x / 255 - mean) / std per
    channel computed in float64 and stored in float32."""
    out = np.empty_like(img, np.float32)
    for c in range(3):
        out[..., c] = (img[..., c] / 255.0 - MEAN[c]) / STD[c]
    return out


def pil_rescale_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """imutils.pil_rescale(img, scale, order=3)."""
    height, width = img.shape[:2]
    target = (int(np.round(height * scale)), int(np.round(width * scale)))
    if target == (height, width):
        return img
    return np.asarray(Image.fromarray(img).resize(target[::-1], Image.BICUBIC))


def make_cam_high_res(stages, classifier_weight: torch.Tensor, img: np.ndarray,
                      label: np.ndarray, scales=(1.0, 0.5, 1.5, 2.0)) -> tuple:
    """step/make_cam.py for one image: (valid_cat (K,), high_res float32 (K, H, W)).

    stages: the network up to its last stage, images (N, 3, h, w) -> features (N, D, h', w');
    classifier_weight: (C, D) of the bias-free 1x1 classifier.
    """
    height, width = img.shape[:2]
    outputs = []
    with torch.no_grad():
        for s in scales:  # VOC12ClassificationDatasetMSF.__getitem__
            s_img = img if s == 1 else pil_rescale_bicubic(img, s)
            s_img = np.transpose(torchvision_normalize(s_img), (2, 0, 1))
            pair = torch.from_numpy(np.stack([s_img, np.flip(s_img, -1)], axis=0).copy())
            x = stages(pair)  # resnet50_cam.CAM.forward
            x = F.relu(F.conv2d(x, classifier_weight[:, :, None, None]))
            outputs.append(x[0] + x[1].flip(-1))
        up = (((height - 1) // IRN_STRIDE + 1) * IRN_STRIDE,
              ((width - 1) // IRN_STRIDE + 1) * IRN_STRIDE)
        high = [F.interpolate(torch.unsqueeze(o, 1), up, mode="bilinear", align_corners=False)
                for o in outputs]
        high = torch.sum(torch.stack(high, 0), 0)[:, 0, :height, :width]
        valid_cat = torch.nonzero(torch.from_numpy(label))[:, 0]
        high = high[valid_cat]
        high /= F.adaptive_max_pool2d(high, (1, 1)) + 1e-5
    return valid_cat.numpy(), high.numpy()


def eval_cam_seed(high_res: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """step/eval_cam.py for one image: the background plane padded first, argmax, keys + 1."""
    cams = np.pad(high_res, ((1, 0), (0, 0), (0, 0)), mode="constant",
                  constant_values=threshold)
    keys = np.pad(keys + 1, (1, 0), mode="constant")
    return keys[np.argmax(cams, axis=0)]


def train_sample(img: np.ndarray, rng: random.Random, crop: int = 512,
                 resize_long: tuple[int, int] = (320, 640)) -> tuple[np.ndarray, dict]:
    """VOC12ClassificationDataset's training item: random_resize_long -> TorchvisionNormalize ->
    random_lr_flip -> random_crop(crop, 0) -> CHW. Returns (float32 (3, crop, crop), what was
    drawn: long side, resized (h, w), flip, and the crop box)."""
    target_long = rng.randint(resize_long[0], resize_long[1])
    img = pil_rescale_bicubic(img, resize_long_scale(img.shape[:2], target_long))
    resized = img.shape[:2]
    img = torchvision_normalize(img)
    flip = bool(rng.getrandbits(1))
    if flip:
        img = np.fliplr(img)
    box = _random_crop_box(img.shape[:2], crop, rng)
    container = np.zeros((crop, crop, 3), np.float32)
    container[box[0]:box[1], box[2]:box[3]] = img[box[4]:box[5], box[6]:box[7]]
    drawn = {"long_side": target_long, "size": resized, "flip": flip, "box": box}
    return np.transpose(container, (2, 0, 1)), drawn


def train_draw(size: tuple[int, int], rng: random.Random, crop: int = 512,
               resize_long: tuple[int, int] = (320, 640)) -> dict:
    """The random draws of :func:`train_sample` alone, in the same order, with the resized size
    from pil_rescale's formula instead of resizing (for sampling many draws quickly)."""
    target_long = rng.randint(resize_long[0], resize_long[1])
    scale = resize_long_scale(size, target_long)
    resized = (int(np.round(size[0] * scale)), int(np.round(size[1] * scale)))
    flip = bool(rng.getrandbits(1))
    box = _random_crop_box(resized, crop, rng)
    return {"long_side": target_long, "size": resized, "flip": flip, "box": box}


def resize_long_scale(size: tuple[int, int], target_long: int) -> float:
    """imutils.random_resize_long's scale: by the height when w < h, else by the width."""
    h, w = size
    return target_long / h if w < h else target_long / w


def _random_crop_box(imgsize, cropsize: int, rng: random.Random) -> tuple:
    """imutils.get_random_crop_box."""
    h, w = imgsize
    ch, cw = min(cropsize, h), min(cropsize, w)
    w_space, h_space = w - cropsize, h - cropsize
    if w_space > 0:
        cont_left, img_left = 0, rng.randrange(w_space + 1)
    else:
        cont_left, img_left = rng.randrange(-w_space + 1), 0
    if h_space > 0:
        cont_top, img_top = 0, rng.randrange(h_space + 1)
    else:
        cont_top, img_top = rng.randrange(-h_space + 1), 0
    return (cont_top, cont_top + ch, cont_left, cont_left + cw,
            img_top, img_top + ch, img_left, img_left + cw)


class PolySGD:
    """misc/torchutils.PolyOptimizer's update written out: torch.optim.SGD(params, lr,
    weight_decay) -- the third positional argument is momentum, so momentum = weight_decay,
    dampening 0, no Nesterov -- with each group's lr = initial · (1 - step / max_step) ** 0.9
    set before every step. ``groups``: (parameters, initial lr) pairs; every group carries
    the weight decay (train_cam.py passes it per group)."""

    def __init__(self, groups, weight_decay: float, max_step: int) -> None:
        self.groups = [(list(params), lr) for params, lr in groups]
        self.weight_decay, self.momentum = weight_decay, weight_decay
        self.max_step, self.global_step = max_step, 0
        self.buffers: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        mult = (1 - self.global_step / self.max_step) ** 0.9
        for params, lr in self.groups:
            for p in params:
                if p.grad is None:  # SGD skips parameters without a gradient
                    continue
                d = p.grad + self.weight_decay * p
                buf = self.buffers.get(id(p))
                buf = d.clone() if buf is None else self.momentum * buf + d
                self.buffers[id(p)] = buf
                p -= lr * mult * buf
        self.global_step += 1
