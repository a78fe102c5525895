"""Appearance presets of the demo images: how cluttered the background is and how objects
stand out from it. None of them touches the class: outlines alone decide it in every preset.

Measured with the lead's recipe family (quarter-width ResNet-18, AdamW 1e-3 cosine, 16 epochs,
batch 64, 2,400 train / 600 val images, val mAP), on 2 shared CPU cores:

- ``hard`` (random background colour, strong colour noise, 1-4 strokes): mAP 0.27-0.31 at
  64² and 128² input; more learning rate (4e-3) did not help. Judging figure against a
  background of random colour is what a 16-channel stem fails to learn in 16 epochs.
- ``easy`` (flat dark background, no strokes or noise): mAP 0.66 at 64² input (0.84 with a
  single object per image).
- ``standard`` sits between them: a dark smooth colour-noise background with strokes and
  pixel noise, objects brighter than what lies under them (any hue, solid or gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

from wsol.errors import ConfigError


@dataclass(frozen=True)
class SceneStyle:
    """Ranges are (low, high), sampled uniformly per image (per object for colours)."""

    base_grey: tuple[float, float]  # background grey level before tint and noise, 0..255
    base_tint: float  # +- per-channel offset of the background's base colour
    coarse_amplitude: tuple[float, float]  # 2..6-cell colour noise, upsampled
    fine_amplitude: tuple[float, float]  # 8..16-cell colour noise, upsampled
    num_strokes: tuple[int, int]  # distractor lines/curves per image, inclusive
    stroke_width: tuple[float, float]  # pixels at 64², scaled with the image size
    noise_sigma: tuple[float, float]  # per-pixel Gaussian noise
    min_contrast: float  # RGB distance between an object's mean fill and what lies under it
    min_luma_contrast: float  # least luminance difference to what lies under it
    brighter_objects: bool  # True: objects brighter than beneath; False: either polarity
    gradient_probability: float = 0.5  # linear-gradient fill instead of a solid colour
    aspect_jitter: float = 0.15  # log of the largest x/y stretch of a shape


STYLES: dict[str, SceneStyle] = {
    "easy": SceneStyle(base_grey=(20, 20), base_tint=0, coarse_amplitude=(0, 0),
                       fine_amplitude=(0, 0), num_strokes=(0, 0), stroke_width=(1, 1),
                       noise_sigma=(0, 0), min_contrast=100, min_luma_contrast=40,
                       brighter_objects=True),
    "standard": SceneStyle(base_grey=(25, 80), base_tint=20, coarse_amplitude=(10, 30),
                           fine_amplitude=(3, 10), num_strokes=(1, 3), stroke_width=(1, 2),
                           noise_sigma=(2, 6), min_contrast=60, min_luma_contrast=60,
                           brighter_objects=True),
    "hard": SceneStyle(base_grey=(40, 215), base_tint=90, coarse_amplitude=(30, 90),
                       fine_amplitude=(8, 25), num_strokes=(1, 4), stroke_width=(1, 2.5),
                       noise_sigma=(3, 9), min_contrast=60, min_luma_contrast=0,
                       brighter_objects=False),
}


def get_style(name: str) -> SceneStyle:
    """The preset called ``name``; ConfigError naming ``data.generate.style`` otherwise."""
    if name not in STYLES:
        raise ConfigError(f"data.generate.style={name!r} is unknown; use one of {sorted(STYLES)}.")
    return STYLES[name]
