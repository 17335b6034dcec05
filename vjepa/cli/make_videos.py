"""`vjepa-make-videos`: write a tiny synthetic data set of bouncing shapes, videos or images
(configs/make_videos.yaml).

    vjepa-make-videos out_dir=data/shapes num_videos=128 frames=32 size=64
    vjepa-make-videos out_dir=data/shape_images kind=image
"""

from __future__ import annotations

from omegaconf import DictConfig

from configs.schema import make_videos as schema
from vjepa.data.synthetic import make_moving_shapes, make_shape_images
from vjepa.runtime.command import command


@command("make_videos")
def main(cfg: DictConfig) -> None:
    schema.check(cfg)
    if cfg.kind == "image":
        out = make_shape_images(cfg.out_dir, cfg.num_videos, cfg.size, cfg.seed)
        print(f"wrote {cfg.num_videos} images ({cfg.size}x{cfg.size}) to {out}")
    else:
        out = make_moving_shapes(cfg.out_dir, cfg.num_videos, cfg.frames, cfg.size, cfg.fps, cfg.seed)
        print(f"wrote {cfg.num_videos} videos ({cfg.frames} frames, {cfg.size}x{cfg.size}) and labels to {out}")


if __name__ == "__main__":
    main()
