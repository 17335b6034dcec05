"""PushT (the diffusion-policy task of gym-pusht and stable-worldmodel): push a T-shaped block with a disc agent.

gym-pusht pins pymunk < 7 and calls APIs that pymunk 7 (the toolkit's) removed, so its physics are rebuilt here on
pymunk 7 with the same bodies, masses and PD controller, and drawn with ``envs.raster`` (no pygame, no goal zone).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymunk
from gymnasium import spaces

from envs.base import PixelStateEnv
from envs.policies import Policy
from envs.raster import Canvas

WORLD = 512.0  # the arena is [0, 512]^2, gym-pusht's pixel units
FLOOR, WALL, AGENT, BLOCK = (255, 255, 255), (211, 211, 211), (65, 105, 225), (119, 136, 153)
WALLS = (((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506)))
AGENT_RADIUS, SCALE, LENGTH = 15.0, 30.0, 4.0  # the T: a 120 x 30 bar over a 30 x 90 stem
BAR = ((-LENGTH * SCALE / 2, SCALE), (LENGTH * SCALE / 2, SCALE), (LENGTH * SCALE / 2, 0), (-LENGTH * SCALE / 2, 0))
STEM = ((-SCALE / 2, SCALE), (-SCALE / 2, LENGTH * SCALE), (SCALE / 2, LENGTH * SCALE), (SCALE / 2, SCALE))
POSITION_TOLERANCE, ANGLE_TOLERANCE = 20.0, np.pi / 9  # stable-worldmodel / DINO-WM PushT eval_state


class PushTEnv(PixelStateEnv):
    """A kinematic disc (radius 15) pushes a T block (mass 1) on a frictionless table without gravity; velocities
    of the block die out within each physics step (pymunk damping 0), as in gym-pusht.

    An action in Box(-1, 1, (2,)) moves the agent's target to its position + ``action_scale`` px × action
    (stable-worldmodel's relative PushT), kept inside the arena (gym-pusht's absolute action range); a PD
    controller (k_p 100, k_v 20) tracks it over 10 physics steps of 0.01 s. Each reset draws the agent in
    [50, 450]^2, the block in [100, 400]^2 and its angle in [-pi, pi) (gym-pusht's reset).

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": agent (x, y, vx, vy) float32}`` (stable-worldmodel's
    proprio; the block's pose is seen only in the pixels).
    State (``get_state``): ``[agent x, y, block x, y, angle, agent vx, vy]`` (DINO-WM's PushT state);
    ``state_distance`` is ``max(position gap / 20, angle gap / (pi / 9))``, the position gap over agent and block
    positions together: below 1 exactly when stable-worldmodel's and DINO-WM's ``eval_state`` count a success.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    success_threshold = 1.0  # normalised: position within 20 px and angle within pi / 9 of the goal's

    def __init__(self, render_mode: str | None = None, image_size: int = 64, action_scale: float = 100.0) -> None:
        super().__init__(render_mode, image_size, spaces.Box(-WORLD, WORLD, (4,), np.float32))
        self.action_scale = action_scale
        self.canvas = Canvas(image_size, 0.0, WORLD)
        self._background = self.canvas.blank(FLOOR)
        for a, b in WALLS:
            self.canvas.segment(self._background, np.array(a, float), np.array(b, float), 2.0, WALL)
        self._build([256.0, 400.0, 256.0, 300.0, 0.0, 0.0, 0.0])

    def _build(self, state: np.ndarray) -> None:
        """A fresh space (no contact cache from earlier steps) in ``state``: a state then steps the same way
        whether it was reached or set."""
        self.space = pymunk.Space()
        self.space.gravity, self.space.damping = (0.0, 0.0), 0.0
        self.space.add(*(pymunk.Segment(self.space.static_body, a, b, 2.0) for a, b in WALLS))
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.space.add(self.agent, pymunk.Circle(self.agent, AGENT_RADIUS))
        self.block = pymunk.Body(1.0, 2 * pymunk.moment_for_poly(1.0, BAR))  # gym-pusht's inertia: the bar's twice
        self._shapes = [pymunk.Poly(self.block, BAR), pymunk.Poly(self.block, STEM)]
        self.block.center_of_gravity = (self._shapes[0].center_of_gravity + self._shapes[1].center_of_gravity) / 2
        self.space.add(self.block, *self._shapes)
        self.agent.position, self.agent.velocity = tuple(state[:2]), tuple(state[5:7])
        self.block.angle = float(state[4])  # first: a later angle would turn the block about its centre of mass
        self.block.position = tuple(state[2:4])

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        agent, block = self.np_random.uniform(50, 450, 2), self.np_random.uniform(100, 400, 2)
        self._build([*agent, *block, self.np_random.uniform(-np.pi, np.pi), 0.0, 0.0])

    def _move(self, action: np.ndarray) -> None:
        target = pymunk.Vec2d(*np.clip(np.array(self.agent.position) + self.action_scale * action, 0.0, WORLD))
        for _ in range(10):
            self.agent.velocity += (100.0 * (target - self.agent.position) - 20.0 * self.agent.velocity) * 0.01
            self.space.step(0.01)

    def _draw(self) -> np.ndarray:
        img = self._background.copy()
        for shape in self._shapes:
            corners = [self.block.local_to_world(v) for v in shape.get_vertices()]
            self.canvas.polygon(img, np.array(corners), BLOCK)
        self.canvas.disc(img, np.array(self.agent.position), AGENT_RADIUS, AGENT)
        return img

    def _proprio(self) -> np.ndarray:
        return np.array([*self.agent.position, *self.agent.velocity])

    def _position(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[..., :4]

    def state_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """``max(position gap / 20, angle gap / (pi / 9))`` between two states (< 1: a success)."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        turn = abs(a[4] - b[4]) % (2 * np.pi)
        angle = min(turn, 2 * np.pi - turn)
        return float(max(np.linalg.norm(a[:4] - b[:4]) / POSITION_TOLERANCE, angle / ANGLE_TOLERANCE))

    def get_state(self) -> np.ndarray:
        return np.array([*self.agent.position, *self.block.position, self.block.angle, *self.agent.velocity])

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (7,) or not np.all(np.isfinite(state)):
            raise ValueError(f"PushT state must be 7 finite values (agent x, y, block x, y, angle, agent vx, vy), "
                             f"got {state!r}")
        self._build(state)

    # --- exploration ----------------------------------------------------------------------------
    def expert_policy(self, rng: np.random.Generator, reach: float = 100.0) -> Policy:
        """stable-worldmodel's PushT collection policy: uniform random actions whose target is clipped to within
        ``reach`` px of the block, so that the agent keeps pushing it."""

        def act() -> np.ndarray:
            agent, block = np.array(self.agent.position), np.array(self.block.position)
            target = np.clip(agent + self.action_scale * rng.uniform(-1, 1, 2), block - reach, block + reach)
            return np.clip((target - agent) / self.action_scale, -1.0, 1.0).astype(np.float32)

        return act
