"""Planar two-link reacher arm, kinematic (joint-velocity control), rendered top-down."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.base import PixelStateEnv
from envs.raster import Canvas

FLOOR, BASE, LINK1, LINK2, TIP = (24, 26, 40), (120, 120, 120), (70, 140, 235), (90, 210, 120), (235, 70, 50)


class PlanarReacherEnv(PixelStateEnv):
    """Two-link arm with its base at the centre of the world square [-1, 1]^2 (y up).

    An action in Box(-1, 1, (2,)) is a joint velocity: ``q += max_joint_speed * action`` per step. The shoulder
    ``q1`` turns freely (wrapped to [-pi, pi)); the elbow ``q2`` is limited to ``[-elbow_limit, elbow_limit]``.
    Links are drawn as thick lines, the fingertip as a disc.

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": (cos q1, sin q1, cos q2, sin q2) float32}``.
    State (``get_state``): ``[q1, q2]`` float64; ``state_distance`` compares fingertip positions.
    """

    success_threshold = 0.1  # fingertip distance, ≈ 12% of the arm's reach

    def __init__(
        self,
        render_mode: str | None = None,
        image_size: int = 64,
        max_joint_speed: float = 0.15,
        link_lengths: tuple[float, float] = (0.45, 0.4),
        elbow_limit: float = 2.6,
    ) -> None:
        if sum(link_lengths) >= 0.9:
            raise ValueError(f"link_lengths {link_lengths} must sum to < 0.9 to stay inside the image")
        super().__init__(render_mode, image_size, spaces.Box(-1.0, 1.0, (4,), np.float32))
        self.max_joint_speed, self.elbow_limit = max_joint_speed, elbow_limit
        self.link_lengths = np.asarray(link_lengths, dtype=np.float64)
        self.canvas = Canvas(image_size, -1.0, 1.0)
        self._background = self.canvas.blank(FLOOR)
        self.canvas.disc(self._background, np.zeros(2), 0.07, BASE)
        self._q = np.zeros(2)

    def joint_positions(self, state: np.ndarray) -> np.ndarray:
        """Elbow and fingertip positions ``(..., 2, 2)`` of joint angles ``(..., 2)``."""
        angles = np.stack([state[..., 0], state[..., 0] + state[..., 1]], axis=-1)
        links = self.link_lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        return np.cumsum(links, axis=-2)

    def _set_q(self, q: np.ndarray) -> None:
        self._q = np.array([(q[0] + np.pi) % (2 * np.pi) - np.pi, np.clip(q[1], -self.elbow_limit, self.elbow_limit)])

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        self._set_q(self.np_random.uniform([-np.pi, -self.elbow_limit], [np.pi, self.elbow_limit]))

    def _move(self, action: np.ndarray) -> None:
        self._set_q(self._q + self.max_joint_speed * action)

    def _draw(self) -> np.ndarray:
        img = self._background.copy()
        elbow, tip = self.joint_positions(self._q)
        self.canvas.segment(img, np.zeros(2), elbow, 0.05, LINK1)
        self.canvas.segment(img, elbow, tip, 0.04, LINK2)
        self.canvas.disc(img, tip, 0.06, TIP)
        return img

    def _proprio(self) -> np.ndarray:
        return np.stack([np.cos(self._q), np.sin(self._q)], axis=-1).ravel()

    def _position(self, state: np.ndarray) -> np.ndarray:
        return self.joint_positions(state)[..., 1, :]

    def get_state(self) -> np.ndarray:
        return self._q.copy()

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (2,) or not np.all(np.isfinite(state)) or abs(state[1]) > self.elbow_limit:
            raise ValueError(f"Reacher state must be finite (q1, q2) with |q2| <= {self.elbow_limit}, got {state!r}")
        self._set_q(state)
