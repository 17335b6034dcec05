"""A MuJoCo simulation's full state as one float64 vector, for the settable envs that wrap MuJoCo simulators.

The vector is ``mj_getState(..., mjSTATE_INTEGRATION)``: time, qpos, qvel, actuator activations, controls, applied
forces and mocap poses — everything the next ``mj_step`` reads.
"""

from __future__ import annotations

import numpy as np

from envs.base import require

with require("the MuJoCo envs", "mujoco"):
    import mujoco

STATE_SIG = mujoco.mjtState.mjSTATE_INTEGRATION


def get_sim_state(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """The full integration state of ``data``."""
    state = np.empty(mujoco.mj_stateSize(model, STATE_SIG), np.float64)
    mujoco.mj_getState(model, data, state, STATE_SIG)
    return state


def set_sim_state(model: mujoco.MjModel, data: mujoco.MjData, state: np.ndarray, name: str) -> None:
    """Restore a state from ``get_sim_state`` and recompute the derived quantities (positions, contacts) that a
    render or an observation reads; ValueError naming ``name`` if the vector does not fit the model."""
    state = np.asarray(state, dtype=np.float64)
    size = mujoco.mj_stateSize(model, STATE_SIG)
    if state.shape != (size,) or not np.all(np.isfinite(state)):
        raise ValueError(f"{name} state must be a finite vector of {size} values, got shape {state.shape}")
    mujoco.mj_setState(model, data, state, STATE_SIG)
    mujoco.mj_forward(model, data)


def qpos_of(model: mujoco.MjModel, state: np.ndarray) -> np.ndarray:
    """The joint positions inside a state vector (``(..., nq)``; the layout starts with time, then qpos)."""
    return np.asarray(state)[..., 1 : 1 + model.nq]
