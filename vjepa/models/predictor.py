"""The JEPA mask predictor: a narrow transformer that, from the context tokens' features and the positions of
the target tokens, predicts the target encoder's features at those positions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vjepa.models.blocks import Block, init_weights, run_blocks
from vjepa.models.pos_embed import Grid, RopeStyle
from vjepa.models.vit import PosEmbed, PositionalEncoding


class MaskPredictor(nn.Module):
    """Context features (B, Nc, D) + one learnable mask token per target position -> predictions (B, Nt, D).

    Tokens carry their grid position explicitly (sin-cos added, or RoPE in attention), so context and mask
    tokens are simply concatenated — no sorting by position is needed. With ``levels`` > 1 (V-JEPA 2.1's deep
    self-supervision) the context features are several encoder levels concatenated, (B, Nc, levels * D), fused
    into the predictor's width by an MLP (levels * D -> ``embed_hidden`` -> predictor_dim; ``embed_hidden``
    defaults to predictor_dim, V-JEPA 2.1's is D), and the predictions are of all levels, (B, Nt, levels * D).

    V-JEPA 2.1's other options, for its released predictors: ``context_proj`` projects the outputs at the context
    positions (what its dense loss scores) with a linear layer of their own; ``modality_embed`` adds a learned
    vector to every token, one for video and one for images; ``rope_grid`` rescales RoPE's spatial positions as
    the encoder's does (`PositionalEncoding`)."""

    def __init__(
        self,
        *,
        embed_dim: int = 768,
        predictor_dim: int = 384,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        pos_embed: PosEmbed = "sincos",
        rope_style: RopeStyle = "pairs",
        rope_grid: int | None = None,
        grad_checkpointing: bool = False,
        levels: int = 1,
        embed_hidden: int | None = None,
        num_mask_tokens: int = 1,
        context_proj: bool = False,
        modality_embed: bool = False,
    ) -> None:
        super().__init__()
        self.levels = levels
        hidden = embed_hidden or predictor_dim
        self.embed = nn.Linear(embed_dim, predictor_dim) if levels == 1 else nn.Sequential(
            nn.Linear(levels * embed_dim, hidden), nn.GELU(), nn.Linear(hidden, predictor_dim)
        )
        self.mask_token = nn.Parameter(torch.zeros(num_mask_tokens, 1, predictor_dim))  # one per mask group kind
        self.modality_embed = nn.Parameter(torch.zeros(2, predictor_dim)) if modality_embed else None  # video, image
        self.pos = PositionalEncoding(pos_embed, predictor_dim, num_heads, rope_style, rope_grid)
        self.blocks = nn.ModuleList(
            Block(predictor_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(predictor_dim, eps=1e-6)
        self.proj = nn.Linear(predictor_dim, levels * embed_dim)
        self.context_proj = nn.Linear(predictor_dim, levels * embed_dim) if context_proj else None
        self.grad_checkpointing = grad_checkpointing
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def architecture(self) -> dict[str, int | str | bool | None]:
        """What decides whether weights fit and mean the same (as `VisionTransformer.architecture`)."""
        return {"embed_dim": self.proj.out_features // self.levels, "predictor_dim": self.norm.normalized_shape[0],
                "depth": len(self.blocks), "num_heads": self.blocks[0].attn.num_heads if len(self.blocks) else 0,
                "mlp_hidden": self.blocks[0].mlp.fc1.out_features if len(self.blocks) else 0,
                "num_mask_tokens": len(self.mask_token), "levels": self.levels,
                "embed_hidden": self.embed[0].out_features if self.levels > 1 else None,
                "context_proj": self.context_proj is not None, "modality_embed": self.modality_embed is not None,
                **self.pos.architecture()}

    def forward(
        self, context: Tensor, context_idx: Tensor, target_idx: Tensor, grid: Grid, predict_context: bool = False,
        mask_index: int = 0, image: bool = False,
    ) -> Tensor:
        """context (B, Nc, D) at token indices context_idx (B, Nc); target_idx (B, Nt) -> (B, Nt, D). With
        ``predict_context`` the outputs at the context positions come first, (B, Nc + Nt, D): what V-JEPA 2.1's
        dense loss also scores. ``mask_index``: the mask group, whose mask token the targets start from (modulo
        ``num_mask_tokens``; V-JEPA 2 learns one per group, 10 in its released predictors). ``image``: the
        tokens are an image's (`VisionTransformer.is_image`), for the modality vector."""
        if context.shape[:2] != context_idx.shape:
            raise ValueError(
                f"context features {tuple(context.shape)} do not match context_idx {tuple(context_idx.shape)}"
            )
        batch, num_targets = target_idx.shape
        x = self.embed(context)
        masks = self.mask_token[mask_index % len(self.mask_token)].expand(batch, num_targets, -1).to(x.dtype)
        x = torch.cat([x, masks], dim=1)
        if self.modality_embed is not None:
            x = x + self.modality_embed[int(image)].to(x.dtype)
        idx = torch.cat([context_idx, target_idx], dim=1)
        pos = self.pos.additive(grid, idx, x.dtype)
        if pos is not None:
            x = x + pos
        x = run_blocks(self.blocks, x, self.pos.rope(grid, idx), checkpoint=self.grad_checkpointing)
        if not predict_context:
            return self.proj(self.norm(x[:, -num_targets:]))
        x = self.norm(x)
        if self.context_proj is None:
            return self.proj(x)
        return torch.cat([self.context_proj(x[:, :-num_targets]), self.proj(x[:, -num_targets:])], dim=1)
