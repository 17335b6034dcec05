"""Multi-block masks: which tokens the predictor predicts from which (``mask``; presets: configs/mask/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from configs.schema import doc


@dataclass
class Blocks:
    """Random blocks of tokens: each spans a fraction of the frame and of the clip."""

    num_blocks: int = doc(text="blocks per sample")
    spatial_scale: Any = doc(text="[min, max] (or one number) fraction of the h x w grid per block")
    aspect_ratio: Any = doc([0.75, 1.5], "[min, max] (or one number) block aspect ratio")
    temporal_scale: Any = doc([1.0, 1.0], "[min, max] (or one number) fraction of the clip's frames per block")


@dataclass
class MaskGroup:
    """One mask group: the target blocks, and the context (null: every token outside the targets)."""

    targets: Blocks = doc(text="the blocks predicted")
    context: Optional[Blocks] = doc(None, "null: every token outside the targets; else these blocks minus the "
                                          "targets")


@dataclass
class Mask:
    """The mask groups every sample draws (each group a context and its targets)."""

    groups: list[MaskGroup] = doc(MISSING, "the mask groups (presets: mask=vjepa | ijepa)")
    min_keep: int = doc(4, "fewest context tokens a sample keeps (its blocks are redrawn until it does)")
