"""Multi-block masks (V-JEPA 3D, I-JEPA 2D), their batch collator and a figure of them."""

from vjepa.masks.collator import MaskCollator
from vjepa.masks.multiblock import (
    BlockSpec,
    MaskGroup,
    MultiBlockMasker,
    ijepa_masks,
    masker_from_config,
    token_grid,
    vjepa_masks,
)
from vjepa.masks.visualize import save_mask_figure

__all__ = [
    "BlockSpec",
    "MaskCollator",
    "MaskGroup",
    "MultiBlockMasker",
    "ijepa_masks",
    "masker_from_config",
    "token_grid",
    "save_mask_figure",
    "vjepa_masks",
]
