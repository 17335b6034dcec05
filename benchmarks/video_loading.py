"""Video loading: clips/s delivered by the pretraining DataLoader (decode + random resized crop + flip + mask
collation, as the default config reads them) for decord and PyAV with 0, 1 and 2 workers, on generated moving-shape
videos; and the share of step time the default pretraining run spends waiting for data (`data_wait_fraction` in
its metrics.csv), from a short run of `vjepa-pretrain` in a temporary folder.

    python -m benchmarks.video_loading [--clips 256] [--pretrain-steps 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vjepa.data import SeededSampler, VideoFolderDataset, VideoTransform
from vjepa.data.synthetic import make_moving_shapes
from vjepa.masks import MaskCollator, vjepa_masks

# The default pretraining data (configs/data/synthetic.yaml, configs/pretrain.yaml).
FRAMES, FRAME_STEP, SIZE, BATCH = 8, 2, 64, 8
TARGET_DATA_WAIT = 0.10


def loader(root: Path, backend: str, workers: int) -> DataLoader:
    dataset = VideoFolderDataset(
        root, frames_per_clip=FRAMES, frame_step=FRAME_STEP, backend=backend,
        transform=VideoTransform(size=SIZE, train=True, scale=(0.5, 1.0), ratio=(0.75, 1.333), hflip_prob=0.5),
    )
    grid = (FRAMES // 2, SIZE // 16, SIZE // 16)
    return DataLoader(
        dataset, batch_size=BATCH, sampler=SeededSampler(len(dataset), seed=0), num_workers=workers,
        collate_fn=MaskCollator(vjepa_masks(grid)), drop_last=True, persistent_workers=workers > 0,
    )


def clips_per_second(root: Path, backend: str, workers: int, num_clips: int) -> float:
    """Clips/s over `num_clips` clips, counted from the first batch on: steady-state decoding, without worker
    start-up (workers persist across epochs of the 64 videos)."""
    batches = loader(root, backend, workers)
    iterator, clips, start = None, 0, None
    while clips < num_clips:
        iterator = iter(batches) if iterator is None else iterator
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(batches)
            continue
        if start is None:  # the first batch pays for starting the workers
            start = time.perf_counter()
            continue
        clips += len(batch["clips"])
    return clips / (time.perf_counter() - start)


def data_wait_fraction(workdir: Path, videos: Path, steps: int, threads: int | None = None) -> dict:
    """Run the default pretraining config for `steps` steps (with `threads` torch threads, default torch's);
    the median `data_wait_fraction` after step 2 (step 1 waits for the workers to start)."""
    run_dir = workdir / "run"
    command = [
        sys.executable, "-m", "vjepa.cli.pretrain", f"run_dir={run_dir}", f"data.generate.dir={videos}",
        f"stop_after={steps}", "log_every=1", "mask_figure=false", "resume=false",
    ]
    start = time.perf_counter()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=workdir, env=env)
    wall = time.perf_counter() - start
    values: dict[str, dict[int, float]] = {}
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            values.setdefault(row["name"], {})[int(row["step"])] = float(row["value"])
    waits = [v for step, v in sorted(values["data_wait_fraction"].items()) if step > 2]
    rates = [v for step, v in sorted(values["clips_per_s"].items()) if step > 2]
    return {
        "steps": steps, "data_wait_fraction": statistics.median(waits), "data_wait_fraction_max": max(waits),
        "clips_per_s": statistics.median(rates), "wall_s": wall, "target": TARGET_DATA_WAIT,
    }


def run(
    num_clips: int, pretrain_steps: int, threads: int | None = None, workers=(0, 1, 2), backends=("decord", "pyav")
) -> tuple[list, list]:
    with tempfile.TemporaryDirectory(prefix="vjepa-bench-") as tmp:
        tmp = Path(tmp)
        videos = make_moving_shapes(tmp / "videos", num_videos=64, num_frames=32, size=64, seed=0)
        loading = [
            {"backend": backend, "workers": w, "clips_per_s": clips_per_second(videos, backend, w, num_clips)}
            for backend in backends
            for w in workers
        ]
        # the default config generates its own 128 videos on first use, into a folder of our choosing
        wait = [data_wait_fraction(tmp, tmp / "default_videos", pretrain_steps, threads)] if pretrain_steps else []
    return loading, wait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--pretrain-steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    loading, wait = run(args.clips, args.pretrain_steps, args.threads)
    for row in loading + wait:
        print(row)


if __name__ == "__main__":
    main()
