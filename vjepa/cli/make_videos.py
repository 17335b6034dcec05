"""vjepa-make-videos: write a tiny synthetic data set of bouncing shapes (videos, or images with --images)."""

from __future__ import annotations

import argparse

from vjepa.data.synthetic import make_moving_shapes, make_shape_images
from vjepa.runtime.errors import user_errors


@user_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vjepa-make-videos", description=__doc__)
    parser.add_argument("out_dir", help="folder to write into (created if missing)")
    parser.add_argument("--num-videos", type=int, default=64, help="number of videos (or images with --images)")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (even)")
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", action="store_true", help="write PNG stills instead of videos")
    args = parser.parse_args(argv)
    if args.images:
        out = make_shape_images(args.out_dir, args.num_videos, args.size, args.seed)
        print(f"wrote {args.num_videos} images ({args.size}x{args.size}) to {out}")
    else:
        out = make_moving_shapes(args.out_dir, args.num_videos, args.frames, args.size, args.fps, args.seed)
        print(f"wrote {args.num_videos} videos ({args.frames} frames, {args.size}x{args.size}) and labels to {out}")


if __name__ == "__main__":
    main()
