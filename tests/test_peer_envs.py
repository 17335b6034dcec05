"""The peers' benchmark envs (PushT, PointMaze, DMC reacher, OGBench cube) and stock gymnasium envs on the goal-image
path: seeded goals, pixels at the asked size, declared proprio, goals reachable by the goal policy, hidden state
hidden."""

from __future__ import annotations

import tempfile
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs import GoalImageWrapper, make_goal_env
from envs.policies import make_policy, policy_rng
from envs.raster import Canvas
from envs.render import size_kwargs

SIZE = 32


def move_pusht_block(env) -> tuple[str, ...]:
    """Move the block: seen in the pixels only."""
    env.block.position = (300.0, 300.0)
    return ("proprio",)


def move_pointmaze_goal(env) -> tuple[str, ...]:
    """Move gymnasium-robotics' own goal marker: neither drawn nor observed."""
    env._maze_env.goal = np.array([1.0, 1.0])
    env._maze_env.update_target_site_pos()
    return ("pixels", "proprio")


def move_dmc_target(env) -> tuple[str, ...]:
    """Move the suite's target sphere: neither drawn nor observed."""
    env.physics.named.model.geom_pos["target"][:2] = [0.1, -0.1]
    return ("pixels", "proprio")


def move_cube_target(env) -> tuple[str, ...]:
    """Move OGBench's target cube (a mocap body) away from the cube: neither drawn nor observed."""
    env.data.mocap_pos[:] = [0.5, 0.25, 0.02]
    return ("pixels", "proprio")


# (env id, package, proprio size, action size, goal policy, goal steps, a change of hidden state)
PEERS = [
    pytest.param("vjepa/PushT-v0", "pymunk", 4, 2, "expert", 25, move_pusht_block, id="pusht"),
    pytest.param("vjepa/PointMaze-v0", "gymnasium_robotics", 4, 2, "expert", 25, move_pointmaze_goal, id="pointmaze"),
    pytest.param("vjepa/DMCReacher-v0", "dm_control", 6, 2, "random_repeat", 25, move_dmc_target, id="dmc_reacher"),
    pytest.param("vjepa/Cube-v0", "ogbench", 19, 5, "expert", 25, move_cube_target, id="cube"),
]


def goal_env(env_id: str, package: str, policy: str, steps: int) -> GoalImageWrapper:
    pytest.importorskip(package)
    return make_goal_env(env_id, goal_steps=steps, goal_policy=policy, image_size=SIZE)


