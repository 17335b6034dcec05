"""`vjepa-show-features`: what an encoder's patch features hold, as a picture. The first clip of a video is
encoded, the features of all its tokens are projected on their first three principal components, and those are
drawn as RGB under the frames: tokens with similar features get similar colours, so objects, background and
motion show up as regions (the usual way to eyeball a self-supervised encoder).

    vjepa-show-features checkpoint=runs/pretrain/latest.pt video=clip.mp4 out=features.png gif=true

Any encoder `vjepa.inference.load_encoder` takes works, V-JEPA 2's released weights included.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from omegaconf import DictConfig
from torch import Tensor

from configs.schema import show_features as schema
from vjepa.cli.show_masks import read_first_clip
from vjepa.data.transforms import normalize
from vjepa.inference import encode, load_encoder
from vjepa.runtime.command import command
from vjepa.runtime.device import resolve_device
from vjepa.runtime.errors import DataError
from vjepa.runtime.threads import set_threads


def pca_rgb(features: Tensor) -> Tensor:
    """features (..., D) -> uint8 (..., 3): the projections on the top three principal components of all the
    tokens as red, green and blue around mid-grey, on one scale (the 99th percentile of the first component's
    magnitude), so a component that explains little stays grey instead of being stretched into noise."""
    flat = features.reshape(-1, features.shape[-1]).double()
    centred = flat - flat.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    components = centred @ v[:3].T  # (tokens, <=3), the first with the largest spread
    components = F.pad(components, (0, 3 - components.shape[1]))  # fewer than 3 channels: grey for the rest
    scale = torch.quantile(components[:, 0].abs(), 0.99).clamp_min(1e-12)
    scaled = (0.5 + 0.5 * components / scale).clamp(0, 1)
    return (scaled * 255).round().to(torch.uint8).reshape(*features.shape[:-1], 3)


def feature_picture(clip: Tensor, rgb: Tensor, tubelet_size: int) -> np.ndarray:
    """clip uint8 (T, S, S, 3) and per-token colours (t, h, w, 3) -> uint8 picture: the first frame of every
    tubelet on top, the token colours (blown up to pixels) beneath, one column per token time step."""
    t, size = rgb.shape[0], clip.shape[1]
    frames = clip[::tubelet_size][:t]
    tokens = F.interpolate(rearrange(rgb, "t h w c -> t c h w").float(), size=(size, size), mode="nearest")
    tokens = rearrange(tokens.to(torch.uint8), "t c h w -> t h w c")
    return rearrange(torch.stack([frames, tokens]), "row t h w c -> (row h) (t w) c").numpy()


@command("show_features")
def main(cfg: DictConfig) -> None:
    """Encode the first clip of ``cfg.video`` and write the picture (and the GIF) of its features."""
    schema.check(cfg)
    set_threads(cfg.threads)
    encoder, config = load_encoder(cfg.checkpoint, which=cfg.which, device=resolve_device(cfg.device))
    frames = cfg.frames or config["data"]["frames_per_clip"]
    step = cfg.frame_step or config["data"]["frame_step"]
    size = cfg.size or config["data"]["crop_size"]
    try:
        clip = read_first_clip(Path(cfg.video), frames * step, size)[::step]  # uint8 (T, S, S, 3)
    except ValueError as error:
        raise DataError(str(error), "video", "give a readable video") from error
    clips = normalize(clip)[None].to(next(encoder.parameters()).device)  # (1, C, T, S, S)
    grid = encoder.grid(clips)
    features = encode(encoder, clips, precision=cfg.precision)[0].cpu().reshape(*grid, -1)  # (t, h, w, D)
    rgb = pca_rgb(features)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, feature_picture(clip, rgb, encoder.tubelet_size))
    print(f"{tuple(grid)} tokens of {features.shape[-1]} channels -> first 3 principal components -> {out}")
    if cfg.gif:
        colours = rgb.repeat_interleave(encoder.tubelet_size, dim=0)[: len(clip)]
        per_frame = [feature_picture(clip[i:i + 1], colours[i:i + 1], 1) for i in range(len(colours))]
        gif = out.with_suffix(".gif")
        iio.imwrite(gif, np.stack([rearrange(p, "(row h) w c -> h (row w) c", row=2) for p in per_frame]),
                    duration=250, loop=0)
        print(f"-> {gif}")


if __name__ == "__main__":
    main()
