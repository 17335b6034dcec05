"""Clip transforms in plain torch (no torchvision).

A clip is uint8 (T, H, W, C); the model takes float (B, C, T, H, W) normalised with ImageNet statistics. Every
frame of a clip gets the same crop and flip, and all frames are resized in one batched `F.interpolate` call.
Randomness comes only from the `torch.Generator` passed at call time.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Box = tuple[int, int, int, int]  # top, left, height, width


def _as_uint8(clip: np.ndarray | torch.Tensor) -> torch.Tensor:
    clip = torch.as_tensor(clip)
    if clip.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 clip (..., H, W, C), got {clip.dtype}")
    return clip


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """float (..., C, T, H, W) in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1, 1)
    return (x - mean) / std


def normalize(clip: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, C) -> ImageNet-normalised float (C, T, H, W), no resizing."""
    return _standardize(rearrange(_as_uint8(clip), "t h w c -> c t h w").float() / 255)


def center_box(height: int, width: int) -> Box:
    """The centred square of side min(H, W): resizing it equals shorter-side resize + center crop."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def resized_crop(clip: torch.Tensor, box: Box, size: int) -> torch.Tensor:
    """uint8 (T, H, W, C) -> float (T, C, size, size) in [0, 1]: crop `box` from every frame, resize (antialiased)."""
    top, left, height, width = box
    frames = rearrange(clip[:, top : top + height, left : left + width], "t h w c -> t c h w").float() / 255
    return F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


class RandomResizedCropClip:
    """One random box per clip, area fraction in `scale` and aspect (w / h) in `ratio`, resized to size x size.

    A box larger than the frame in one dimension is clamped to it, so each call draws exactly four numbers.
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ):
        self.size, self.scale = size, scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def sample_box(self, height: int, width: int, generator: torch.Generator | None = None) -> Box:
        uniform = torch.rand(2, generator=generator).tolist()
        area = height * width * (self.scale[0] + (self.scale[1] - self.scale[0]) * uniform[0])
        aspect = math.exp(self.log_ratio[0] + (self.log_ratio[1] - self.log_ratio[0]) * uniform[1])
        h = min(height, max(1, round(math.sqrt(area / aspect))))
        w = min(width, max(1, round(math.sqrt(area * aspect))))
        top = int(torch.randint(height - h + 1, (), generator=generator))
        left = int(torch.randint(width - w + 1, (), generator=generator))
        return top, left, h, w

    def __call__(self, clip: np.ndarray | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (T, H, W, C) -> float (T, C, size, size) in [0, 1]."""
        clip = _as_uint8(clip)
        return resized_crop(clip, self.sample_box(clip.shape[1], clip.shape[2], generator), self.size)


class VideoTransform:
    """uint8 clip (T, H, W, C) -> normalised float (C, T, size, size).

    train: random resized crop and horizontal flip (probability `hflip_prob`), shared by all frames;
    eval: shorter-side resize and center crop (deterministic, the generator is unused).
    """

    def __init__(
        self,
        size: int = 224,
        train: bool = True,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip_prob: float = 0.5,
    ):
        self.size, self.train, self.hflip_prob = size, train, hflip_prob
        self.crop = RandomResizedCropClip(size, scale, ratio)

    def __call__(self, clip: np.ndarray | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        clip = _as_uint8(clip)
        if self.train:
            frames = self.crop(clip, generator)
            if torch.rand((), generator=generator) < self.hflip_prob:
                frames = frames.flip(-1)
        else:
            frames = resized_crop(clip, center_box(clip.shape[1], clip.shape[2]), self.size)
        return _standardize(rearrange(frames, "t c h w -> c t h w"))


def to_model_input(frames: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Observations uint8 (H, W, C), (T, H, W, C) or (B, T, H, W, C) -> float (B, C, T, size, size).

    Same geometry as `VideoTransform(train=False)` (centred square, resized), one interpolate call for all frames;
    stays on the input's device.
    """
    x = _as_uint8(frames)
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"expected (H, W, C), (T, H, W, C) or (B, T, H, W, C) frames, got shape {tuple(x.shape)}")
    x = x.reshape((1,) * (5 - x.ndim) + tuple(x.shape))
    batch, _, height, width, _ = x.shape
    resized = resized_crop(rearrange(x, "b t h w c -> (b t) h w c"), center_box(height, width), size)
    return _standardize(rearrange(resized, "(b t) c h w -> b c t h w", b=batch))