@pytest.mark.parametrize("env_id,package,proprio,action,policy,steps,hidden", PEERS)
def test_peer_env_passes_the_gymnasium_checker(env_id, package, proprio, action, policy, steps, hidden):
    pytest.importorskip(package)
    env = gym.make(env_id, render_mode="rgb_array", image_size=SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        warnings.filterwarnings("ignore", message=".*infinity")  # but unbounded joint velocities
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id,package,proprio,action,policy,steps,hidden", PEERS)
def test_peer_env_resets_to_the_same_goal_with_pixels_and_proprio_only(
    env_id, package, proprio, action, policy, steps, hidden
):
    env = goal_env(env_id, package, policy, steps)
    assert env.unwrapped.image_size == SIZE  # rendered at the asked size, not resized
    obs, info = env.reset(seed=3)
    again, info_again = env.reset(seed=3)
    np.testing.assert_array_equal(info["goal_image"], info_again["goal_image"])
    np.testing.assert_array_equal(obs["pixels"], again["pixels"])
    assert set(obs) == {"pixels", "proprio"} and "goal_state" not in info
    assert obs["pixels"].shape == (SIZE, SIZE, 3) and obs["pixels"].dtype == np.uint8
    assert obs["proprio"].shape == (proprio,) and env.action_space.shape == (action,)
    assert env.observation_space["proprio"].shape == (proprio,)
    assert not np.array_equal(info["goal_image"], obs["pixels"])
    unchanged = hidden(env.unwrapped)
    after = env.unwrapped._obs()
    for key in unchanged:
        np.testing.assert_array_equal(after[key], obs[key])
    env.close()


@pytest.mark.parametrize("env_id,package,proprio,action,policy,steps,hidden", PEERS)
def test_peer_goal_is_reached_by_its_policy_and_mostly_missed_by_random_actions(
    env_id, package, proprio, action, policy, steps, hidden
):
    env = goal_env(env_id, package, policy, steps)
    seed = 2  # a seed whose goal is away from the start in each env (OGBench's cube is often left in place)
    _, info = env.reset(seed=seed)
    assert not info["success"]
    start = env.unwrapped.get_state()
    act = make_policy(policy, env, policy_rng(seed))  # the goal rollout's policy, from the same start
    for _ in range(steps):
        _, _, _, _, info = env.step(act())
    assert info["success"] and info["goal_distance"] < 1e-6
    misses, sim = 0, env.unwrapped
    for trial in range(2):  # random actions from the same start, towards the same goal
        sim.set_state(start)
        random = make_policy("random", env, policy_rng(100 + trial))
        for _ in range(steps):
            sim.advance(random())  # a step without drawing
        misses += sim.state_distance(sim.get_state(), env.goal_state) >= env.success_threshold
    assert misses >= 1
    env.close()


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


def test_stock_env_declares_its_pixels_before_a_reset_and_runs_as_a_vector_env():
    """A gymnasium vector env sizes its buffers from the observation space its sub-envs are built with."""
    def make() -> GoalImageWrapper:
        return make_goal_env("Pendulum-v1", goal_steps=3, image_size=SIZE, success_threshold=0.5)

    assert make().observation_space["pixels"].shape == (SIZE, SIZE, 3)
    native = GoalImageWrapper(gym.make("Pendulum-v1", render_mode="rgb_array"))  # its own size, read off a frame
    assert native.observation_space["pixels"].shape == (500, 500, 3)
    envs = gym.vector.SyncVectorEnv([make, make])
    obs, info = envs.reset(seed=[0, 1])
    assert obs["pixels"].shape == info["goal_image"].shape == (2, SIZE, SIZE, 3) and obs["proprio"].shape == (2, 3)
    envs.close()


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


def test_pointmaze_explorer_visits_every_cell_of_the_maze():
    pytest.importorskip("gymnasium_robotics")
    env = gym.make("vjepa/PointMaze-v0", image_size=8).unwrapped
    env.reset(seed=0)
    act = make_policy("expert", env, policy_rng(0))
    visited = set()
    for _ in range(600):
        env.step(act())
        visited.add(tuple(int(v) for v in env.maze.cell_xy_to_rowcol(env.data.qpos[:2])))
    assert visited == set(env.free_cells())


def test_canvas_polygon_paints_what_rect_paints_and_turns_with_the_block():
    canvas = Canvas(32, 0.0, 512.0)
    square, rect = canvas.blank((0, 0, 0)), canvas.blank((0, 0, 0))
    canvas.polygon(square, np.array([[100, 100], [300, 100], [300, 250], [100, 250]]), (255, 0, 0))
    canvas.rect(rect, 100, 100, 300, 250, (255, 0, 0))
    np.testing.assert_array_equal(square, rect)
    env = gym.make("vjepa/PushT-v0", image_size=SIZE).unwrapped
    env.reset(seed=0)
    env.set_state([450.0, 450.0, 256.0, 200.0, 0.0, 0.0, 0.0])
    upright = env._draw()
    env.set_state([450.0, 450.0, 256.0, 200.0, np.pi / 2, 0.0, 0.0])
    assert not np.array_equal(upright, env._draw())
    block = np.all(upright == (119, 136, 153), axis=-1)  # the T: a 120 x 30 bar on a 30 x 90 stem
    assert block.sum() == pytest.approx((120 * 30 + 30 * 90) * (SIZE / 512) ** 2, rel=0.25)


@pytest.mark.parametrize("preset", ["reacher_v5", "pusht", "pointmaze", "dmc_reacher", "cube", "pendulum"])
def test_env_presets_make_their_goal_env_through_the_planning_config(preset):
    """`vjepa-plan env=<preset>`'s env: the preset's proprio and score keys and the frame size reach the wrapper."""
    from planning.cli import make_env
    from tests.conftest import compose_config

    cfg = compose_config("plan", [f"env={preset}", "world_model=x.pt", f"env.image_size={SIZE}"])
    package = {"reacher_v5": "mujoco", "pointmaze": "gymnasium_robotics", "dmc_reacher": "dm_control",
               "cube": "ogbench"}.get(preset)
    if package:
        pytest.importorskip(package)
    env = make_env(cfg.env)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (SIZE, SIZE, 3) and info["goal_image"].shape == (SIZE, SIZE, 3)
    assert obs["proprio"].shape == env.observation_space["proprio"].shape
    assert "success" in env.step(env.action_space.sample())[-1]
    if preset == "reacher_v5":
        assert obs["proprio"].shape == (6,)  # cos q, sin q, q velocities: the target's entries left out
    assert env.start_steps == (75 if preset == "cube" else 0)  # cube starts mid-task, as the peers' expert states
    env.close()


def test_pointmaze_leaves_no_maze_file_in_the_temp_dir(tmp_path, monkeypatch):
    pytest.importorskip("gymnasium_robotics")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    gym.make("vjepa/PointMaze-v0", image_size=8).close()
    assert list((tmp_path / "tmp").iterdir()) == []
