"""Spatiotemporal Vision Transformer with tubelet patch embedding: the V-JEPA encoder.

An image is a clip with T = 1: the same encoder embeds it (repeating the frame to fill one tubelet), so I-JEPA
is the single-frame case of this code, not a fork. Position information is either a fixed 3D sin-cos embedding
added to the patch embeddings, or 3D rotary embedding inside every attention layer (V-JEPA 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from vjepa.models.blocks import Block, init_weights, run_blocks
from vjepa.models.pos_embed import Grid, RopeStyle, RotaryEmbedding3D, grid_coords, sincos_3d, table_cache

PosEmbed = Literal["sincos", "rope"]


class TubeletEmbed(nn.Module):
    """Conv3d over non-overlapping tubelets of ``tubelet_size`` frames x ``patch_size``² pixels."""

    def __init__(self, patch_size: int = 16, tubelet_size: int = 2, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)

    def grid(self, clips: Tensor) -> Grid:
        """Token grid (t, h, w) of clips (B, C, T, H, W); raises if the clip does not tile exactly."""
        if clips.ndim != 5:
            raise ValueError(f"expected clips of shape (B, C, T, H, W), got {tuple(clips.shape)}")
        _, _, t, h, w = clips.shape
        t = max(t, self.tubelet_size) if t == 1 else t
        if t % self.tubelet_size or h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"clip of T×H×W = {t}×{h}×{w} does not tile into tubelets of "
                f"{self.tubelet_size}×{self.patch_size}×{self.patch_size}"
            )
        return t // self.tubelet_size, h // self.patch_size, w // self.patch_size

    def patches(self, clips: Tensor) -> Tensor:
        """clips (B, C, T, H, W) -> flattened tubelets (B, t*h*w, C*tubelet*patch*patch), t-major, each in the
        (C, tubelet, patch, patch) order of the convolution kernel."""
        if clips.shape[2] == 1 and self.tubelet_size > 1:  # an image: fill one tubelet with it
            clips = clips.expand(-1, -1, self.tubelet_size, -1, -1)
        p, s = self.patch_size, self.tubelet_size
        return rearrange(clips, "b c (t s) (h p) (w q) -> b (t h w) (c s p q)", s=s, p=p, q=p)

    def forward(self, clips: Tensor, token_idx: Tensor | None = None) -> Tensor:
        """clips (B, C, T, H, W) -> tokens (B, t*h*w, D), t-major; with token_idx (B, K), only those tokens
        (B, K, D).

        The stride = kernel convolution is computed as one matmul on the flattened tubelets (the same sums; the
        convolution's weight stays the parameter). With ``token_idx`` only the wanted tubelets are embedded, so a
        context encoder neither embeds nor back-propagates through the tokens it does not see."""
        patches = self.patches(clips)
        if token_idx is not None:
            patches = gather_tokens(patches, token_idx)
        return F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)


def gather_tokens(x: Tensor, idx: Tensor) -> Tensor:
    """Select tokens: x (B, N, D), idx (B, K) -> (B, K, D)."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


@table_cache
def rope_coords(grid: Grid, rope_grid: int | None, device: torch.device) -> Tensor:
    """The coordinates RoPE rotates each token of ``grid`` by, (N, 3) on ``device``: the token's own, or with
    ``rope_grid`` G its (t, h, w) -> (t, h (G-1)/(grid_h-1), w (G-1)/(grid_w-1)), every resolution spread over the
    G x G grid the weights were trained at (V-JEPA 2.1)."""
    coords = grid_coords(grid, device)
    if rope_grid is None:
        return coords
    t, h, w = coords.unbind(-1)
    stretch_h, stretch_w = ((rope_grid - 1) / max(n - 1, 1) for n in grid[1:])
    return torch.stack([t.float(), h * stretch_h, w * stretch_w], dim=-1)


class PositionalEncoding(nn.Module):
    """Either additive 3D sin-cos embeddings or 3D RoPE tables, for tokens at given grid indices.

    ``rope_grid`` (V-JEPA 2.1's ``interpolate_rope``): RoPE's height and width positions are rescaled so that a
    grid of any size spans the positions of a ``rope_grid`` x ``rope_grid`` one (h -> h (G - 1) / (grid_h - 1));
    time is not rescaled."""

    def __init__(
        self, kind: PosEmbed, dim: int, num_heads: int, rope_style: RopeStyle = "pairs", rope_grid: int | None = None
    ) -> None:
        super().__init__()
        if kind not in ("sincos", "rope"):
            raise ValueError(f"pos_embed must be 'sincos' or 'rope', got {kind!r}")
        if rope_grid is not None and (kind != "rope" or rope_grid < 2):
            raise ValueError(f"rope_grid needs pos_embed='rope' and at least 2 patches a side, got {rope_grid!r}")
        self.kind = kind
        self.dim = dim
        self.rope_grid = rope_grid
        self.rotary = RotaryEmbedding3D(dim // num_heads, style=rope_style) if kind == "rope" else None

    def architecture(self) -> dict[str, str | int | None]:
        """How positions are encoded, which weights trained under it depend on: {"pos_embed", "rope_style",
        "rope_grid"}."""
        return {"pos_embed": self.kind, "rope_style": self.rotary.style if self.rotary is not None else "-",
                "rope_grid": self.rope_grid}

    def additive(self, grid: Grid, idx: Tensor, dtype: torch.dtype) -> Tensor | None:
        """Sin-cos embedding (B, K, D) of the tokens at ``idx`` (B, K), or None under RoPE."""
        if self.rotary is not None:
            return None
        table = sincos_3d(grid, self.dim, idx.device).to(dtype)
        return table[idx]

    def rope(self, grid: Grid, idx: Tensor) -> tuple[Tensor, Tensor] | None:
        """RoPE (cos, sin) tables for the tokens at ``idx`` (B, K), or None under sin-cos."""
        if self.rotary is None:
            return None
        return self.rotary(rope_coords(grid, self.rope_grid, idx.device)[idx])


def block_diagonal_mask(lengths: list[int], device: torch.device | None = None) -> Tensor:
    """Boolean (L, L) attention mask, L = sum(lengths), letting each of the consecutive segments of ``lengths``
    tokens attend only within itself: several sequences packed into one pass, computed as if apart."""
    segment = torch.arange(len(lengths), device=device).repeat_interleave(
        torch.tensor(lengths, device=device), output_size=sum(lengths)
    )
    return segment[:, None] == segment[None, :]


def deep_levels(depth: int, levels: int) -> tuple[int, ...]:
    """``levels`` block counts evenly spaced up to ``depth`` (the output last), e.g. depth 12, 4 levels ->
    (3, 6, 9, 12): where V-JEPA 2.1's deep self-supervision reads the encoder."""
    if not 1 <= levels <= depth:
        raise ValueError(f"levels must be between 1 and the encoder depth {depth}, got {levels}")
    return tuple(sorted({round(depth * k / levels) for k in range(1, levels + 1)}))


def all_tokens(batch: int, grid: Grid, device: torch.device) -> Tensor:
    """Indices of every token of ``grid`` for each of ``batch`` samples, (B, t*h*w)."""
    n = grid[0] * grid[1] * grid[2]
    return torch.arange(n, device=device).expand(batch, n)


class VisionTransformer(nn.Module):
    """V-JEPA encoder: tubelet embedding, pre-norm transformer blocks, final LayerNorm.

    ``forward(clips, token_idx)`` encodes only the tokens at ``token_idx`` (B, K) — the context of a mask — and
    encodes all tokens when ``token_idx`` is None.

    V-JEPA 2.1's options (for its released weights, `vjepa.models.official`): ``image_patch_embed`` gives images
    (T = 1) a patch embedding of their own, one frame deep, instead of the frame repeated to fill a tubelet;
    ``modality_embed`` adds a learned vector to every token, one for video and one for images; ``rope_grid``
    rescales RoPE's spatial positions (see `PositionalEncoding`); ``level_norms`` learned LayerNorms normalise the
    earlier levels of deep self-supervision (its ``norms_block``; see ``forward``'s ``levels``).
    """

    def __init__(
        self,
        *,
        patch_size: int = 16,
        tubelet_size: int = 2,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        pos_embed: PosEmbed = "sincos",
        rope_style: RopeStyle = "pairs",
        rope_grid: int | None = None,
        image_patch_embed: bool = False,
        modality_embed: bool = False,
        level_norms: int = 0,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.patch_embed = TubeletEmbed(patch_size, tubelet_size, in_chans, embed_dim)
        self.image_patch_embed = TubeletEmbed(patch_size, 1, in_chans, embed_dim) if image_patch_embed else None
        self.modality_embed = nn.Parameter(torch.zeros(2, embed_dim)) if modality_embed else None  # video, image
        self.pos = PositionalEncoding(pos_embed, embed_dim, num_heads, rope_style, rope_grid)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.level_norms = nn.ModuleList(nn.LayerNorm(embed_dim, eps=1e-6) for _ in range(level_norms))
        self.grad_checkpointing = grad_checkpointing
        self.apply(init_weights)

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    @property
    def tubelet_size(self) -> int:
        return self.patch_embed.tubelet_size

    def grid(self, clips: Tensor) -> Grid:
        return self.patch_embed.grid(clips)

    def architecture(self) -> dict[str, int | str]:
        """What decides whether weights fit and mean the same: widths, depth, heads, tokenisation, positions."""
        return {"embed_dim": self.embed_dim, "depth": len(self.blocks), "num_heads": self.num_heads,
                "mlp_hidden": self.blocks[0].mlp.fc1.out_features if len(self.blocks) else 0,
                "patch_size": self.patch_size, "tubelet_size": self.tubelet_size,
                "image_patch_embed": self.image_patch_embed is not None,
                "modality_embed": self.modality_embed is not None, "level_norms": len(self.level_norms),
                **self.pos.architecture()}

    def is_image(self, clips: Tensor) -> bool:
        """Whether ``clips`` (B, C, T, H, W) are images to this encoder: one frame, and a patch embedding (and
        modality vector) of their own for images. Otherwise the frame fills a tubelet, as a video's would."""
        return clips.shape[2] == 1 and self.image_patch_embed is not None

    def embed(self, clips: Tensor, token_idx: Tensor | None = None) -> Tensor:
        """Patch embeddings (B, K or t*h*w, D) of the tokens at ``token_idx`` (all when None): images (T = 1)
        through ``image_patch_embed`` where the model has one, plus the modality's vector where it has those."""
        image = self.is_image(clips)
        x = (self.image_patch_embed if image else self.patch_embed)(clips, token_idx)
        if self.modality_embed is not None:
            x = x + self.modality_embed[int(image)].to(x.dtype)
        return x

    def forward(
        self, clips: Tensor, token_idx: Tensor | None = None, attn_mask: Tensor | None = None,
        levels: Sequence[int] = (),
    ) -> Tensor:
        """clips (B, C, T, H, W), token_idx (B, K) or None -> features (B, K or t*h*w, D).

        ``attn_mask`` (K, K), True = may attend, restricts attention, e.g. to keep several contexts packed in one
        sequence apart (see ``block_diagonal_mask``). ``levels`` (increasing block counts ending at the depth,
        see ``deep_levels``): the features after each of those blocks, layer-normalised (the last by the final
        norm, the others by ``level_norms`` where the model has them, else without a learned scale), concatenated
        on channels -> (B, K, D * len(levels))."""
        grid = self.grid(clips)
        x = self.embed(clips, token_idx)
        if token_idx is None:
            token_idx = all_tokens(x.shape[0], grid, x.device)
        pos = self.pos.additive(grid, token_idx, x.dtype)
        if pos is not None:
            x = x + pos
        rope = self.pos.rope(grid, token_idx)
        if not levels:
            return self.norm(run_blocks(self.blocks, x, rope, attn_mask, checkpoint=self.grad_checkpointing))
        if list(levels) != sorted(set(levels)) or levels[0] < 1 or levels[-1] != len(self.blocks):
            raise ValueError(f"levels must increase from >= 1 to the depth {len(self.blocks)}, got {tuple(levels)}")
        if self.level_norms and len(self.level_norms) != len(levels) - 1:
            raise ValueError(f"{len(levels)} levels {tuple(levels)} need {len(levels) - 1} level norms; the encoder "
                             f"has {len(self.level_norms)}")
        outputs, start = [], 0
        for i, end in enumerate(levels):
            x = run_blocks(self.blocks[start:end], x, rope, attn_mask, checkpoint=self.grad_checkpointing)
            if end == len(self.blocks):
                outputs.append(self.norm(x))
            else:
                outputs.append(self.level_norms[i](x) if self.level_norms else F.layer_norm(x, x.shape[-1:]))
            start = end
        return torch.cat(outputs, dim=-1)


@dataclass(frozen=True)
class ViTSize:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0


VIT_SIZES: dict[str, ViTSize] = {
    "vit_micro": ViTSize(96, 4, 3),
    "vit_tiny": ViTSize(192, 6, 3),
    "vit_small": ViTSize(384, 12, 6),
    "vit_base": ViTSize(768, 12, 12),
    "vit_large": ViTSize(1024, 24, 16),
    "vit_huge": ViTSize(1280, 32, 16),
    "vit_giant": ViTSize(1408, 40, 22, 48 / 11),  # V-JEPA 2's ViT-g (MLP 6144 wide)
    "vit_gigantic": ViTSize(1664, 48, 26, 64 / 13),  # V-JEPA 2.1's ViT-G (MLP 8192 wide)
}


def vit_size(name: str) -> ViTSize:
    if name not in VIT_SIZES:
        raise KeyError(f"unknown model size {name!r}; choose one of {sorted(VIT_SIZES)}")
    return VIT_SIZES[name]
