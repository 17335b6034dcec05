"""OGBench's cube manipulation (``ogbench``: a UR5e arm with a Robotiq gripper, one to four cubes) as a toolkit
pixel env; OGBench's target cubes are hidden and its scripted pick-and-place oracle is the expert."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.base import PixelStateEnv, require
from envs.mujoco_state import get_sim_state, qpos_of, set_sim_state
from envs.policies import Policy

with require("vjepa/Cube-v0", "ogbench"):
    import mujoco
    from ogbench.manipspace.envs.cube_env import CubeEnv as OGBenchCube
    from ogbench.manipspace.envs.manipspace_env import ManipSpaceEnv
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle

PROPRIO_DIM = 19  # OGBench's proprioceptive block: joints (6 + 6), effector xyz, yaw cos/sin, gripper opening, contact


class CubeEnv(PixelStateEnv):
    """OGBench's ``CubeEnv`` in its data-collection mode: each reset places the arm and the cubes at random.

    An action in Box(-1, 1, (5,)) is OGBench's normalised end-effector command (x, y, z displacement, yaw change,
    gripper change), executed by its inverse-kinematics controller (0.05 s a step). The render is OGBench's
    ``front`` camera at ``image_size``, with its target cubes and success colours off, and without shadows and
    reflections (slow to draw in a software renderer: docs/planning.md).

    Observation: ``{"pixels": (S, S, 3) uint8, "proprio": OGBench's 19-D arm and gripper state float32}`` (the
    cubes' poses, in OGBench's state observation, are left out).
    State (``get_state``): the MuJoCo integration state (``envs.mujoco_state``); ``state_distance`` is the largest
    distance of a cube from its place in the other state (OGBench's success: every cube within 0.04 m).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # one step is 0.05 s
    success_threshold = 0.04  # OGBench cube success: each cube within 4 cm of its goal position

    def __init__(self, render_mode: str | None = None, image_size: int = 64, env_type: str = "single") -> None:
        self._sim = OGBenchCube(
            env_type=env_type, ob_type="states", mode="data_collection", visualize_info=False,
            terminate_at_goal=False, width=image_size, height=image_size,
        )
        self._sim.reset(seed=0)  # builds the MuJoCo model
        self.model, self.data = self._sim.model, self._sim.data
        super().__init__(
            render_mode, image_size, spaces.Box(-np.inf, np.inf, (PROPRIO_DIM,), np.float32), action_dim=5
        )
        self._renderer = mujoco.Renderer(self.model, image_size, image_size)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self._renderer.scene.flags[flag] = 0
        self.num_cubes = self._sim._num_cubes
        self._cube_qpos = np.stack(
            [self.model.joint(f"object_joint_{i}").qposadr[0] + np.arange(3) for i in range(self.num_cubes)]
        )

    # --- PixelStateEnv hooks --------------------------------------------------------------------
    def _reset_state(self, options: dict[str, Any]) -> None:
        self._sim.reset(seed=int(self.np_random.integers(2**31 - 1)))

    def _move(self, action: np.ndarray) -> None:
        self._sim.step(action)
        self._forward()

    def _draw(self) -> np.ndarray:
        self._renderer.update_scene(self.data, "front")
        return self._renderer.render().copy()

    def _proprio(self) -> np.ndarray:
        return ManipSpaceEnv.compute_observation(self._sim)

    def _position(self, state: np.ndarray) -> np.ndarray:
        return qpos_of(self.model, state)[..., self._cube_qpos]

    def state_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Largest distance (m) between a cube's positions in two states."""
        gap = self._position(np.asarray(a)) - self._position(np.asarray(b))
        return float(np.linalg.norm(gap, axis=-1).max())

    def get_state(self) -> np.ndarray:
        return get_sim_state(self.model, self.data)

    def set_state(self, state: np.ndarray) -> None:
        set_sim_state(self.model, self.data, state, "Cube")
        self._forward()

    def _forward(self) -> None:
        """Positions and contact forces of the current state (``mj_step`` leaves those of the state before it), so
        that a stepped state and the same state set with ``set_state`` render and observe alike."""
        mujoco.mj_forward(self.model, self.data)
        mujoco.mj_rnePostConstraint(self.model, self.data)

    def close(self) -> None:
        self._renderer.close()
        self._sim.close()

    # --- exploration ----------------------------------------------------------------------------
    def expert_policy(self, rng: np.random.Generator, noise: float = 0.1) -> Policy:
        """OGBench's pick-and-place oracle (``CubeMarkovOracle``, as in its "play" data) with Gaussian ``noise``:
        it picks a cube, places it at a random target (another cube's top half the time with several cubes), then
        moves the arm to a random pose; then a new target. Its random draws come from ``rng``."""
        oracle = CubeMarkovOracle(env=self._sim, min_norm=0.4)
        started = False

        def act() -> np.ndarray:
            nonlocal started
            if not started or oracle.done:
                if started:
                    self._sim.set_new_target(return_info=False)
                oracle.reset(None, self._sim.compute_ob_info())
                # the oracle draws its final arm pose from numpy's global generator: draw it from rng instead
                oracle._final_pos = rng.uniform(*self._sim._arm_sampling_bounds)
                oracle._final_yaw = rng.uniform(-np.pi, np.pi)
                started = True
            action = oracle.select_action(None, self._sim.compute_ob_info())
            return np.clip(action + rng.normal(0.0, noise, 5), -1.0, 1.0).astype(np.float32)

        return act
