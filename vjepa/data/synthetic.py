"""Tiny generated data for tests and demos: bouncing shapes (videos and images) and deliberately broken files."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vjepa.data.decoders import write_video

COLOURS = {
    "red": (230, 50, 50),
    "green": (60, 210, 80),
    "blue": (60, 110, 240),
    "yellow": (240, 220, 60),
    "magenta": (220, 70, 220),
    "cyan": (70, 220, 230),
    "orange": (245, 150, 40),
    "white": (245, 245, 245),
}
SHAPES = ("square", "circle")


@dataclass
class Shape:
    kind: str  # "square" | "circle"
    colour: str  # a key of COLOURS
    radius: float  # half side, or radius, in pixels
    start: np.ndarray  # (2,) x, y centre at frame 0
    velocity: np.ndarray  # (2,) vx, vy in pixels per frame

    def centres(self, num_frames: int, size: int) -> np.ndarray:
        """(T, 2) centres moving at constant velocity, reflected off the walls (a triangle wave per axis)."""
        travel = size - 2 * self.radius
        q = np.mod(self.start - self.radius + np.arange(num_frames)[:, None] * self.velocity, 2 * travel)
        return self.radius + travel - np.abs(q - travel)

    def masks(self, centres: np.ndarray, size: int) -> np.ndarray:
        """(T, H, W) bool coverage of the shape at each centre."""
        grid = np.arange(size) + 0.5
        dx = grid[None, None, :] - centres[:, 0, None, None]
        dy = grid[None, :, None] - centres[:, 1, None, None]
        if self.kind == "square":
            return (np.abs(dx) <= self.radius) & (np.abs(dy) <= self.radius)
        return dx**2 + dy**2 <= self.radius**2


def direction_class(velocity: np.ndarray) -> int:
    """Nearest of 8 compass directions, 0 = +x, counter-clockwise in steps of 45 degrees (image y points down)."""
    angle = np.arctan2(-velocity[1], velocity[0])
    return int(np.round(angle / (np.pi / 4))) % 8


def random_shape(rng: np.random.Generator, size: int) -> Shape:
    radius = rng.uniform(size / 12, size / 7)
    angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.06) * size
    return Shape(
        kind=str(rng.choice(SHAPES)),
        colour=str(rng.choice(list(COLOURS))),
        radius=radius,
        start=rng.uniform(radius, size - radius, 2),
        velocity=speed * np.array([np.cos(angle), -np.sin(angle)]),
    )


def render(shapes: list[Shape], num_frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T, size, size, 3): a dark plain or lightly textured background, shapes painted last-to-first."""
    textured = rng.integers(0, 2)  # half the backgrounds get light static noise
    background = rng.integers(10, 90, 3) + textured * rng.integers(-8, 9, (size, size, 3))
    frames = np.broadcast_to(background, (num_frames, size, size, 3)).astype(np.uint8)
    for shape in reversed(shapes):
        inside = shape.masks(shape.centres(num_frames, size), size)
        frames = np.where(inside[..., None], np.array(COLOURS[shape.colour], np.uint8), frames)
    return frames


def generating(total: int, what: str, unit: str) -> tqdm:
    """``range(total)`` under a progress bar (stderr, shown at once) saying what is generated."""
    return tqdm(range(total), desc=f"generating {total} {what}", unit=unit, dynamic_ncols=True)


def make_moving_shapes(
    out_dir: str | Path,
    num_videos: int = 64,
    num_frames: int = 32,
    size: int = 64,
    fps: int = 8,
    seed: int = 0,
    max_shapes: int = 2,
) -> Path:
    """Write `video_XXXXX.mp4` clips of 1 to ``max_shapes`` bouncing shapes, `labels.csv`, `labels.npz` and
    `generator.json`; returns `out_dir`.

    labels.csv: file, direction (0..7, the main shape's initial velocity, see `direction_class`), vx, vy, x0, y0,
    shape, colour; rows in file (= VideoFolderDataset index) order. labels.npz: `centres` (N, T, 2) float32, the
    main shape's (x, y) per frame, and `direction` (N,). generator.json: the arguments, so a reader can tell
    whether an existing folder is the one it asks for. The main shape is the one drawn on top: with two shapes
    nothing else tells it apart, so label-reading probes use ``max_shapes=1``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, centres = [], []
    for i in generating(num_videos, f"moving-shape videos ({num_frames} frames, {size} px)", "video"):
        shapes = [random_shape(rng, size) for _ in range(rng.integers(1, max_shapes + 1))]
        main = shapes[0]
        name = f"video_{i:05d}.mp4"
        write_video(out_dir / name, render(shapes, num_frames, size, rng), fps)
        (vx, vy), (x0, y0) = main.velocity, main.start
        kinematics = [round(float(v), 4) for v in (vx, vy, x0, y0)]
        rows.append([name, direction_class(main.velocity), *kinematics, main.kind, main.colour])
        centres.append(main.centres(num_frames, size))
    with open(out_dir / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["file", "direction", "vx", "vy", "x0", "y0", "shape", "colour"], *rows])
    np.savez(
        out_dir / "labels.npz",
        centres=np.stack(centres).astype(np.float32),
        direction=np.array([row[1] for row in rows]),
    )
    (out_dir / "generator.json").write_text(json.dumps(moving_shapes_settings(num_videos, num_frames, size, fps, seed,
                                                                              max_shapes)))
    return out_dir


def moving_shapes_settings(
    num_videos: int, num_frames: int, size: int, fps: int, seed: int, max_shapes: int
) -> dict[str, int]:
    """The `make_moving_shapes` arguments as recorded in its folder's generator.json."""
    return {"num_videos": num_videos, "num_frames": num_frames, "size": size, "fps": fps, "seed": seed,
            "max_shapes": max_shapes}


def make_shape_images(out_dir: str | Path, num_images: int = 64, size: int = 64, seed: int = 0) -> Path:
    """Write `image_XXXXX.png` stills of 1-2 shapes (the I-JEPA path); returns `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in generating(num_images, f"shape images ({size} px)", "image"):
        shapes = [random_shape(rng, size) for _ in range(rng.integers(1, 3))]
        Image.fromarray(render(shapes, 1, size, rng)[0]).save(out_dir / f"image_{i:05d}.png")
    return out_dir
