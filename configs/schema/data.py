"""The clips (or images) pretraining reads (``data``, and ``images`` beside them; presets: configs/data/,
configs/images/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig

from configs.schema import doc
from vjepa.runtime import config_checks as checks


@dataclass
class Generate:
    """The generated folder used when ``path`` is null (made on first use)."""

    dir: str = doc("data/moving_shapes", "where the generated videos (or images) go")
    num_videos: int = doc(128, "videos to generate (kind: video)")
    num_frames: int = doc(32, "frames per generated video")
    num_images: int = doc(256, "images to generate (kind: image)")
    size: int = doc(64, "generated frame side, pixels")
    seed: int = doc(0, "seed of the generated shapes")


@dataclass
class Data:
    """A folder of videos or images, cropped and flipped into training clips."""

    kind: str = doc("video", "video | image (clips of one frame)")
    path: Optional[str] = doc(None, "a folder (searched recursively) or a .csv/.txt list of paths; null: the "
                                    "generated folder (generate.dir)")
    generate: Generate = doc(Generate(), "the generated folder")
    frames_per_clip: int = doc(8, "frames per training clip (images: 1)")
    frame_step: int = doc(2, "video frames between kept frames")
    crop_size: int = doc(64, "side of the random resized crop, pixels (a multiple of model.patch_size)")
    crop_scale: Any = doc([0.5, 1.0], "random resized crop: [min, max] area fraction")
    crop_ratio: Any = doc([0.75, 1.333], "random resized crop: [min, max] aspect ratio")
    hflip: float = doc(0.5, "horizontal flip probability")
    decoder: str = doc("auto", "auto (decord, then PyAV per file) | decord | pyav")
    short_video: str = doc("pad", "shorter than a clip: pad (repeat the last frame) | stretch (lower frame_step, "
                                  "then pad) | skip")


@dataclass
class Images(Data):
    """Images trained beside the videos (V-JEPA 2.1's joint image + video pretraining), on their own token grid."""

    batch_size: Optional[int] = doc(None, "images per step and process (null: batch_size)")
    weight: float = doc(1.0, "the image loss's weight: each step optimises the weighted mean of the video and image "
                             "losses")


def check_data(cfg: DictConfig, section: str) -> None:
    """One data stream's keys (``data`` or ``images``), against the model's patch and tubelet sizes."""
    model = cfg.model
    kind = checks.choice(cfg, f"{section}.kind", ("video", "image"))
    if checks.value_of(cfg, f"{section}.path") is None:
        checks.integers(cfg, [f"{section}.generate.{k}" for k in ("size", "seed")], low=0)
        checks.integer(cfg, f"{section}.generate.num_{'videos' if kind == 'video' else 'images'}", low=1)
    else:
        checks.existing_path(cfg, f"{section}.path")
    checks.multiple_of(cfg, f"{section}.crop_size", model.patch_size, "model.patch_size")
    checks.number_range(cfg, f"{section}.crop_scale", high=1.0)
    checks.number_range(cfg, f"{section}.crop_ratio")
    checks.number(cfg, f"{section}.hflip", low=0.0, high=1.0)
    if kind == "video":
        checks.integer(cfg, f"{section}.frame_step", low=1)
        checks.choice(cfg, f"{section}.short_video", ("pad", "stretch", "skip"))
        checks.choice(cfg, f"{section}.decoder", ("auto", "decord", "pyav"))
        if checks.integer(cfg, f"{section}.frames_per_clip", low=1) > 1:
            checks.multiple_of(cfg, f"{section}.frames_per_clip", model.tubelet_size, "model.tubelet_size")
    if section == "images":
        checks.choice(cfg, "images.kind", ("image",))  # the videos are data.*
        checks.integer(cfg, "images.batch_size", low=1, optional=True)
        checks.number(cfg, "images.weight", low=0.0, above=True)
