"""Transformer building blocks shared by the encoder and both predictors: pre-norm blocks whose attention is
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on CUDA, fused on CPU), with optional
rotary position embedding, an optional attention mask and an optional key/value prefix (a KV cache)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from vjepa.models.pos_embed import apply_rotary

Rope = tuple[Tensor, Tensor]  # (cos, sin), each (B, 1, N, head_dim // 2)
KeyValue = tuple[Tensor, Tensor]  # (k, v), each (B, heads, N, head_dim)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        rope: Rope | None = None,
        attn_mask: Tensor | None = None,
        past_kv: KeyValue | None = None,
    ) -> tuple[Tensor, KeyValue]:
        """x (B, N, dim) -> (B, N, dim), plus the (k, v) attended to — ``past_kv`` extended by this call's
        keys/values — so callers can cache them.

        ``rope`` rotates queries and keys of these N tokens; ``past_kv`` are already-rotated keys/values of
        earlier tokens that the N queries may also attend to; ``attn_mask`` (N, N_past + N) is boolean
        (True = may attend) or additive."""
        qkv = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        if rope is None:
            q, k, v = qkv
        else:  # queries and keys rotated in one go (half the elementwise ops)
            (q, k), v = apply_rotary(qkv[:2], *rope), qkv[2]
        if past_kv is not None:
            k, v = torch.cat([past_kv[0], k], dim=2), torch.cat([past_kv[1], v], dim=2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(rearrange(out, "b h n d -> b n (h d)")), (k, v)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(
        self,
        x: Tensor,
        rope: Rope | None = None,
        attn_mask: Tensor | None = None,
        past_kv: KeyValue | None = None,
    ) -> tuple[Tensor, KeyValue]:
        attn_out, new_kv = self.attn(self.norm1(x), rope, attn_mask, past_kv)
        x = x + attn_out
        return x + self.mlp(self.norm2(x)), new_kv


def run_blocks(
    blocks: nn.ModuleList, x: Tensor, rope: Rope | None = None, attn_mask: Tensor | None = None,
    checkpoint: bool = False,
) -> Tensor:
    """Apply ``blocks`` in turn (no KV cache), with optional activation checkpointing while training."""
    for block in blocks:
        if checkpoint and torch.is_grad_enabled():
            x = torch.utils.checkpoint.checkpoint(block, x, rope, attn_mask, use_reentrant=False)[0]
        else:
            x = block(x, rope, attn_mask)[0]
    return x


def init_weights(module: nn.Module) -> None:
    """ViT initialisation: truncated-normal linear weights (std 0.02), zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
