"""Multi-block masks on a (t, h, w) token grid: V-JEPA 3D blocks, and I-JEPA 2D blocks on a t = 1 grid.

Per batch and group, one block extent is drawn from the configured ranges (as in the official samplers);
each sample then places its blocks at its own random positions. Tokens are flattened t-major:
`index = (ti * h + hi) * w + wi`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from vjepa.runtime.errors import ConfigError

Grid = tuple[int, int, int]
Range = tuple[float, float]


@dataclass(frozen=True)
class BlockSpec:
    """`num_blocks` boxes of one extent: `spatial_scale` = fraction of the h*w area, `aspect_ratio` = height/width,
    `temporal_scale` = fraction of t."""

    num_blocks: int
    spatial_scale: Range
    aspect_ratio: Range = (0.75, 1.5)
    temporal_scale: Range = (1.0, 1.0)

    def __post_init__(self) -> None:
        if isinstance(self.num_blocks, bool) or not isinstance(self.num_blocks, int) or self.num_blocks < 1:
            raise ValueError(f"num_blocks={self.num_blocks!r}: need a positive integer")
        _check_range("spatial_scale", self.spatial_scale, upper=1.0)
        _check_range("temporal_scale", self.temporal_scale, upper=1.0)
        _check_range("aspect_ratio", self.aspect_ratio, upper=math.inf)


def _check_range(name: str, value: Range, upper: float) -> None:
    bound = "" if math.isinf(upper) else f" <= {upper:g}"
    valid = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1] <= upper
    )
    if not valid:
        raise ValueError(f"{name}={value!r}: need a (min, max) pair with 0 < min <= max{bound}")


@dataclass(frozen=True)
class MaskGroup:
    """Targets = union of the target blocks. Context = complement of the targets (V-JEPA, `context=None`),
    or the union of the context blocks minus the targets (I-JEPA)."""

    targets: BlockSpec
    context: BlockSpec | None = None


def _lerp(bounds: Range, u: float) -> float:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _sample_extent(spec: BlockSpec, grid: Grid, generator: torch.Generator) -> Grid:
    """One (t, h, w) block extent drawn uniformly from the spec's ranges, clipped to the grid."""
    t, h, w = grid
    u_time, u_scale, u_aspect = torch.rand(3, generator=generator).tolist()
    area = max(1, int(h * w * _lerp(spec.spatial_scale, u_scale)))
    aspect = _lerp(spec.aspect_ratio, u_aspect)
    block_t = max(1, int(t * _lerp(spec.temporal_scale, u_time)))
    block_h = min(h, max(1, round(math.sqrt(area * aspect))))
    block_w = min(w, max(1, round(math.sqrt(area / aspect))))
    return block_t, block_h, block_w


def _sample_blocks(spec: BlockSpec, grid: Grid, batch_size: int, generator: torch.Generator) -> Tensor:
    """Union of `spec.num_blocks` boxes of one extent at per-sample random positions: bool (B, t, h, w)."""
    extent = _sample_extent(spec, grid, generator)
    inside = []  # per axis: bool (B, num_blocks, length), True inside the box
    for size, length in zip(extent, grid):
        start = torch.randint(0, length - size + 1, (batch_size, spec.num_blocks, 1), generator=generator)
        position = torch.arange(length)
        inside.append((position >= start) & (position < start + size))
    in_t, in_h, in_w = inside
    boxes = in_t[..., :, None, None] & in_h[..., None, :, None] & in_w[..., None, None, :]  # (B, n, t, h, w)
    return boxes.any(dim=1)


def _random_subset(mask: Tensor, generator: torch.Generator) -> Tensor:
    """Per row of a bool (B, N) mask, k = (min row count) of its True positions chosen at random: (B, k) sorted."""
    k = int(mask.sum(dim=1).min())
    keys = torch.rand(mask.shape, generator=generator).masked_fill_(~mask, 2.0)  # eligible tokens come first
    chosen = keys.topk(k, dim=1, largest=False, sorted=False).indices
    kept = torch.zeros_like(mask).scatter_(1, chosen, True)
    return kept.nonzero()[:, 1].view(mask.shape[0], k)  # row-major nonzero: ascending within each row


