"""Positional encodings over a (t, h, w) token grid: fixed 3D sin-cos, and 3D rotary (RoPE).

Tokens are flattened t-major: ``index = (ti * h + hi) * w + wi`` (see ``grid_coords``). Both encodings are
computed for the grid at hand and cached, so one model serves any clip length and resolution, and images
(a grid with t = 1) go through the same code as video.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Literal, TypeVar

import torch
from torch import Tensor

Grid = tuple[int, int, int]
RopeStyle = Literal["pairs", "vjepa2"]
T = TypeVar("T")


def table_cache(build: Callable[..., T]) -> Callable[..., T]:
    """Cache a table builder by its arguments (grid, device, ...): each device keeps its own tables, built there
    once, so a forward on a GPU neither rebuilds nor copies them over (a copy would wait for the GPU). Tables are
    normal tensors even when first asked for under inference mode, so training may later save them for backward
    (an attention mask). Under torch.compile the builder is traced instead: the graph builds the table on its
    device."""
    cached = lru_cache(maxsize=64)(build)

    @wraps(build)
    def table(*args):
        if torch.compiler.is_compiling():
            return build(*args)
        with torch.inference_mode(False):
            return cached(*args)

    return table


@table_cache
def grid_coords(grid: Grid, device: torch.device | None = None) -> Tensor:
    """Integer (t, h, w) coordinates of every token of ``grid``, shape (t*h*w, 3), t-major order; on ``device``
    (the CPU when None, whatever the default device)."""
    device = device or torch.device("cpu")
    ts, hs, ws = torch.meshgrid(*(torch.arange(n, device=device) for n in grid), indexing="ij")
    return torch.stack([ts, hs, ws], dim=-1).reshape(-1, 3)


def _axis_split(dim: int, granule: int) -> tuple[int, int, int]:
    """Split ``dim`` channels over (t, h, w) in equal parts that are multiples of ``granule``."""
    part = (dim // 3) // granule * granule
    if part == 0:
        raise ValueError(f"dimension {dim} is too small to split over 3 axes in multiples of {granule}")
    return part, part, part


def _frequencies(num: int, base: float = 10000.0, device: torch.device | str | None = None) -> Tensor:
    return 1.0 / base ** (torch.arange(num, dtype=torch.float64, device=device) / num)


def _sincos_table(grid: Grid, dim: int) -> Tensor:
    coords = grid_coords(grid).to(torch.float64)  # (N, 3)
    parts = []
    for axis, axis_dim in enumerate(_axis_split(dim, 2)):
        angles = coords[:, axis, None] * _frequencies(axis_dim // 2, device="cpu")[None]  # (N, axis_dim/2)
        parts += [angles.sin(), angles.cos()]
    table = torch.cat(parts, dim=-1)
    pad = dim - table.shape[-1]
    return torch.nn.functional.pad(table, (0, pad)).to(torch.float32)  # (N, dim)


@table_cache
def sincos_3d(grid: Grid, dim: int, device: torch.device | None = None) -> Tensor:
    """Fixed 3D sin-cos embedding of every grid token, shape (t*h*w, dim); a third of the channels per axis. On
    ``device`` (the CPU when None)."""
    return _sincos_table(grid, dim).to(device)


class RotaryEmbedding3D(torch.nn.Module):
    """3D rotary position embedding (as in V-JEPA 2): the head dimension is split in three, one part per
    axis (t, h, w); each part rotates channel pairs by angles proportional to the token's coordinate on that
    axis. Channels left over by the split are not rotated.

    ``style="pairs"`` (the default) rotates each channel pair (2i, 2i+1) by one angle, frequency i of its part.
    ``style="vjepa2"`` reproduces V-JEPA 2's released checkpoints: their expansion tiles the part's frequencies
    instead of repeating each twice, so channel c of a part of P channels is scaled by frequency c mod P/2 and the
    two channels of a pair turn by different angles (a known quirk the official code keeps for its weights). Load
    those weights with this style; train new models with the default."""

    def __init__(self, head_dim: int, base: float = 10000.0, style: RopeStyle = "pairs") -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
        if style not in ("pairs", "vjepa2"):
            raise ValueError(f"rope_style must be 'pairs' or 'vjepa2', got {style!r}")
        self.head_dim = head_dim
        self.base = base
        self.style = style
        self.axis_pairs = _axis_split(head_dim, 2)[0] // 2  # rotated channel pairs per axis
        self.register_buffer("inv_freq", _frequencies(self.axis_pairs, base).float(), persistent=False)

    def angles(self, coords: Tensor) -> Tensor:
        """Rotation angle of every channel pair for tokens at ``coords`` (..., 3) -> (..., head_dim // 2); under
        ``style="vjepa2"`` of every channel -> (..., head_dim)."""
        inv_freq = self.inv_freq.repeat(2) if self.style == "vjepa2" else self.inv_freq  # per channel: tiled
        angles = (coords.to(inv_freq.dtype)[..., :, None] * inv_freq).flatten(-2)  # (..., 3 * len(inv_freq))
        width = self.head_dim if self.style == "vjepa2" else self.head_dim // 2
        return torch.nn.functional.pad(angles, (0, width - angles.shape[-1]))

    def forward(self, coords: Tensor) -> tuple[Tensor, Tensor]:
        """(cos, sin) tables for tokens at ``coords`` (B, N, 3), each (B, 1, N, head_dim // 2) (``head_dim`` under
        ``style="vjepa2"``), ready to broadcast over heads in ``apply_rotary``."""
        angles = self.angles(coords).unsqueeze(1)
        return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs of ``x`` (..., B, heads, N, head_dim) by the angles behind ``cos``/``sin`` (leading
    dimensions broadcast, so queries and keys stacked as (2, B, heads, N, head_dim) rotate in one call).

    A channel pair (x1, x2) is the complex number x1 + i·x2 and the rotation one complex multiply by cos + i·sin:
    the same products and sums as the textbook real formula, in one kernel with no temporaries. It runs in fp32
    (fp64 for fp64 input), so bf16 queries and keys under autocast are rotated at full precision and rounded once
    (faster and more accurate than the real formula in bf16 on CPU: docs/results/).

    Tables of one angle per *channel* (``head_dim`` wide: `RotaryEmbedding3D`'s ``style="vjepa2"``) take the real
    formula, (x1, x2) -> (x1·cos₁ − x2·sin₁, x2·cos₂ + x1·sin₂), which is no complex multiply; so does everything
    under torch.compile, whose code generator fuses real arithmetic but not complex."""
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    if cos.shape[-1] == x.shape[-1]:
        y = x.to(compute)
        partner = torch.stack([-y[..., 1::2], y[..., 0::2]], dim=-1).flatten(-2)  # (-x2, x1) per pair
        return (y * cos.to(compute) + partner * sin.to(compute)).to(x.dtype)
    pairs = x.to(compute).unflatten(-1, (-1, 2))
    if torch.compiler.is_compiling():  # the real formula, which inductor fuses (it generates no complex code)
        x1, x2 = pairs.unbind(-1)
        cos, sin = cos.to(compute), sin.to(compute)
        return torch.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).flatten(-2).to(x.dtype)
    if pairs.storage_offset() % 2 or any(stride % 2 for stride in pairs.stride()[:-1]):
        pairs = pairs.contiguous()  # view_as_complex needs whole (re, im) pairs
    rotation = torch.complex(cos.to(compute), sin.to(compute))
    return torch.view_as_real(torch.view_as_complex(pairs) * rotation).flatten(-2).to(x.dtype)
