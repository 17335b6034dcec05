"""Transformer building blocks shared by the encoder and both predictors: pre-norm blocks whose attention is
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on CUDA, fused on CPU for long sequences;
see ``attention`` for short ones), with optional rotary position embedding, an optional attention mask and an
optional key/value prefix (a KV cache)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from vjepa.models.pos_embed import apply_rotary

Rope = tuple[Tensor, Tensor]  # (cos, sin), each (B, 1, N, head_dim // 2)
KeyValue = tuple[Tensor, Tensor]  # (k, v), each (B, heads, N, head_dim)

EXPLICIT_MAX_KEYS = 2048  # longer key sequences keep SDPA's kernel, which never holds the (N, N_kv) scores
EXPLICIT_MAX_KEYS_FP32 = 128  # fp32 on CPU: explicit wins up to ~160 keys, SDPA's kernel from ~192


def attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    """softmax(q kᵀ / √d + mask) v for q (B, heads, N, d), k and v (B, heads, N_kv, d); ``attn_mask`` (N, N_kv)
    boolean (True = may attend) or additive.

    ``F.scaled_dot_product_attention`` everywhere except on CPU for short key sequences, where torch's fused CPU
    kernel loses to two batched matmuls around torch's softmax (which accumulates in fp32): in bf16/fp16 up to
    ``EXPLICIT_MAX_KEYS`` keys (the fused kernel's backward is slow), in fp32 up to ``EXPLICIT_MAX_KEYS_FP32``.
    ``python -m benchmarks.attention`` measures both (figures: docs/performance.md); the explicit path holds the
    (N, N_kv) scores, hence the limits."""
    if q.device.type != "cpu" or k.shape[-2] > explicit_max_keys(q.dtype):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, heads, N, N_kv)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return scores.softmax(-1).to(v.dtype) @ v


def explicit_max_keys(dtype: torch.dtype) -> int:
    """The longest key sequence for which `attention` on CPU takes explicit matmuls rather than SDPA."""
    if dtype in (torch.bfloat16, torch.float16):
        return EXPLICIT_MAX_KEYS
    return EXPLICIT_MAX_KEYS_FP32 if dtype == torch.float32 else 0


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
        out = attention(q, k, v, attn_mask)
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
        self.mlp = MLP(dim, round(dim * mlp_ratio))

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


def reinitialized(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with fresh random weights, as a newly built one would have them (every layer's own
    reset, then `init_weights`): the same architecture, nothing learned — the baseline of a probe."""
    fresh = copy.deepcopy(model)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh.apply(init_weights)


def init_weights(module: nn.Module) -> None:
    """ViT initialisation: truncated-normal linear weights (std 0.02), zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
