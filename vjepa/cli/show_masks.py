"""`vjepa-show-masks`: draw a preset's masks on the first clip of a video (or a generated gradient clip)."""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from vjepa.masks import ijepa_masks, save_mask_figure, vjepa_masks

PRESETS = {"vjepa": vjepa_masks, "ijepa": ijepa_masks}


def read_first_clip(path: Path, frames: int, size: int) -> Tensor:
    """First `frames` frames decoded with PyAV (the last one repeated if the video is shorter),
    short side resized to `size` and centre-cropped: uint8 (T, size, size, 3)."""
    try:
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in islice(container.decode(video=0), frames)]
    except (av.error.FFmpegError, IndexError) as error:  # IndexError: no video stream
        raise ValueError(f"{path}: cannot decode video ({error})") from error
    if not decoded:
        raise ValueError(f"{path}: no video frames")
    decoded += decoded[-1:] * (frames - len(decoded))
    return resize_center_crop(torch.from_numpy(np.stack(decoded)), size)


def resize_center_crop(clip: Tensor, size: int) -> Tensor:
    """uint8 (T, H, W, C) -> short side resized to `size` (bilinear, antialiased), centre square crop."""
    t, h, w, c = clip.shape
    scale = size / min(h, w)
    resized_hw = (max(size, round(h * scale)), max(size, round(w * scale)))
    x = F.interpolate(rearrange(clip, "t h w c -> t c h w").float(), size=resized_hw, mode="bilinear", antialias=True)
    top, left = (resized_hw[0] - size) // 2, (resized_hw[1] - size) // 2
    x = x[..., top : top + size, left : left + size].round().clamp(0, 255).to(torch.uint8)
    return rearrange(x, "t c h w -> t h w c")


def gradient_clip(frames: int, size: int) -> Tensor:
    """Synthetic uint8 (T, size, size, 3) clip: red grows left to right, green top to bottom, blue over time."""
    ramp = torch.linspace(0, 1, size)
    time = torch.linspace(0, 1, frames)
    red = ramp.expand(frames, size, size)
    green = ramp[:, None].expand(frames, size, size)
    blue = time[:, None, None].expand(frames, size, size)
    return (torch.stack([red, green, blue], dim=-1) * 255).round().to(torch.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vjepa-show-masks", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="PNG path; with several mask groups, one file each")
    parser.add_argument("--video", type=Path, help="video file; a gradient clip when omitted")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="vjepa", help="ijepa uses one frame")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--tubelet", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frames, tubelet = (1, 1) if args.preset == "ijepa" else (args.frames, args.tubelet)
    if not (1 <= tubelet <= frames and 1 <= args.patch <= args.size):
        parser.error(f"need 1 <= tubelet <= frames and 1 <= patch <= size, got {tubelet}, {frames}, {args.patch}, "
                     f"{args.size}")

    grid = (frames // tubelet, args.size // args.patch, args.size // args.patch)
    crop = grid[1] * args.patch
    try:
        clip = read_first_clip(args.video, frames, crop) if args.video else gradient_clip(frames, crop)
    except ValueError as error:
        parser.error(str(error))
    masks = PRESETS[args.preset](grid)(1, torch.Generator().manual_seed(args.seed))
    num_tokens = int(np.prod(grid))
    for i, (context_idx, target_idx) in enumerate(masks):
        out = args.out if len(masks) == 1 else args.out.with_name(f"{args.out.stem}_group{i}{args.out.suffix}")
        save_mask_figure(clip, context_idx[0], target_idx[0], grid, args.patch, tubelet, out)
        print(
            f"group {i}: masking ratio {1 - context_idx.shape[1] / num_tokens:.1%} "
            f"(context {context_idx.shape[1]}, targets {target_idx.shape[1]} of {num_tokens} tokens) -> {out}"
        )


if __name__ == "__main__":
    main()
