"""PointMaze (gymnasium-robotics, the D4RL maze2d ball) as a toolkit pixel env, rendered top-down."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.base import PixelStateEnv, require
from envs.mujoco_state import get_sim_state, qpos_of, set_sim_state
from envs.policies import Policy

with require("vjepa/PointMaze-v0", "gymnasium-robotics"):
    import mujoco
    from gymnasium_robotics.envs.maze import maps
    from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv as RoboticsPointMaze

MAZES = {"u_maze": maps.U_MAZE, "medium": maps.MEDIUM_MAZE, "large": maps.LARGE_MAZE, "open": maps.OPEN}


class PointMazeEnv(PixelStateEnv):
    """A force-actuated ball in a maze of unit cells (gymnasium-robotics' ``PointMazeEnv``, no goal of its own).

    An action in Box(-1, 1, (2,)) is the force on the ball (the simulator caps its speed at 5). Each reset puts the
    ball in a random free cell (gymnasium-robotics' reset). The render is a top-down view at ``image_size`` of the
    maze inside its outer wall (half of the wall in view; the ball, drawn as its 0.2-radius site, is 6 px across
    at 64 px); gymnasium-robotics' goal marker is hidden (goals are images here).

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": ball (x, y, vx, vy) float32}``.
    State (``get_state``): the MuJoCo integration state (``envs.mujoco_state``); ``state_distance`` compares ball
    positions (x, y).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}  # one step is 0.01 s
    success_threshold = 0.5  # DINO-WM point_maze eval_state: ball within 0.5 (half a cell) of the goal's

    def __init__(self, render_mode: str | None = None, image_size: int = 64, maze: str = "u_maze") -> None:
        if maze not in MAZES:
            raise ValueError(f"maze must be one of {sorted(MAZES)}, got {maze!r}")
        self._maze_env = RoboticsPointMaze(maze_map=MAZES[maze], continuing_task=True)
        Path(self._maze_env.tmp_xml_file_path).unlink(missing_ok=True)  # its maze's XML, left in the temp dir
        half = np.array([self._maze_env.maze.x_map_center, self._maze_env.maze.y_map_center])
        bounds = np.concatenate([half, [np.inf, np.inf]]).astype(np.float32)  # inside the outer wall
        super().__init__(render_mode, image_size, spaces.Box(-bounds, bounds, dtype=np.float32))
        self._ball = self._maze_env.point_env
        self.model, self.data = self._ball.model, self._ball.data
        self.maze = self._maze_env.maze
        self._renderer = mujoco.Renderer(self.model, image_size, image_size)
        self.model.site_rgba[self._maze_env.target_site_id, 3] = 0.0
        self._camera = mujoco.MjvCamera()
        self._camera.lookat[:] = (0.0, 0.0, 0.0)
        self._camera.elevation, self._camera.azimuth = -90.0, 90.0
        extent = (max(self.maze.map_length, self.maze.map_width) - 1) * self.maze.maze_size_scaling / 2
        fit = extent / np.tan(np.deg2rad(self.model.vis.global_.fovy / 2))  # the floor's extent fills the view
        self._camera.distance = 1.02 * fit + 0.5  # + the walls' height above the floor, and a margin

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        self._maze_env.reset(seed=int(self.np_random.integers(2**31 - 1)))

    def _move(self, action: np.ndarray) -> None:
        self._ball.step(action)
        mujoco.mj_forward(self.model, self.data)  # positions of the new state (mj_step leaves the previous one's)

    def _draw(self) -> np.ndarray:
        self._renderer.update_scene(self.data, self._camera)
        return self._renderer.render().copy()

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]])

    def _position(self, state: np.ndarray) -> np.ndarray:
        return qpos_of(self.model, state)[..., :2]

    def get_state(self) -> np.ndarray:
        return get_sim_state(self.model, self.data)

    def set_state(self, state: np.ndarray) -> None:
        set_sim_state(self.model, self.data, state, "PointMaze")

    def close(self) -> None:
        self._renderer.close()
        self._maze_env.close()

    # --- exploration ----------------------------------------------------------------------------
    def free_cells(self) -> list[tuple[int, int]]:
        """(row, column) of the maze's free cells."""
        grid = self.maze.maze_map
        return [(i, j) for i, row in enumerate(grid) for j, cell in enumerate(row) if cell != 1]

    def _next_cell(self, start: tuple[int, int], goal: tuple[int, int]) -> tuple[int, int]:
        """The cell after ``start`` on a shortest path of free cells to ``goal`` (``goal`` itself if adjacent)."""
        free, parent = set(self.free_cells()), {goal: goal}
        queue = deque([goal])
        while queue:  # breadth-first from the goal: parent[c] is c's neighbour one step closer to the goal
            cell = queue.popleft()
            if cell == start:
                return parent[cell]
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                near = (cell[0] + di, cell[1] + dj)
                if near in free and near not in parent:
                    parent[near] = cell
                    queue.append(near)
        return goal

    def expert_policy(self, rng: np.random.Generator, noise: float = 0.3, gain: float = 2.0) -> Policy:
        """Scripted explorer: head for a random free cell through the cells between (a PD force towards the next
        cell's centre, plus Gaussian ``noise``); a new cell once there. Covers the whole maze."""
        cells = self.free_cells()
        target = cells[int(rng.integers(len(cells)))]

        def act() -> np.ndarray:
            nonlocal target
            here = tuple(int(v) for v in self.maze.cell_xy_to_rowcol(self.data.qpos[:2]))
            if here == target:
                target = cells[int(rng.integers(len(cells)))]
            waypoint = self.maze.cell_rowcol_to_xy(np.array(self._next_cell(here, target)))
            force = gain * (waypoint - self.data.qpos[:2]) - 0.3 * self.data.qvel[:2]
            return np.clip(force + rng.normal(0.0, noise, 2), -1.0, 1.0).astype(np.float32)

        return act
