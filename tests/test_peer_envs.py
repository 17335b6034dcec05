"""Stock gymnasium envs on the goal-image path: pixels at the asked size, declared proprio, scored dimensions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs import GoalImageWrapper, make_goal_env
from envs.policies import make_policy, policy_rng
from envs.render import size_kwargs

SIZE = 32


def test_size_kwargs_render_at_the_model_size_where_the_env_allows_it():
    assert size_kwargs("vjepa/Wall-v0", 48) == {"image_size": 48}
    assert size_kwargs("Pendulum-v1", 48) == {}  # classic control: frames are resized by the wrapper
    pytest.importorskip("mujoco")
    assert size_kwargs("Reacher-v5", 48) == {"width": 48, "height": 48}


def test_stock_pendulum_scores_chosen_dims_on_resized_frames():
    env = make_goal_env("Pendulum-v1", goal_steps=10, image_size=SIZE, score_dims=[0, 1], success_threshold=0.1)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == info["goal_image"].shape == (SIZE, SIZE, 3)  # 500 px frames, resized once
    assert obs["proprio"].shape == (3,)
    act = make_policy("random_repeat", env, policy_rng(0))
    for _ in range(10):
        obs, _, _, _, info = env.step(act())
    assert info["success"] and info["goal_distance"] < 1e-6
    goal_angle = env._goal_obs[:2]
    env.step(np.array([2.0], np.float32))
    state = env.unwrapped.state  # (theta, theta_dot): velocity is not scored
    expected = np.linalg.norm([np.cos(state[0]) - goal_angle[0], np.sin(state[0]) - goal_angle[1]])
    assert env._score(env.unwrapped._get_obs())["goal_distance"] == pytest.approx(expected, abs=1e-6)


def test_stock_mujoco_reacher_scores_the_fingertip_and_hides_the_target():
    pytest.importorskip("mujoco")
    env = make_goal_env(
        "Reacher-v5", goal_steps=15, image_size=SIZE, proprio_dims=[0, 1, 2, 3, 6, 7], score="reacher_v5_fingertip",
        success_threshold=0.01,
    )
    assert env.unwrapped.width == env.unwrapped.height == SIZE  # MuJoCo renders at the asked size
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (SIZE, SIZE, 3) and obs["proprio"].shape == (6,)
    full = env.unwrapped._get_obs()
    np.testing.assert_allclose(obs["proprio"], full[[0, 1, 2, 3, 6, 7]], rtol=1e-6)  # no target entries
    act = make_policy("random_repeat", env, policy_rng(0))
    for _ in range(15):
        _, _, _, _, info = env.step(act())
    assert info["success"]
    goal_tip = env.unwrapped.get_body_com("fingertip")[:2].copy()
    for _ in range(5):
        _, _, _, _, info = env.step(np.array([1.0, -1.0], np.float32))
    tip = env.unwrapped.get_body_com("fingertip")[:2]
    assert info["goal_distance"] == pytest.approx(np.linalg.norm(tip - goal_tip), abs=1e-5)
    assert not info["success"]


def test_wrapper_refuses_dims_it_cannot_apply():
    wall = gym.make("vjepa/Wall-v0", render_mode="rgb_array")
    with pytest.raises(ValueError, match="Box vector observations only"):
        GoalImageWrapper(wall, score_dims=[0])
    pendulum = gym.make("Pendulum-v1", render_mode="rgb_array")
    with pytest.raises(ValueError, match="not both"):
        GoalImageWrapper(pendulum, score_dims=[0], score="reacher_v5_fingertip")
    with pytest.raises(ValueError, match="proprio_dims must be"):
        GoalImageWrapper(pendulum, proprio_dims=[3])
    with pytest.raises(ValueError, match="unknown score"):
        GoalImageWrapper(pendulum, score="pendulum_angle")
