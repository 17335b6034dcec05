"""The encoder and mask predictor of V-JEPA / I-JEPA pretraining (``model``; presets: configs/model/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, merged
from vjepa.models.vit import VIT_SIZES
from vjepa.runtime import config_checks as checks


@dataclass
class Predictor:
    """The mask predictor (``model.predictor``)."""

    dim: int = doc(MISSING, "predictor width (set by the model preset)")
    depth: int = doc(MISSING, "predictor blocks (set by the model preset)")
    num_heads: int = doc(MISSING, "predictor attention heads (set by the model preset)")
    num_mask_tokens: int = doc(1, "learned mask tokens: group i uses token i mod n (V-JEPA 2: 10)")
    embed_hidden: Optional[int] = doc(None, "levels > 1: hidden width of the MLP fusing the levels (null: dim; "
                                            "V-JEPA 2.1: the encoder's width)")
    context_proj: bool = doc(False, "V-JEPA 2.1: the outputs at context tokens (its dense loss) get their own "
                                    "projection")


@dataclass
class Model:
    """A ViT encoder and its mask predictor."""

    size: str = doc(MISSING, "ViT size: vit_micro | vit_tiny | vit_small | vit_base | vit_large | vit_huge | "
                             "vit_giant | vit_gigantic (set by the model preset: model=vit_small...)")
    patch_size: int = doc(16, "pixels per patch side")
    tubelet_size: int = doc(2, "frames per token (images: 1)")
    pos_embed: str = doc("rope", "rope (V-JEPA 2) | sincos (V-JEPA / I-JEPA)")
    rope_style: str = doc("pairs", "pairs | vjepa2 (vjepa2: V-JEPA 2's released weights; 2.1's are pairs)")
    rope_grid: Optional[int] = doc(None, "V-JEPA 2.1's released weights: 16 (RoPE's h/w positions rescaled onto a "
                                         "16x16 grid)")
    image_patch_embed: bool = doc(False, "V-JEPA 2.1: images get a one-frame patch embedding of their own")
    modality_embed: bool = doc(False, "V-JEPA 2.1: a learned video / image vector added to every token")
    grad_checkpointing: bool = doc(False, "recompute block activations in the backward pass (less memory)")
    predictor: Predictor = doc(Predictor(), "the mask predictor")
    levels: Any = doc(1, "encoder levels the predictor reads and predicts: 1 (V-JEPA 2) | 4 (V-JEPA 2.1's deep "
                         "self-supervision: the output and 3 earlier blocks) | the block counts, e.g. [12, 24, 38, 48]")
    level_norms: bool = doc(False, "V-JEPA 2.1: learned LayerNorms on the earlier levels (off: without a learned "
                                   "scale)")


def model_config(saved: Mapping[str, Any]) -> DictConfig:
    """A model config (a run's saved one, or a partial mapping) merged onto the schema: keys it lacks (older runs)
    take the schema's defaults; keys the schema lacks (a released model's description: ``embed_dim``...) are kept."""
    return merged(Model, saved)


def check_model(cfg: DictConfig) -> None:
    """``model``'s keys: sizes, choices and the predictor's heads."""
    checks.choice(cfg, "model.size", tuple(VIT_SIZES))
    checks.integers(cfg, ("model.patch_size", "model.tubelet_size"), low=1)
    checks.choice(cfg, "model.pos_embed", ("rope", "sincos"))
    checks.choice(cfg, "model.rope_style", ("pairs", "vjepa2"))
    checks.integer(cfg, "model.rope_grid", low=1, optional=True)
    checks.integers(cfg, (f"model.predictor.{k}" for k in ("dim", "depth", "num_heads", "num_mask_tokens")), low=1)
    checks.integer(cfg, "model.predictor.embed_hidden", low=1, optional=True)
    checks.multiple_of(cfg, "model.predictor.dim", cfg.model.predictor.num_heads, "model.predictor.num_heads")
