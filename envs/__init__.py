"""Pixel environments for world-model training and goal-image planning (no model code here).

Registered with gymnasium: ``vjepa/Wall-v0`` (two rooms and a door) and ``vjepa/Reacher-v0`` (planar 2-link arm).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.goal_wrapper import GoalImageWrapper
from envs.reacher import PlanarReacherEnv
from envs.wall import WallNavigationEnv

gym.register(id="vjepa/Wall-v0", entry_point="envs.wall:WallNavigationEnv", max_episode_steps=200)
gym.register(id="vjepa/Reacher-v0", entry_point="envs.reacher:PlanarReacherEnv", max_episode_steps=200)


def make_goal_env(env_id: str, goal_steps: int = 25, goal_policy: str | None = None, **kwargs: Any) -> GoalImageWrapper:
    """``gym.make(env_id, render_mode="rgb_array", **kwargs)`` wrapped in a ``GoalImageWrapper``."""
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    return GoalImageWrapper(env, goal_steps=goal_steps, goal_policy=goal_policy)


__all__ = ["GoalImageWrapper", "PlanarReacherEnv", "WallNavigationEnv", "make_goal_env"]
