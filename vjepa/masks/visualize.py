"""Picture of one clip's masks: the original frames, then per mask group its context tokens, its target tokens
(tinted) and the tokens in neither (dark)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange, repeat
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TARGET_COLOUR = np.array([1.0, 0.25, 0.1])


def _frames_to_unit_rgb(clip: Tensor | np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, C) or ImageNet-normalised float (3, T, H, W) -> float RGB in [0, 1], (T, H, W, 3)."""
    clip = torch.as_tensor(clip).detach().cpu()
    if clip.ndim != 4:
        raise ValueError(f"clip of shape {tuple(clip.shape)}: need uint8 (T, H, W, C) or float (3, T, H, W)")
    if clip.dtype == torch.uint8:
        frames = clip.float() / 255
    elif clip.is_floating_point() and clip.shape[0] == 3:
        mean, std = (torch.tensor(v).view(3, 1, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
        frames = rearrange(clip.float() * std + mean, "c t h w -> t h w c")
    else:
        raise ValueError(f"clip {clip.dtype} {tuple(clip.shape)}: need uint8 (T, H, W, C) or float (3, T, H, W)")
    frames = frames.clamp(0, 1).numpy()
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def _token_mask(indices: Tensor | np.ndarray, grid: tuple[int, int, int], patch_size: int) -> np.ndarray:
    """Token indices -> bool pixel mask (t, h * patch, w * patch)."""
    mask = np.zeros(int(np.prod(grid)), dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return repeat(mask.reshape(grid), "t h w -> t (h ph) (w pw)", ph=patch_size, pw=patch_size)


MaskPair = tuple[Tensor | np.ndarray, Tensor | np.ndarray]  # one group's (context_idx, target_idx) of one clip
NEITHER_GREY = 0.12


def token_counts(num_tokens: int, num_context: int, num_targets: int) -> str:
    """What every token of a clip is in one mask group, e.g. ``64 tokens: context 20, targets 28, neither 16``:
    context (the encoder sees them), targets (the predictor predicts them) and neither (outside both: outside the
    context blocks, or dropped so that every clip of a batch keeps as many tokens)."""
    neither = num_tokens - num_context - num_targets
    if neither < 0:
        raise ValueError(f"{num_context} context + {num_targets} target tokens exceed the clip's {num_tokens}")
    return f"{num_tokens} tokens: context {num_context}, targets {num_targets}, neither {neither}"


def save_mask_figure(
    clip: Tensor | np.ndarray,
    groups: Sequence[MaskPair],
    grid: tuple[int, int, int],
    patch_size: int,
    tubelet_size: int,
    path: str | Path,
    max_columns: int = 8,
) -> Path:
    """Save one PNG of a clip's masks: a column per tubelet step (at most `max_columns`, evenly spaced), a row of
    the original frames, then a row per mask group (``groups``: its (context_idx, target_idx)): context tokens as
    they are, targets tinted, tokens in neither dark; each group's row says how many tokens are which
    (`token_counts`), and a legend below says what the colours mean."""
    from matplotlib.figure import Figure  # here, so that importing vjepa.masks (data workers) skips matplotlib
    from matplotlib.patches import Patch

    frames = _frames_to_unit_rgb(clip)  # (T, H, W, 3)
    t, h, w = grid
    if frames.shape[0] < t * tubelet_size or frames.shape[1:3] != (h * patch_size, w * patch_size):
        raise ValueError(
            f"clip of {frames.shape[0]} frames of {frames.shape[1]}x{frames.shape[2]} px does not cover grid {grid} "
            f"with patch {patch_size} and tubelet {tubelet_size}"
        )
    steps = np.unique(np.linspace(0, t - 1, min(t, max_columns)).round().astype(int))
    shown = frames[steps * tubelet_size]  # first frame of each shown tubelet step
    rows = {"original": shown}
    for i, (context_idx, target_idx) in enumerate(groups):
        context = _token_mask(context_idx, grid, patch_size)[steps, ..., None]
        target = _token_mask(target_idx, grid, patch_size)[steps, ..., None]
        counts = token_counts(t * h * w, len(context_idx), len(target_idx))
        rows[f"group {i}\n" + counts.replace(": ", ":\n").replace(", ", "\n")] = np.where(
            target, 0.4 * shown + 0.6 * TARGET_COLOUR, np.where(context, shown, NEITHER_GREY))

    figure = Figure(figsize=(max(1.8 * len(steps), 3.6) + 1.0, 1.8 * len(rows) + 0.9), layout="constrained")
    axes = figure.subplots(len(rows), len(steps), squeeze=False)
    for ax, step in zip(axes[0], steps):
        ax.set_title(f"t = {step}", fontsize=9)
    for row, (label, images) in zip(axes, rows.items()):
        row[0].set_ylabel(label, fontsize=8)
        for ax, image in zip(row, images):
            ax.imshow(image.clip(0, 1))  # blending can overshoot 1 by rounding
            ax.set_xticks([])
            ax.set_yticks([])
    legend = [Patch(facecolor="none", edgecolor="black", label="context (as is): encoded"),
              Patch(color=TARGET_COLOUR, label="targets: predicted"),
              Patch(color=(NEITHER_GREY,) * 3, label="neither: dropped (outside both)")]
    figure.legend(handles=legend, loc="outside lower center", ncols=min(len(legend), len(steps)), fontsize=8,
                  frameon=False)
    figure.suptitle(f"grid {t}x{h}x{w} = {t * h * w} tokens (t x h x w), patch {patch_size}, tubelet "
                    f"{tubelet_size}", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    return path
