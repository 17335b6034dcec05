"""Pixel environments for world-model training and goal-image planning (no model code here).

Registered with gymnasium: ``vjepa/Wall-v0`` (two rooms and a door), ``vjepa/Reacher-v0`` (planar 2-link arm),
``vjepa/PushT-v0`` (gym-pusht's task rebuilt on pymunk 7), and the peers' benchmarks that need the ``envs`` extra
(``pip install -e ".[envs]"``): ``vjepa/PointMaze-v0`` (gymnasium-robotics), ``vjepa/DMCReacher-v0``
(dm_control) and ``vjepa/Cube-v0`` (OGBench).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from envs.goal_wrapper import GoalImageWrapper
from envs.observe import PixelObservation
from envs.reacher import PlanarReacherEnv
from envs.render import size_kwargs
from envs.wall import WallNavigationEnv

if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless: MuJoCo renders offscreen (read when mujoco is imported)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # and pygame (classic control) asks for no display

gym.register(id="vjepa/Wall-v0", entry_point="envs.wall:WallNavigationEnv", max_episode_steps=200)
gym.register(id="vjepa/Reacher-v0", entry_point="envs.reacher:PlanarReacherEnv", max_episode_steps=200)
gym.register(id="vjepa/PushT-v0", entry_point="envs.push_t:PushTEnv", max_episode_steps=200)
gym.register(id="vjepa/PointMaze-v0", entry_point="envs.point_maze:PointMazeEnv", max_episode_steps=200)
gym.register(id="vjepa/DMCReacher-v0", entry_point="envs.dmc_reacher:DMCReacherEnv", max_episode_steps=200)
gym.register(id="vjepa/Cube-v0", entry_point="envs.cube:CubeEnv", max_episode_steps=200)


def rgb_env(env_id: str, image_size: int | None = None, **kwargs: Any) -> gym.Env:
    """``gym.make(env_id, render_mode="rgb_array", **kwargs)``; with ``image_size``, rendering at that size where the
    env can (``envs.render.size_kwargs``; ``kwargs`` win)."""
    if image_size is not None:
        kwargs = {**size_kwargs(env_id, image_size), **kwargs}
    return gym.make(env_id, render_mode="rgb_array", **kwargs)


def make_pixel_env(
    env_id: str, image_size: int | None = None, proprio_dims: Sequence[int] | None = None, **kwargs: Any
) -> PixelObservation:
    """`rgb_env` wrapped in a `PixelObservation`: pixels at ``image_size`` (resized where the env cannot render at
    it) and the proprio entries ``proprio_dims``, from any env."""
    return PixelObservation(rgb_env(env_id, image_size, **kwargs), proprio_dims, image_size)


def make_goal_env(
    env_id: str,
    goal_steps: int = 25,
    goal_policy: str | None = None,
    image_size: int | None = None,
    success_threshold: float | None = None,
    proprio_dims: Sequence[int] | None = None,
    score_dims: Sequence[int] | None = None,
    score: str | None = None,
    start_steps: int = 0,
    **kwargs: Any,
) -> GoalImageWrapper:
    """`rgb_env` wrapped in a ``GoalImageWrapper`` (frames at ``image_size``, as `make_pixel_env`'s)."""
    env = rgb_env(env_id, image_size, **kwargs)
    return GoalImageWrapper(
        env, goal_steps, goal_policy, success_threshold, proprio_dims, score_dims, score, image_size, start_steps
    )


__all__ = ["GoalImageWrapper", "PixelObservation", "PlanarReacherEnv", "WallNavigationEnv", "make_goal_env",
           "make_pixel_env", "rgb_env"]
