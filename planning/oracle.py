"""Oracle world models, for diagnosis: the env's own simulator in place of the learned predictor.

An oracle reads the hidden state of the episode's env, which no planner may, so what it reaches is a ceiling, not
a planner's result. ``vjepa-plan oracle=...`` plans with one in place of the predictor, the planner, its budget and
the episodes unchanged, and so splits a gap into its parts:

- ``oracle=simulator``: each candidate's real frames (a copy of the env stepped from the episode's state), encoded
  by the world model's encoder and scored by the configured energy: the success a perfect predictor would give;
- ``oracle=state``: the simulator's states scored by the env's own distance to the goal state: what the search
  reaches with a perfect model and a perfect energy.

The learned model well below ``simulator``: the predictor is what to improve (data, training time); ``simulator``
below ``state``: the features (resolution, what the encoder keeps); ``state`` low: the search (samples,
iterations, horizon) or the budget.
"""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.goal_wrapper import GoalImageWrapper
from planning.interface import Rollout, WorldModel
from vjepa.runtime.errors import ConfigError

OracleKind = Literal["simulator", "state"]
SIMULATOR_METHODS = ("get_state", "set_state", "advance", "state_distance")  # the toolkit's envs (envs.base)


class SimulatorWorldModel:
    """A `WorldModel` whose rollouts step ``sim`` (a second env of the episodes' config, with ``get_state``,
    ``set_state``, ``advance`` and ``state_distance``: the toolkit's envs) from the current state of the episode's
    env, bound with `watch`; episodes are planned one at a time. ``world_model`` encodes the frames and gives the
    action and state sizes. A planner action is a block of ``k`` env steps (`planning.cli.ActionBlockEnv`: "repeat"
    holds it, "stack" splits it), one rollout step.

    ``kind="simulator"``: features (K, H, N, D) of the frames after each block, proprio states (K, H, S).
    ``kind="state"``: features (K, H, 1, 1) are the env's ``state_distance`` to the goal state and `encode` gives
    zeros, so that an L1 goal energy is that distance."""

    frame_step = 1

    def __init__(self, world_model: WorldModel, sim: GoalImageWrapper, kind: OracleKind, k: int = 1,
                 mode: str = "repeat") -> None:
        self.world_model, self.sim, self.kind, self.k, self.mode = world_model, sim, kind, int(k), mode
        self.action_dim, self.state_dim = world_model.action_dim, world_model.state_dim
        self.action_agg, self.image_size = world_model.action_agg, world_model.image_size
        self.sim.reset(seed=0)  # as any env before its first step
        self.live: gym.Env | None = None

    def watch(self, env: gym.Env) -> gym.Env:
        """Plan from ``env``'s states from now on; returns ``env`` (for an env factory)."""
        self.live = env.unwrapped
        return env

    def encode(self, frames: Tensor) -> Tensor:
        if self.kind == "state":
            return torch.zeros(len(frames), 1, 1)
        return self.world_model.encode(frames)

    def rollout(self, context_features: Tensor, context_states: Tensor, context_actions: Tensor,
                actions: Tensor) -> Rollout:
        """Candidates (K, H, A), or (1, K, H, A) for one episode, stepped from the watched env's state; the
        context is that state (the features, states and actions given are not needed)."""
        lead = tuple(actions.shape[:-3])
        if lead not in ((), (1,)) or self.live is None:
            raise ValueError(f"an oracle plans one watched episode at a time, got candidates {tuple(actions.shape)}")
        num, horizon = actions.shape[-3:-1]
        blocks = actions.reshape(num, horizon, -1).cpu().numpy()
        steps = (np.repeat(blocks[:, :, None], self.k, 2) if self.mode == "repeat"
                 else blocks.reshape(num, horizon, self.k, -1))  # (K, H, k, a): the env's own actions
        start = self.live.get_state()
        rollout = self._distances(start, steps) if self.kind == "state" else self._frames(start, steps)
        if not lead:
            return rollout
        return Rollout(rollout.features[None], None if rollout.states is None else rollout.states[None])

    def _distances(self, start: np.ndarray, steps: np.ndarray) -> Rollout:
        """Features (K, H, 1, 1): the env's distance to the goal state after each block of ``steps``."""
        env, goal = self.sim.unwrapped, self.live.goal_state
        distances = np.empty(steps.shape[:2], np.float32)
        for j, candidate in enumerate(steps):
            env.set_state(start)
            for h, block in enumerate(candidate):
                for action in block:
                    env.advance(action)
                distances[j, h] = env.state_distance(env.get_state(), goal)
        return Rollout(torch.from_numpy(distances)[..., None, None])

    def _frames(self, start: np.ndarray, steps: np.ndarray) -> Rollout:
        """The encoded frames (K, H, N, D) and proprio (K, H, S) after each block of ``steps``."""
        env, (num, horizon) = self.sim.unwrapped, steps.shape[:2]
        frames = np.empty((num, horizon, self.image_size, self.image_size, 3), np.uint8)
        states = np.empty((num, horizon, self.state_dim), np.float32)
        for j, candidate in enumerate(steps):
            env.set_state(start)
            for h, block in enumerate(candidate):
                for action in block[:-1]:
                    env.advance(action)
                observed = self.sim.observe(env.step(block[-1])[0])  # drawn once a block
                frames[j, h], states[j, h] = observed["pixels"], observed["proprio"]
        with torch.inference_mode():
            features = self.world_model.encode(torch.from_numpy(frames.reshape(-1, *frames.shape[2:])))
        return Rollout(features.unflatten(0, (num, horizon)), torch.from_numpy(states).to(features.device))


def check_simulator(env: gym.Env, env_id: str) -> None:
    """A `ConfigError` naming ``oracle`` unless ``env`` can be set to a state and stepped from it."""
    missing = [name for name in SIMULATOR_METHODS if not hasattr(env.unwrapped, name)]
    if missing:
        raise ConfigError(f"{env_id} has no {', '.join(missing)}: an oracle steps the env from a set state", "oracle",
                          "use an env of the toolkit (envs/), or drop oracle")
