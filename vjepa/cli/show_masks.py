"""`vjepa-show-masks`: draw the masks pretraining draws, on the first clip of a video (or a generated gradient
clip), on the token grid of the run you train: configs/show_masks.yaml, vjepa-pretrain's keys with the same
overrides (data.crop_size, data.frames_per_clip, model.patch_size, model.tubelet_size, mask, seed), or a run's
saved config.

    vjepa-show-masks out=masks.png                                       # the default run: 8 frames of 64 px
    vjepa-show-masks out=masks.png video=some.mp4 data=video_folder data.path=/videos
    vjepa-show-masks out=masks.png data=synthetic_images mask=ijepa model.tubelet_size=1       # I-JEPA
    vjepa-show-masks out=masks.png saved=runs/pretrain/hydra/config.yaml

Writes one figure, exactly ``out``: the frames, then a row per mask group, each saying what every token is
(``64 tokens: context 20, targets 28, neither 16``).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import Tensor

from configs.schema import merged
from configs.schema import show_masks as schema
from configs.schema.pretrain import Pretrain
from vjepa.masks import masker_from_config, save_mask_figure, token_grid
from vjepa.masks.visualize import token_counts
from vjepa.runtime.command import command
from vjepa.runtime.errors import ConfigError, DataError


def read_first_clip(path: Path, frames: int, size: int, step: int = 1) -> Tensor:
    """First `frames` frames, every `step`-th, decoded with PyAV (the last one repeated if the video is shorter),
    short side resized to `size` and centre-cropped: uint8 (T, size, size, 3)."""
    try:
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in islice(container.decode(video=0), frames * step)]
    except (av.error.FFmpegError, IndexError) as error:  # IndexError: no video stream
        raise ValueError(f"{path}: cannot decode video ({error})") from error
    if not decoded:
        raise ValueError(f"{path}: no video frames")
    decoded = decoded[::step]
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


def run_config(cfg: DictConfig) -> DictConfig:
    """The pretraining config whose masks are drawn: ``cfg`` itself (vjepa-pretrain's keys and presets with the
    command line), or the run saved at ``cfg.saved`` with the command line's ``key=value`` overrides on top."""
    if cfg.saved is None:
        return cfg
    own = ("saved", "out", "video")
    overrides = [o for o in HydraConfig.get().overrides.task if o.split("=", 1)[0] not in own]
    try:
        return OmegaConf.merge(merged(Pretrain, OmegaConf.load(cfg.saved)), OmegaConf.from_dotlist(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot apply {', '.join(overrides)} to it: {str(err).splitlines()[0]}", "saved",
                          "give key=value overrides of its keys (presets such as mask=ijepa need no saved=)") from err


@command("show_masks")
def main(cfg: DictConfig) -> None:
    """Draw the masks of the run ``cfg`` describes into ``cfg.out`` and print what each group keeps."""
    schema.check(cfg)
    run = run_config(cfg)
    data, model = run.data, run.model
    grid = token_grid(data, model)
    tubelet = model.tubelet_size if data.frames_per_clip > 1 else 1
    crop = grid[1] * model.patch_size
    try:
        clip = (read_first_clip(Path(cfg.video), data.frames_per_clip, crop, data.frame_step) if cfg.video
                else gradient_clip(data.frames_per_clip, crop))
    except ValueError as error:
        raise DataError(str(error), "video", "give a readable video") from error
    masks = masker_from_config(run.mask, grid)(1, torch.Generator().manual_seed(cfg.seed))
    groups = [(context_idx[0], target_idx[0]) for context_idx, target_idx in masks]
    out = save_mask_figure(clip, groups, grid, model.patch_size, tubelet, cfg.out)
    num_tokens = int(np.prod(grid))
    for i, (context_idx, target_idx) in enumerate(groups):
        print(f"group {i}: masking ratio {1 - len(context_idx) / num_tokens:.1%} "
              f"({token_counts(num_tokens, len(context_idx), len(target_idx))})")
    print(f"wrote {out}: grid {grid[0]}x{grid[1]}x{grid[2]} (t x h x w) from data.frames_per_clip="
          f"{data.frames_per_clip}, data.crop_size={data.crop_size}, model.tubelet_size={tubelet}, "
          f"model.patch_size={model.patch_size}")


if __name__ == "__main__":
    main()
