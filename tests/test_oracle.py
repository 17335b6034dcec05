"""Oracle world models (`planning.oracle`): the env's own simulator in place of the predictor, for diagnosis."""
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
import torch

from planning.cli import make_env
from planning.energies import goal_energy
from planning.mpc import run_episode
from planning.oracle import SimulatorWorldModel, check_simulator
from planning.planners import CEMPlanner
from vjepa.runtime.errors import ConfigError

WALL = {"name": "wall", "id": "vjepa/Wall-v0", "image_size": 32, "goal_steps": 25, "max_steps": 50,
        "replan_every": 1, "success_threshold": None}


class PixelEcho:
    """The part of a world model an oracle uses, its encoder and sizes: features = the frame's pixels, one token
    each."""

    action_agg, frame_step, image_size = "sum", 1, 32

    def __init__(self, env: gym.Env) -> None:
        self.action_dim, self.state_dim = env.action_space.shape[0], env.observation_space["proprio"].shape[0]

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.float().flatten(1, 2)  # (B, H * W, 3)


@pytest.mark.parametrize("mode", ["repeat", "stack"])
def test_simulator_rollout_is_what_the_env_shows_after_the_same_actions(mode):
    live = make_env(WALL, 2, mode)  # one planner action = 2 env steps
    live.reset(seed=3)
    oracle = SimulatorWorldModel(PixelEcho(live), make_env(WALL), "simulator", 2, mode)
    oracle.watch(live)
    actions = np.random.default_rng(0).uniform(-1, 1, (3, 4, live.action_space.shape[0])).astype(np.float32)
    rollout = oracle.rollout(None, None, None, torch.from_numpy(actions)[None])  # one episode, K=3, H=4
    assert rollout.features.shape == (1, 3, 4, 32 * 32, 3) and rollout.states.shape == (1, 3, 4, oracle.state_dim)
    start = live.unwrapped.get_state()
    for j in range(3):
        live.unwrapped.set_state(start)
        for h in range(4):
            obs = live.step(actions[j, h])[0]
            assert torch.equal(rollout.features[0, j, h], torch.from_numpy(obs["pixels"]).float().flatten(0, 1))
            np.testing.assert_array_equal(rollout.states[0, j, h].numpy(), obs["proprio"])


def test_state_oracle_energy_is_the_env_distance_to_the_goal_and_plans_there():
    live = make_env(WALL)
    oracle = SimulatorWorldModel(PixelEcho(live), make_env(WALL), "state")
    live.reset(seed=0)
    oracle.watch(live)
    stay = oracle.rollout(None, None, None, torch.zeros(1, 2, 2))
    distance = live.unwrapped.state_distance(live.unwrapped.get_state(), live.unwrapped.goal_state)
    assert stay.features.shape == (1, 2, 1, 1) and stay.features.flatten().tolist() == pytest.approx([distance] * 2)
    assert torch.equal(oracle.encode(torch.zeros(3, 32, 32, 3, dtype=torch.uint8)), torch.zeros(3, 1, 1))

    planner = CEMPlanner(oracle, energy=partial(goal_energy, metric="l1"), num_samples=32, num_elites=4,
                         iterations=3, keep_elites=True, execute="best")
    results = [run_episode(oracle.watch(make_env(WALL)), oracle, planner, max_steps=50, record_video=False,
                           seed=seed) for seed in range(4)]
    assert all(r.success for r in results), [r.goal_distance for r in results]  # random actions: 2% (docs)


def test_oracle_needs_a_settable_env_and_one_episode_at_a_time():
    with pytest.raises(ConfigError, match=r"Pendulum-v1 has no get_state, set_state, advance, state_distance.*"
                                          r"\(oracle\)"):
        check_simulator(gym.make("Pendulum-v1"), "Pendulum-v1")
    live = make_env(WALL)
    oracle = SimulatorWorldModel(PixelEcho(live), make_env(WALL), "state")
    with pytest.raises(ValueError, match="one watched episode at a time"):
        oracle.rollout(None, None, None, torch.zeros(1, 2, 2))  # nothing watched yet
    live.reset(seed=0)
    oracle.watch(live)
    with pytest.raises(ValueError, match="one watched episode at a time"):
        oracle.rollout(None, None, None, torch.zeros(2, 1, 2, 2))  # two episodes
