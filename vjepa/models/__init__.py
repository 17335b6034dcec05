"""Models: the tubelet ViT encoder, the JEPA mask predictor and the action-conditioned predictor."""

from vjepa.models.ac_predictor import ActionConditionedPredictor
from vjepa.models.predictor import MaskPredictor
from vjepa.models.vit import VIT_SIZES, TubeletEmbed, VisionTransformer, gather_tokens, vit_size

__all__ = [
    "ActionConditionedPredictor", "MaskPredictor", "TubeletEmbed", "VIT_SIZES", "VisionTransformer", "gather_tokens",
    "vit_size",
]
