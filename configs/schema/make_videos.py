"""`vjepa-make-videos`'s keys (configs/make_videos.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.keys import refuse_unknown_keys
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class MakeVideos:
    """Write a tiny synthetic data set of bouncing shapes (videos, or images with `kind=image`)."""

    out_dir: str = doc(MISSING, "folder to write into (created if missing)")
    kind: str = doc("video", "video (mp4 clips and their labels) | image (PNG stills)")
    num_videos: int = doc(64, "number of videos (or images)")
    frames: int = doc(32, "frames per video")
    size: int = doc(64, "frame height and width in pixels (even)")
    fps: int = doc(8, "frames per second of the videos")
    seed: int = doc(0, "the shapes, their colours and motions")


register("make_videos_schema", MakeVideos)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-make-videos reads, checked before anything is written."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.value_of(cfg, "out_dir")
    checks.choice(cfg, "kind", ("video", "image"))
    checks.integers(cfg, ("num_videos", "frames", "fps"), low=1)
    if checks.integer(cfg, "size", low=2) % 2:
        raise ConfigError(f"must be even, got {cfg.size}", "size", f"set size={cfg.size + 1}")
    checks.integer(cfg, "seed", low=0)
