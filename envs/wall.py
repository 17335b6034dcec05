"""Two-rooms navigation: a disc agent in [0, 1]^2, a vertical wall with a door between the rooms."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.base import PixelStateEnv
from envs.policies import Policy
from envs.raster import Canvas

FLOOR, WALL, AGENT = (24, 26, 40), (205, 205, 205), (235, 70, 50)
_FAR = 2.0  # outer extent of the boxes that stand for the arena border (further than any single move)
_EPS = 1e-9  # tolerance on hit times, in fractions of a move


def _entry(p: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, int, float] | None:
    """First time ``t`` in [0, 1] at which ``p + t d`` enters the open box ``(lo, hi)``, the axis of the face it
    crosses and that face's coordinate; None if the move misses the box (grazing a face or corner is no hit)."""
    t_near, t_far, axis = -np.inf, np.inf, -1
    for a in range(2):
        if d[a] == 0.0:
            if not lo[a] < p[a] < hi[a]:
                return None
            continue
        t0, t1 = sorted(((lo[a] - p[a]) / d[a], (hi[a] - p[a]) / d[a]))
        if t0 > t_near:
            t_near, axis = t0, a
        t_far = min(t_far, t1)
    if axis < 0 or not (-_EPS <= t_near <= 1.0 and t_near < t_far):
        return None
    return max(t_near, 0.0), axis, float(lo[axis] if d[axis] > 0 else hi[axis])