class MultiBlockMasker:
    """Draws, per mask group, `(context_idx (B, Nc), target_idx (B, Nt))` int64 token indices: sorted, disjoint
    within a sample, equal lengths across the batch, context of at least `min_keep` tokens."""

    def __init__(self, grid: Sequence[int], groups: Sequence[MaskGroup], min_keep: int = 4, max_tries: int = 20):
        if len(grid) != 3 or any(not isinstance(n, int) or n < 1 for n in grid):
            raise ValueError(f"grid={tuple(grid)!r}: need three positive integers (t, h, w)")
        if not groups:
            raise ValueError("groups: need at least one MaskGroup")
        if isinstance(min_keep, bool) or not isinstance(min_keep, int) or min_keep < 1:
            raise ValueError(f"min_keep={min_keep!r}: need a positive integer")
        self.grid: Grid = tuple(grid)
        self.groups = tuple(groups)
        self.min_keep = min_keep
        self.max_tries = max_tries
        self.num_tokens = math.prod(self.grid)

    def sample_masks(self, batch_size: int, generator: torch.Generator) -> list[tuple[Tensor, Tensor]]:
        """Per group, bool `(context, target)` masks of shape (B, N), before equalising lengths."""
        return [self._sample_group(group, batch_size, generator) for group in self.groups]

    def _sample_group(self, group: MaskGroup, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw the batch's blocks; samples left with a context under ``min_keep`` tokens are redrawn (new block
        extents, new positions) up to ``max_tries`` times, the others kept."""
        context = torch.zeros(batch_size, self.num_tokens, dtype=torch.bool)
        target = torch.zeros_like(context)
        todo = torch.ones(batch_size, dtype=torch.bool)
        for _ in range(self.max_tries):
            drawn_target = _sample_blocks(group.targets, self.grid, batch_size, generator).flatten(1)
            drawn_context = ~drawn_target
            if group.context is not None:
                drawn_context &= _sample_blocks(group.context, self.grid, batch_size, generator).flatten(1)
            accept = todo & (drawn_context.sum(dim=1) >= self.min_keep)
            context[accept], target[accept] = drawn_context[accept], drawn_target[accept]
            todo &= ~accept
            if not todo.any():
                return context, target
        raise RuntimeError(
            f"no context of >= {self.min_keep} tokens for {int(todo.sum())} of {batch_size} samples in "
            f"{self.max_tries} tries on grid {self.grid} with {group}; lower the target scale, the number of blocks "
            "or min_keep"
        )

    def check_feasible(self, num_samples: int, where: str = "mask") -> None:
        """Raise a `ConfigError` naming the first group whose targets leave a context under ``min_keep`` tokens so
        often that drawing ``num_samples`` samples (a whole run's) would likely exhaust ``max_tries`` redraws: the
        shortfall rate is measured on 1024 seeded samples, and refused when the run's expected failures reach 1%."""
        generator = torch.Generator().manual_seed(0)
        for i, group in enumerate(self.groups):
            short = 0
            for _ in range(64):  # 64 batches of 16: each batch draws its own block extent
                context = ~_sample_blocks(group.targets, self.grid, 16, generator).flatten(1)
                if group.context is not None:
                    context &= _sample_blocks(group.context, self.grid, 16, generator).flatten(1)
                short += int((context.sum(dim=1) < self.min_keep).sum())
            rate = short / 1024
            if num_samples * rate**self.max_tries >= 0.01:
                raise ConfigError(
                    f"its blocks leave fewer than {self.min_keep} context tokens of the {self.num_tokens} of grid "
                    f"{self.grid} in {rate:.0%} of draws", f"{where}.groups.{i}",
                    "lower its targets' spatial_scale, temporal_scale or num_blocks")

    def __call__(self, batch_size: int, generator: torch.Generator) -> list[tuple[Tensor, Tensor]]:
        return [
            (_random_subset(context, generator), _random_subset(target, generator))
            for context, target in self.sample_masks(batch_size, generator)
        ]

    def __repr__(self) -> str:
        return f"MultiBlockMasker(grid={self.grid}, groups={list(self.groups)}, min_keep={self.min_keep})"


def vjepa_masks(grid: Sequence[int]) -> MultiBlockMasker:
    """V-JEPA: short-range (8 blocks, scale 0.15) and long-range (2 blocks, scale 0.7) targets over the whole clip;
    context = all other tokens."""
    short_range = MaskGroup(BlockSpec(num_blocks=8, spatial_scale=(0.15, 0.15)))
    long_range = MaskGroup(BlockSpec(num_blocks=2, spatial_scale=(0.7, 0.7)))
    return MultiBlockMasker(grid, [short_range, long_range])


def ijepa_masks(grid: Sequence[int]) -> MultiBlockMasker:
    """I-JEPA on a t = 1 grid: 4 target blocks (scale 0.15-0.2); context = one square block (scale 0.85-1.0)
    minus the targets."""
    if len(grid) != 3 or grid[0] != 1:
        raise ValueError(f"grid={tuple(grid)!r}: I-JEPA masks need an image grid (1, h, w)")
    targets = BlockSpec(num_blocks=4, spatial_scale=(0.15, 0.2))
    context = BlockSpec(num_blocks=1, spatial_scale=(0.85, 1.0), aspect_ratio=(1.0, 1.0))
    return MultiBlockMasker(grid, [MaskGroup(targets, context)])


def token_grid(data_cfg: Mapping, model_cfg: Mapping) -> Grid:
    """The token grid (t, h, w) of one training clip of ``data_cfg`` under ``model_cfg``'s patch and tubelet
    sizes (an image: t = 1)."""
    frames, size = data_cfg["frames_per_clip"], data_cfg["crop_size"]
    tubelet = model_cfg["tubelet_size"] if frames > 1 else 1
    return max(frames // tubelet, 1), size // model_cfg["patch_size"], size // model_cfg["patch_size"]


def masker_from_config(cfg: Mapping, grid: Sequence[int], where: str = "mask") -> MultiBlockMasker:
    """Masker from a dict / OmegaConf node `{"groups": [{"targets": {...}, "context": {...} | None}], "min_keep": 4}`.

    A block is `{"num_blocks", "spatial_scale", "aspect_ratio"?, "temporal_scale"?}`; a range is [min, max] or a number.
    A bad key raises a `ConfigError` naming it under ``where`` (the config section: ``mask.groups.1.targets``).
    """
    _check_keys(cfg, where, required={"groups"}, optional={"min_keep"})
    groups = cfg["groups"]
    if isinstance(groups, (str, Mapping)) or not isinstance(groups, Sequence) or not groups:
        raise ConfigError(f"need a non-empty list of groups, got {groups!r}", f"{where}.groups")
    parsed = [_group_from_config(group, f"{where}.groups.{i}") for i, group in enumerate(groups)]
    if "min_keep" not in cfg:
        return MultiBlockMasker(grid, parsed)
    min_keep = cfg["min_keep"]
    if isinstance(min_keep, bool) or not isinstance(min_keep, int) or min_keep < 1:
        raise ConfigError(f"need a positive integer, got {min_keep!r}", f"{where}.min_keep")
    return MultiBlockMasker(grid, parsed, min_keep=min_keep)


def _group_from_config(cfg: Mapping, where: str) -> MaskGroup:
    _check_keys(cfg, where, required={"targets"}, optional={"context"})
    context = cfg.get("context")
    return MaskGroup(
        targets=_block_from_config(cfg["targets"], f"{where}.targets"),
        context=None if context is None else _block_from_config(context, f"{where}.context"),
    )


def _block_from_config(cfg: Mapping, where: str) -> BlockSpec:
    _check_keys(cfg, where, required={"num_blocks", "spatial_scale"}, optional={"aspect_ratio", "temporal_scale"})
    kwargs = {key: value if key == "num_blocks" else _as_range(value) for key, value in cfg.items()}
    try:
        return BlockSpec(**kwargs)
    except ValueError as error:
        key, _, problem = str(error).partition(": ")
        raise ConfigError(problem, f"{where}.{key.split('=')[0]}") from None


def _as_range(value: object) -> object:
    """[min, max] or one number (min = max) as a tuple; anything else is left for BlockSpec to reject."""
    if isinstance(value, (int, float)):
        return (value, value)
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else value


def _check_keys(cfg: Mapping, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"need a mapping, got {cfg!r}", where)
    if unknown := sorted(set(cfg) - required - optional):
        raise ConfigError(f"unknown key {unknown[0]!r}", where, f"expected {sorted(required | optional)}")
    if missing := sorted(required - set(cfg)):
        raise ConfigError(f"missing key {missing[0]!r}", where)
