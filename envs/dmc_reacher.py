"""DeepMind Control Suite's reacher (``dm_control``) as a toolkit pixel env, with stable-worldmodel's qpos-match
task: reach the goal's joint angles; the suite's own target sphere is hidden."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.base import PixelStateEnv, require
from envs.mujoco_state import get_sim_state, qpos_of, set_sim_state

with require("vjepa/DMCReacher-v0", "dm-control"):
    import mujoco
    from dm_control import suite


class DMCReacherEnv(PixelStateEnv):
    """Two-link planar arm of the DeepMind Control Suite (``reacher``), torque-controlled, seen from above.

    An action in Box(-1, 1, (2,)) is the pair of joint torques; one step is the suite's control step (0.02 s).
    Each reset draws the shoulder angle uniformly and the wrist angle uniformly within its limits, at rest. The
    render (camera 0, top-down, at ``image_size``) hides the suite's target sphere.

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": (cos, sin of shoulder and wrist, their velocities)
    float32}`` (the suite's ``position``, its unbounded shoulder angle as cos and sin, and ``velocity``;
    ``to_target`` is left out).
    State (``get_state``): the MuJoCo integration state (``envs.mujoco_state``); ``state_distance`` is the largest
    joint-angle difference (wrapped to [0, pi]), the quantity stable-worldmodel's qpos-match success thresholds.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # one step is 0.02 s
    success_threshold = 0.05  # stable-worldmodel ReacherQPosMatchTask: every joint within 0.05 rad of the goal's

    def __init__(self, render_mode: str | None = None, image_size: int = 64, task: str = "easy") -> None:
        bounds = np.array([1.0, 1.0, 1.0, 1.0, np.inf, np.inf], np.float32)
        super().__init__(render_mode, image_size, spaces.Box(-bounds, bounds, dtype=np.float32))
        self._env = suite.load("reacher", task, task_kwargs={"time_limit": float("inf")})
        self.physics = self._env.physics
        self.model, self.data = self.physics.model.ptr, self.physics.data.ptr
        self.model.geom_rgba[self.physics.model.name2id("target", "geom"), 3] = 0.0
        self._wrist_range = self.physics.named.model.jnt_range["wrist"].copy()
        # MuJoCo's renderer, not dm_control's: two kinds of GL context in one process fail at exit under EGL
        self._renderer = mujoco.Renderer(self.model, image_size, image_size)

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        self._env.reset()
        with self.physics.reset_context():
            self.physics.named.data.qpos["shoulder"] = self.np_random.uniform(-np.pi, np.pi)
            self.physics.named.data.qpos["wrist"] = self.np_random.uniform(*self._wrist_range)
            self.physics.data.qvel[:] = 0.0

    def _move(self, action: np.ndarray) -> None:
        self._env.step(action)

    def _draw(self) -> np.ndarray:
        self._renderer.update_scene(self.data, camera=0)
        return self._renderer.render().copy()

    def _proprio(self) -> np.ndarray:
        q = self.data.qpos[:2]
        return np.concatenate([np.cos(q), np.sin(q), self.data.qvel[:2]])

    def _position(self, state: np.ndarray) -> np.ndarray:
        return qpos_of(self.model, state)[..., :2]

    def state_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Largest joint-angle difference between two states, in radians (wrapped to [0, pi])."""
        diff = np.abs(self._position(np.asarray(a)) - self._position(np.asarray(b))) % (2 * np.pi)
        return float(np.minimum(diff, 2 * np.pi - diff).max())

    def get_state(self) -> np.ndarray:
        return get_sim_state(self.model, self.data)

    def set_state(self, state: np.ndarray) -> None:
        set_sim_state(self.model, self.data, state, "DMC reacher")

    def close(self) -> None:
        self._renderer.close()
        self._env.close()
