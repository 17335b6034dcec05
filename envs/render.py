"""Frames at the size a model needs: rendered at that size where the env allows it, resized once otherwise."""

from __future__ import annotations

import inspect
import sys

import gymnasium as gym
import numpy as np
from PIL import Image


def size_kwargs(env_id: str, image_size: int) -> dict[str, int]:
    """Constructor kwargs that make ``env_id`` render ``image_size`` square frames: ``image_size`` for envs that take
    it (the toolkit's), ``width`` and ``height`` for MuJoCo envs (gymnasium's ``MujocoEnv`` and any env taking both),
    none for the others (their frames are resized: ``resize_frame``)."""
    creator = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to inspect
        params = {}
    if "image_size" in params:
        return {"image_size": image_size}
    mujoco_env = sys.modules.get("gymnasium.envs.mujoco.mujoco_env")  # imported by loading a MuJoCo entry point
    is_mujoco = mujoco_env is not None and isinstance(creator, type) and issubclass(creator, mujoco_env.MujocoEnv)
    if is_mujoco or {"width", "height"} <= set(params):
        return {"width": image_size, "height": image_size}
    return {}


def resize_frame(frame: np.ndarray, image_size: int) -> np.ndarray:
    """An (H, W, 3) uint8 frame resized to (image_size, image_size, 3) (bilinear, antialiased); unchanged if it
    already has that size."""
    if frame.shape[:2] == (image_size, image_size):
        return frame
    return np.asarray(Image.fromarray(frame).resize((image_size, image_size), Image.Resampling.BILINEAR))
