"""Common skeleton of the toolkit's pixel envs: Dict observations, numpy rendering, settable state."""

from __future__ import annotations

import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class PixelStateEnv(gym.Env, ABC):
    """Env with observation ``{"pixels": (S, S, 3) uint8, "proprio": (P,) float32}`` and a full, settable state.

    Subclasses implement ``_reset_state``, ``_move``, ``_draw``, ``_proprio``, ``get_state``, ``set_state``
    and ``_position`` (the part of a state that ``state_distance`` measures). Actions lie in
    Box(-1, 1, (action_dim,)) and are clipped. Reward is ``-state_distance(state, goal)`` once a goal is set with
    ``set_goal``, else 0; episodes never terminate (time limits come from the registration).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    success_threshold: float

    def __init__(
        self, render_mode: str | None, image_size: int, proprio_space: spaces.Box, action_dim: int = 2
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.image_size = image_size
        self.action_space = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self.observation_space = spaces.Dict(
            {"pixels": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8), "proprio": proprio_space}
        )
        self.goal_state: np.ndarray | None = None

    # --- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _reset_state(self, options: dict[str, Any]) -> None:
        """Draw a new start state from ``self.np_random`` (``options`` as passed to ``reset``)."""

    @abstractmethod
    def _move(self, action: np.ndarray) -> None:
        """Advance one step under an action already clipped to [-1, 1]."""

    @abstractmethod
    def _draw(self) -> np.ndarray:
        """Render the current state as a new (S, S, 3) uint8 image."""

    @abstractmethod
    def _proprio(self) -> np.ndarray:
        """Proprioceptive observation of the current state."""

    @abstractmethod
    def _position(self, state: np.ndarray) -> np.ndarray:
        """Part of a state compared by ``state_distance`` (an agent or fingertip position)."""

    @abstractmethod
    def get_state(self) -> np.ndarray:
        """Full state as a float64 vector: enough for ``set_state`` to reproduce the render exactly."""

    @abstractmethod
    def set_state(self, state: np.ndarray) -> None:
        """Restore a state returned by ``get_state`` (ValueError if it is invalid)."""

    # --- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._reset_state(options or {})
        return self._obs(), {}

    def advance(self, action: np.ndarray) -> None:
        """``step`` without its observation (nothing drawn): for rollouts that only need the state they reach."""
        self._move(np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0))

    def step(self, action: np.ndarray):
        self.advance(action)
        reward = 0.0 if self.goal_state is None else -self.state_distance(self.get_state(), self.goal_state)
        return self._obs(), reward, False, False, {}

    def render(self) -> np.ndarray | None:
        return self._draw() if self.render_mode == "rgb_array" else None

    # --- goals and scoring ----------------------------------------------------------------------
    def set_goal(self, state: np.ndarray | None) -> None:
        """Set (or clear, with None) the goal state that the reward measures."""
        self.goal_state = None if state is None else np.array(state, dtype=np.float64)

    def state_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance between the positions of two states (the success criterion)."""
        return float(np.linalg.norm(self._position(np.asarray(a)) - self._position(np.asarray(b))))

    def _obs(self) -> dict[str, np.ndarray]:
        return {"pixels": self._draw(), "proprio": self._proprio().astype(np.float32)}


def env_name(env: gym.Env) -> str:
    """The registered id of an env (or its class name), for error messages."""
    spec = env.unwrapped.spec or env.spec
    return spec.id if spec is not None else type(env.unwrapped).__name__


@contextmanager
def require(what: str, package: str) -> Iterator[None]:
    """Imports inside this block that fail name ``what`` needs ``package`` and the extra that installs it.

    The imports leave logging as they found it: dm_control's adds a root handler, and absl's handler writes to the
    stderr of that moment, which a later logging configuration (hydra's) closes once sys.stderr has changed
    (absl closes a stream it does not take for sys.stderr); absl writes to the process's own stderr instead."""
    handlers = list(logging.root.handlers)
    try:
        yield
    except ImportError as e:
        raise ImportError(f"{what} needs {package}: pip install -e '.[envs]' ({e})") from e
    finally:
        for handler in [h for h in logging.root.handlers if h not in handlers]:
            logging.root.removeHandler(handler)
        if "absl.logging" in sys.modules:
            sys.modules["absl.logging"].get_absl_handler().python_handler.stream = sys.__stderr__
