"""Pixels and proprio from any rgb_array env: what data collection and goal-image planning observe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.base import env_name
from envs.render import resize_frame


class PixelObservation(gym.Wrapper):
    """Observations ``{"pixels": (H, W, 3) uint8, "proprio": float32 vector}`` of any env rendering ``rgb_array``.

    ``proprio`` is the env's own observation when that is a Box vector (only its entries ``proprio_dims`` when
    given: leave out what a real agent could not read, e.g. a target), else its ``"proprio"`` entry. ``pixels`` are
    the observation's own when it has them, else ``render()``; with ``image_size``, frames of another size are
    resized once (render at the model's size where the env allows it: ``envs.render.size_kwargs``). Without
    ``image_size``, an env whose observation has no pixels is reset once here to read its frame size off a frame.
    """

    def __init__(self, env: gym.Env, proprio_dims: Sequence[int] | None = None, image_size: int | None = None) -> None:
        super().__init__(env)
        self.name = env_name(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"{self.name}: pixel observations need render_mode='rgb_array', got {env.render_mode!r}")
        inner = env.observation_space
        self.vector = isinstance(inner, spaces.Box) and len(inner.shape) == 1
        if not self.vector and proprio_dims is not None:
            raise ValueError(f"{self.name}: proprio_dims, score_dims and score apply to Box vector observations only")
        self._proprio_dims = None if proprio_dims is None else self.dims(proprio_dims, "proprio_dims")
        if self.vector:
            dims = slice(None) if self._proprio_dims is None else self._proprio_dims
            low, high = inner.low[dims].astype(np.float32), inner.high[dims].astype(np.float32)
            self._proprio_key, proprio = None, spaces.Box(low, high, dtype=np.float32)
        elif isinstance(inner, spaces.Dict) and "proprio" in inner.spaces:
            self._proprio_key, proprio = "proprio", inner["proprio"]
        else:
            raise ValueError(f"{self.name}: needs a Box vector observation or a Dict with 'proprio', got {inner}")
        self.image_size = image_size
        if image_size is not None:
            shape = (image_size, image_size, 3)
        elif isinstance(inner, spaces.Dict) and "pixels" in inner.spaces:
            shape = inner["pixels"].shape
        else:  # the env's own frame size, read off one frame
            env.reset()
            shape = self.frame().shape
        self.observation_space = spaces.Dict({"pixels": spaces.Box(0, 255, shape, np.uint8), "proprio": proprio})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self.observe(obs), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observe(obs), reward, terminated, truncated, info

    def dims(self, dims: Sequence[int], key: str) -> np.ndarray:
        """``dims`` as an index array into the Box observation vector (ValueError naming ``key`` if out of range)."""
        index = np.asarray(list(dims), dtype=np.int64)
        size = self.env.observation_space.shape[0]
        if index.ndim != 1 or len(index) == 0 or index.min() < -size or index.max() >= size:
            raise ValueError(f"{self.name}: {key} must be a non-empty list of indices into the {size} observation "
                             f"entries, got {list(dims)}")
        return index

    def frame(self) -> np.ndarray:
        """``render()`` as (H, W, 3) uint8, at ``image_size`` when set."""
        image = self.env.render()
        if image is None:
            raise ValueError(f"{self.name}: render() returned None; pixel observations need rgb_array frames")
        image = np.asarray(image, dtype=np.uint8)
        return image if self.image_size is None else resize_frame(image, self.image_size)

    def observe(self, obs: Any) -> dict[str, np.ndarray]:
        """The pixels and proprio of the env's observation ``obs`` (the env's own pixels when it has them: no
        second render)."""
        if self._proprio_key is None:
            proprio = obs if self._proprio_dims is None else np.asarray(obs)[self._proprio_dims]
        else:
            proprio = obs[self._proprio_key]
        if isinstance(obs, dict) and "pixels" in obs:
            pixels = obs["pixels"] if self.image_size is None else resize_frame(obs["pixels"], self.image_size)
        else:
            pixels = self.frame()
        return {"pixels": pixels, "proprio": np.asarray(proprio, dtype=np.float32)}