class WallNavigationEnv(PixelStateEnv):
    """Point-agent navigation between two rooms ("Wall" / "TwoRoom" task).

    The arena is [0, 1]^2 (y up); a wall of thickness ``wall_thickness`` at ``x = wall_x`` has a door of width
    ``door_width`` centred at ``door_y`` (None: drawn uniformly in [door_width, 1 - door_width] at each reset;
    ``reset(options={"door_y": y})`` overrides either). An action in Box(-1, 1, (2,)) is a velocity: the agent
    moves by ``max_speed * action`` per step. Motion is swept against the walls (slides along them, never
    tunnels, whatever ``max_speed``); for collisions the agent is its bounding square of half-side
    ``agent_radius`` (it is drawn as a disc), so the door lets the centre through where
    ``|y - door_y| <= door_width / 2 - agent_radius``.

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": agent (x, y) float32}``.
    State (``get_state``): ``[x, y, door_y]`` float64; ``state_distance`` compares agent positions.
    """

    success_threshold = 16 / 224  # stable-worldmodel TwoRoom: within 16 px of the target at 224 px

    def __init__(
        self,
        render_mode: str | None = None,
        image_size: int = 64,
        max_speed: float = 0.05,
        agent_radius: float = 0.04,
        wall_x: float = 0.5,
        wall_thickness: float = 0.06,
        door_width: float = 0.2,
        door_y: float | None = 0.5,
    ) -> None:
        if door_width <= 2 * agent_radius:
            raise ValueError(f"door_width {door_width} must exceed the agent's diameter {2 * agent_radius}")
        if max_speed <= 0:
            raise ValueError(f"max_speed must be positive, got {max_speed}")
        super().__init__(render_mode, image_size, spaces.Box(0.0, 1.0, (2,), np.float32))
        self.max_speed, self.agent_radius = max_speed, agent_radius
        self.wall_x, self.wall_thickness, self.door_width = wall_x, wall_thickness, door_width
        self.default_door_y = door_y
        self.canvas = Canvas(image_size, 0.0, 1.0)
        self._set_door(0.5 if door_y is None else door_y)
        self._pos = np.full(2, agent_radius)  # a valid placeholder until reset

    # --- geometry -------------------------------------------------------------------------------
    def _set_door(self, door_y: float) -> None:
        """Place the door; rebuild the collision boxes (in agent-centre space) and the static background."""
        half = self.door_width / 2
        if not half <= door_y <= 1 - half:
            raise ValueError(f"door_y {door_y} puts the door (width {self.door_width}) outside the arena")
        self.door_y = float(door_y)
        r, x0, x1 = self.agent_radius, self.wall_x - self.wall_thickness / 2, self.wall_x + self.wall_thickness / 2
        boxes = [
            (-_FAR, -_FAR, r, _FAR),  # arena border: left, right, bottom, top
            (1 - r, -_FAR, _FAR, _FAR),
            (-_FAR, -_FAR, _FAR, r),
            (-_FAR, 1 - r, _FAR, _FAR),
            (x0 - r, -_FAR, x1 + r, door_y - half + r),  # wall below and above the door
            (x0 - r, door_y + half - r, x1 + r, _FAR),
        ]
        self._boxes = [(np.array(b[:2]), np.array(b[2:])) for b in boxes]
        self._background = self.canvas.blank(FLOOR)
        self.canvas.rect(self._background, x0, 0.0, x1, door_y - half, WALL)
        self.canvas.rect(self._background, x0, door_y + half, x1, 1.0, WALL)

    def _blocked(self, pos: np.ndarray) -> bool:
        """Whether an agent centred at ``pos`` overlaps a wall or leaves the arena."""
        return any(np.all((lo < pos) & (pos < hi)) for lo, hi in self._boxes)

    def _sweep(self, p: np.ndarray, d: np.ndarray) -> np.ndarray:
        """End point of the move ``p -> p + d``: stop at the first face hit, slide along it, repeat."""
        while d.any():
            hits = [h for lo, hi in self._boxes if (h := _entry(p, d, lo, hi)) is not None]
            if not hits:
                return p + d
            t, axis, face = min(hits)
            p, d = p + t * d, (1.0 - t) * d
            p[axis], d[axis] = face, 0.0
        return p

    def sample_free(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random agent position that touches no wall."""
        while True:
            pos = rng.uniform(self.agent_radius, 1 - self.agent_radius, 2)
            if not self._blocked(pos):
                return pos

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        door_y = options.get("door_y", self.default_door_y)
        half = self.door_width / 2
        self._set_door(self.np_random.uniform(2 * half, 1 - 2 * half) if door_y is None else door_y)
        self._pos = self.sample_free(self.np_random)

    def _move(self, action: np.ndarray) -> None:
        self._pos = self._sweep(self._pos.copy(), self.max_speed * action)

    def _draw(self) -> np.ndarray:
        img = self._background.copy()
        self.canvas.disc(img, self._pos, self.agent_radius, AGENT)
        return img

    def _proprio(self) -> np.ndarray:
        return self._pos

    def _position(self, state: np.ndarray) -> np.ndarray:
        return state[..., :2]

    def get_state(self) -> np.ndarray:
        return np.array([*self._pos, self.door_y])

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (3,):
            raise ValueError(f"Wall state must have shape (3,) = (x, y, door_y), got {state.shape}")
        self._set_door(state[2])
        if self._blocked(state[:2]):
            raise ValueError(f"Wall state: agent position {state[:2]} overlaps a wall or leaves the arena")
        self._pos = state[:2].copy()

    # --- scripted exploration -------------------------------------------------------------------
    def expert_policy(self, rng: np.random.Generator, noise: float = 0.3) -> Policy:
        """Scripted explorer: walk at full speed (plus Gaussian ``noise``) to random targets, going through the
        door when a target lies in the other room; a new target once reached."""
        target = self.sample_free(rng)

        def act() -> np.ndarray:
            nonlocal target
            if np.abs(target - self._pos).max() < self.max_speed:
                target = self.sample_free(rng)
            velocity = (self._waypoint(target) - self._pos) / self.max_speed
            velocity /= max(1.0, np.abs(velocity).max())
            return np.clip(velocity + rng.normal(0.0, noise, 2), -1.0, 1.0).astype(np.float32)

        return act

    def _waypoint(self, target: np.ndarray) -> np.ndarray:
        """Next point to head for on the way to ``target``: the target itself, or the door when in between."""
        sign = 1.0 if target[0] > self.wall_x else -1.0
        if (self._pos[0] > self.wall_x) == (sign > 0):
            return target
        clear = self.wall_thickness / 2 + self.agent_radius + self.max_speed
        aligned = abs(self._pos[1] - self.door_y) < (self.door_width / 2 - self.agent_radius) / 2
        return np.array([self.wall_x + (sign if aligned else -sign) * clear, self.door_y])
