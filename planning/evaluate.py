"""Evaluation harness: N seeded MPC episodes, planned in batches -> results.csv, summary.json and rollout videos."""
import csv
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
from gymnasium.vector import SyncVectorEnv
from tqdm import tqdm

from planning.interface import WorldModel
from planning.mpc import EpisodeResult, run_episodes
from planning.planners import Planner


def trajectory_frames(xy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Positions (T, 2) -> (T, height, width, 3) uint8: the path so far (blue), the current position (red).

    Axes as in an image (x to the right, y downward), scaled to fit the whole episode.
    """
    centre = (xy.min(0) + xy.max(0)) / 2
    half = max(float((xy.max(0) - xy.min(0)).max()) / 2, 1e-6) * 1.1
    unit = (xy - centre) / half  # in [-1/1.1, 1/1.1]
    rc = np.stack([(unit[:, 1] + 1) / 2 * (height - 1), (unit[:, 0] + 1) / 2 * (width - 1)], -1)  # (T, 2) row, col
    canvas = np.full((height, width, 3), 255, np.uint8)
    frames = []
    for t in range(len(rc)):
        if t:
            n = int(np.abs(rc[t] - rc[t - 1]).max()) + 2
            r, c = np.linspace(rc[t - 1], rc[t], n).round().astype(int).T
            canvas[r, c] = (40, 80, 220)
        frame = canvas.copy()
        r, c = rc[t].round().astype(int)
        frame[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2] = (220, 30, 30)
        frames.append(frame)
    return np.stack(frames)


def episode_video(result: EpisodeResult) -> np.ndarray:
    """Three panels side by side per executed observation: observation | goal image | trajectory of proprio."""
    frames = result.frames  # (T, H, W, 3)
    t, h, w, _ = frames.shape
    xy = np.pad(result.states[:, :2], ((0, 0), (0, max(0, 2 - result.states.shape[1]))))  # (T, 2)
    goal = np.broadcast_to(result.goal_image, frames.shape)
    return np.concatenate([frames, goal, trajectory_frames(xy, h, w)], axis=2)


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """(T, H, W, 3) uint8 -> a GIF (pillow) or, for any other suffix, H.264 via PyAV (padded to even sizes)."""
    if path.suffix == ".gif":
        iio.imwrite(path, frames, duration=1000 / fps, loop=0)
    else:
        frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)))
        iio.imwrite(path, frames, fps=fps, plugin="pyav", codec="libx264")


def steps_to_success_summary(steps: Sequence[int]) -> dict:
    """Steps to success of the successful episodes -> their mean and distribution (min, quartiles, max; None
    without any)."""
    if not len(steps):
        return {"mean_steps_to_success": None, "steps_to_success_quartiles": None}
    return {"mean_steps_to_success": float(np.mean(steps)),
            "steps_to_success_quartiles": np.quantile(steps, [0, 0.25, 0.5, 0.75, 1]).tolist()}


def evaluate(
    env_factory: Callable[[], gym.Env],
    world_model: WorldModel,
    planner_factory: Callable[[WorldModel], Planner],
    episodes: int = 50,
    seed: int = 0,
    max_steps: int = 50,
    replan_every: int = 1,
    context_frames: int = 1,
    out_dir: str | Path = "runs/eval",
    save_videos: int = 0,
    video_format: str = "mp4",
    fps: int = 10,
    batch_episodes: int = 1,
) -> dict:
    """Run `episodes` MPC episodes (env seeds seed + i), ``batch_episodes`` at a time in a `SyncVectorEnv` of
    `env_factory` envs planned together (`run_episodes`, a fresh planner per batch), and write the results to
    out_dir. An episode's plans and outcome do not depend on the batch it runs in.

    e.g. `evaluate(make_env, model, lambda wm: make_planner(CEMConfig(), wm, goal_energy, -1.0, 1.0, seed=0),
    episodes=50, batch_episodes=25, out_dir="runs/cem")`.
    Writes results.csv (one row per episode), summary.json and episode_XXX.<video_format> for the first
    `save_videos` episodes. Returns the summary: `success_rate` (the env's success flag after the last action),
    `reached_rate` (the flag held after some action: stable-worldmodel's count, whose episodes end at the goal)
    and the steps to success of the successful episodes (their mean and quartiles).
    """
    if episodes < 1 or batch_episodes < 1:
        raise ValueError(f"episodes ({episodes}) and batch_episodes ({batch_episodes}) must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    start = time.perf_counter()
    progress = tqdm(total=episodes, desc="episodes")
    for first in range(0, episodes, batch_episodes):
        batch = range(first, min(first + batch_episodes, episodes))
        batch_start = time.perf_counter()
        envs = SyncVectorEnv([env_factory] * len(batch))
        results = run_episodes(
            envs, world_model, planner_factory(world_model), [seed + i for i in batch], max_steps, replan_every,
            context_frames, record_video=[i < save_videos for i in batch],
        )
        envs.close()
        wall = (time.perf_counter() - batch_start) / len(batch)
        for i, result in zip(batch, results):
            rows.append({
                "episode": i,
                "seed": seed + i,
                "success": result.success,
                "goal_distance": result.goal_distance,
                "steps": result.steps,
                "steps_to_success": result.steps_to_success,
                "plan_time_s": sum(result.plan_times),
                "time_per_action_s": result.time_per_action,
                "final_energy": result.energies[-1],
                "wall_time_s": wall,  # the batch's, shared equally
            })
            if result.frames is not None:
                write_video(out_dir / f"episode_{i:03d}.{video_format}", episode_video(result), fps)
        progress.update(len(batch))
        progress.set_postfix(success_rate=np.mean([r["success"] for r in rows]))
    progress.close()

    summary = {
        "episodes": episodes,
        "batch_episodes": batch_episodes,
        "success_rate": float(np.mean([r["success"] for r in rows])),
        "reached_rate": float(np.mean([r["steps_to_success"] is not None for r in rows])),
        **steps_to_success_summary([r["steps_to_success"] for r in rows if r["success"]]),
        "mean_goal_distance": float(np.mean([r["goal_distance"] for r in rows])),
        "mean_plan_time_per_action_s": sum(r["plan_time_s"] for r in rows) / max(sum(r["steps"] for r in rows), 1),
        "total_wall_time_s": time.perf_counter() - start,
    }
    with open(out_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
