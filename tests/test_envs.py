"""Toolkit envs, goal-image wrapper, data collection and the episode format."""

from __future__ import annotations

import json
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from configs.schema.collect import CollectConfig
from configs.schema.env import EnvConfig
from envs import GoalImageWrapper, WallNavigationEnv, make_goal_env
from envs.collect import collect, main
from envs.policies import make_policy, policy_rng
from vjepa.data.episodes import EpisodeDataset, EpisodeWriter
from vjepa.runtime.errors import ConfigError

ENV_IDS = ["vjepa/Wall-v0", "vjepa/Reacher-v0"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_passes_gymnasium_checker_and_renders_offscreen(env_id):
    env = gym.make(env_id, render_mode="rgb_array", image_size=48)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    image = env.render()
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, obs["pixels"])
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= 3  # floor, walls/links and agent/fingertip are drawn


def wall_violations(positions, env: WallNavigationEnv) -> int:
    """Positions where the agent's collision square overlaps the wall by more than float32 rounding (checked
    independently of the env; touching a face is allowed)."""
    x, y, tol = positions[:, 0], positions[:, 1], 1e-6
    in_wall_x = np.abs(x - env.wall_x) < env.wall_thickness / 2 + env.agent_radius - tol
    in_door = np.abs(y - env.door_y) <= env.door_width / 2 - env.agent_radius + tol
    return int(np.sum(in_wall_x & ~in_door))


def test_wall_blocks_crossing_except_through_the_door():
    env = WallNavigationEnv(max_speed=0.5, door_y=0.5)  # one step is longer than the wall is thick
    env.reset(seed=0)
    face = env.wall_x - env.wall_thickness / 2 - env.agent_radius
    env.set_state([0.2, 0.15, 0.5])
    xs = [env.step(np.array([1.0, 0.0]))[0]["proprio"][0] for _ in range(100)]
    assert max(xs) == pytest.approx(face)  # it reaches the wall and stays there
    env.set_state([0.2, 0.5, 0.5])  # in line with the door: straight through
    assert env.step(np.array([1.0, 0.0]))[0]["proprio"][0] > env.wall_x


def test_wall_random_and_expert_walks_cross_only_through_the_door():
    env = WallNavigationEnv(door_y=None)
    crossings = 0
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        act = make_policy("mixture", env, policy_rng(seed))
        positions = np.array([obs["proprio"]] + [env.step(act())[0]["proprio"] for _ in range(300)])
        assert wall_violations(positions, env) == 0
        assert positions.min() >= env.agent_radius - 1e-6 and positions.max() <= 1 - env.agent_radius + 1e-6
        crossings += int(np.sum(np.diff(positions[:, 0] > env.wall_x) != 0))
    assert crossings >= 4  # the door-seeking policy does get through


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_set_state_round_trip_reproduces_the_render(env_id):
    source, target = gym.make(env_id).unwrapped, gym.make(env_id).unwrapped
    source.reset(seed=0, options={"door_y": 0.3} if "Wall" in env_id else None)
    for _ in range(5):
        source.step(np.array([0.7, -0.4]))
    target.reset(seed=1)
    assert not np.array_equal(source._draw(), target._draw())
    target.set_state(source.get_state())
    np.testing.assert_array_equal(source._draw(), target._draw())
    np.testing.assert_array_equal(source.get_state(), target.get_state())
    assert target.state_distance(source.get_state(), target.get_state()) == 0.0


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_goal_wrapper_goal_is_reproducible_and_reached_by_setting_its_state(env_id):
    env = make_goal_env(env_id, image_size=32)
    obs, info = env.reset(seed=3)
    assert info["goal_image"].shape == (32, 32, 3) and info["goal_image"].dtype == np.uint8
    assert not np.array_equal(info["goal_image"], obs["pixels"])
    assert not info["success"] and info["goal_distance"] > env.success_threshold
    assert env.observation_space.contains(obs)

    again, info_again = env.reset(seed=3)
    np.testing.assert_array_equal(again["pixels"], obs["pixels"])
    np.testing.assert_array_equal(info_again["goal_image"], info["goal_image"])
    assert not np.array_equal(env.reset(seed=4)[1]["goal_image"], info["goal_image"])

    env.reset(seed=3)
    env.unwrapped.set_state(env.goal_state)
    obs, reward, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["success"] and info["goal_distance"] == pytest.approx(0.0, abs=1e-9)
    assert reward == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(obs["pixels"], env.goal_image)


def test_start_steps_start_mid_rollout_and_the_goal_is_further_along_it():
    """start_steps=20: the start is the state 0..20 steps along the goal policy's rollout from the reset (drawn
    per seed), observed there, and the goal is goal_steps further along the same rollout."""
    plain = make_goal_env("vjepa/Wall-v0", image_size=32)
    mid = make_goal_env("vjepa/Wall-v0", image_size=32, start_steps=20)
    leads = []
    for seed in range(6):
        plain.reset(seed=seed)
        act = make_policy(plain.goal_policy, plain.unwrapped, policy_rng(seed))
        rollout = [plain.unwrapped.get_state()]
        for _ in range(20 + 25):
            plain.unwrapped.advance(act())
            rollout.append(plain.unwrapped.get_state())
        obs, info = mid.reset(seed=seed)
        lead = next(i for i, state in enumerate(rollout[:21]) if np.array_equal(state, mid.unwrapped.get_state()))
        np.testing.assert_array_equal(mid.goal_state, rollout[lead + 25])
        np.testing.assert_array_equal(obs["pixels"], mid.frame())
        again, info_again = mid.reset(seed=seed)
        np.testing.assert_array_equal(again["pixels"], obs["pixels"])
        np.testing.assert_array_equal(info_again["goal_image"], info["goal_image"])
        leads.append(lead)
    assert len(set(leads)) > 2, leads


def test_start_steps_on_a_stock_env_replay_the_rollout_to_the_start():
    def episode(start_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        env = GoalImageWrapper(gym.make("Pendulum-v1", render_mode="rgb_array"), goal_steps=10, image_size=32,
                               start_steps=start_steps)
        obs, info = env.reset(seed=seed)
        return obs["proprio"], info["goal_image"]

    for seed in range(3):
        start, goal = episode(15, seed)
        np.testing.assert_array_equal(episode(15, seed)[0], start)
        np.testing.assert_array_equal(episode(15, seed)[1], goal)
    assert any(not np.array_equal(episode(15, seed)[0], episode(0, seed)[0]) for seed in range(3))


def test_start_steps_replay_stops_where_the_rollout_ended():
    """A time limit of 4 steps ends the goal rollout early: the replayed start stops there too (the goal's state)."""
    env = GoalImageWrapper(gym.make("Pendulum-v1", render_mode="rgb_array", max_episode_steps=4), goal_steps=10,
                           image_size=32, start_steps=30)
    seed = next(s for s in range(10) if np.random.default_rng([s, 2]).integers(31) > 4)  # a lead past the limit
    obs, info = env.reset(seed=seed)
    np.testing.assert_array_equal(obs["pixels"], info["goal_image"])


def test_goal_wrapper_on_stock_pendulum():
    env = GoalImageWrapper(gym.make("Pendulum-v1", render_mode="rgb_array"), goal_steps=10)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == info["goal_image"].shape == (500, 500, 3)
    assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (3,)
    assert not np.array_equal(obs["pixels"], info["goal_image"])
    again, info_again = env.reset(seed=0)
    np.testing.assert_array_equal(again["proprio"], obs["proprio"])
    np.testing.assert_array_equal(info_again["goal_image"], info["goal_image"])
    _, _, _, _, info = env.step(np.zeros(1, np.float32))
    assert info["goal_distance"] > 0 and "success" not in info  # no success threshold for a stock env
    assert env.observation_space["pixels"].shape == (500, 500, 3)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "vjepa/Wall-v0"])
def test_goal_wrapper_needs_rgb_array_rendering(env_id):
    with pytest.raises(ValueError, match=f"{env_id}.*rgb_array"):
        GoalImageWrapper(gym.make(env_id))


WALL = EnvConfig(name="wall", id="vjepa/Wall-v0", image_size=32)


@pytest.mark.parametrize("env_id, observed", [("Pendulum-v1", 3), ("MountainCarContinuous-v0", 2)])
def test_collect_from_a_stock_env_renders_its_frames_and_reads_its_observation(tmp_path, monkeypatch, env_id,
                                                                                observed):
    """`vjepa-collect env=gym env.id=...`: a stock env takes no image_size and has no pixels, proprio or get_state;
    its frames are rendered and resized, its states are its observation vectors (their entries proprio_dims)."""
    def run(out: str, *overrides: str) -> EpisodeDataset:
        argv = ["vjepa-collect", "env=gym", f"env.id={env_id}", "env.image_size=24", f"out={tmp_path / out}",
                "episodes=2", "length=6", *overrides]
        monkeypatch.setattr(sys, "argv", argv)
        main()
        return EpisodeDataset(tmp_path / out)

    data = run("all")
    episode = data[1]
    assert data.meta["policy"] == "random_repeat" and data.lengths == [6, 6] and data.state_dim == observed
    assert episode.frames.shape == (6, 24, 24, 3) and "env_state" not in episode.extras
    assert not np.array_equal(episode.frames[0], episode.frames[-1]) and np.diff(episode.states, axis=0).any()
    np.testing.assert_array_equal(run("first", "env.proprio_dims=[0]")[1].states, episode.states[:, :1])


@pytest.mark.parametrize("env, key, message", [
    (EnvConfig(name="gym", id="CartPole-v1"), "env.id", "world models need a 1-D Box action space"),
    (EnvConfig(name="gym", id="Pendulum-v1", kwargs={"image_size": 32}), "env.kwargs", "are not accepted by"),
    (EnvConfig(name="gym", id="Pendulum-v1", proprio_dims=[5]), "env", "proprio_dims must be"),
])
def test_collect_names_what_an_env_refuses(tmp_path, env, key, message):
    with pytest.raises(ConfigError, match=rf"{message}.*\({key}\)"):
        collect(CollectConfig(out=str(tmp_path), env=env, episodes=1, length=2))


def test_collect_writes_a_readable_dataset(tmp_path, monkeypatch):
    root = collect(CollectConfig(out=str(tmp_path / "wall"), env=WALL, episodes=3, length=12, policy="mixture"))
    data = EpisodeDataset(root)
    assert len(data) == 3 and data.lengths == [12, 12, 12]
    assert (data.action_dim, data.state_dim, data.meta["env_id"]) == (2, 2, "vjepa/Wall-v0")
    episode = data[2]
    assert episode.frames.shape == (12, 32, 32, 3) and episode.frames.dtype == np.uint8
    assert episode.actions.shape == (12, 2) and not episode.actions[-1].any() and episode.actions[:-1].any()
    np.testing.assert_allclose(episode.states, episode.extras["env_state"][:, :2], atol=1e-6)
    steps = np.abs(np.diff(episode.states, axis=0))
    assert steps.max() <= 0.05 + 1e-6 and steps.sum() > 0
    assert not np.array_equal(data[0].frames[0], data[1].frames[0])

    monkeypatch.setattr(sys, "argv", ["vjepa-collect", "env=reacher", f"out={tmp_path / 'reacher'}",
                                      "episodes=2", "length=5"])
    main()
    reacher = EpisodeDataset(tmp_path / "reacher")
    assert reacher[1].frames.shape == (5, 64, 64, 3) and reacher.state_dim == 4


def test_collect_can_hold_actions_for_a_world_models_frame_step(tmp_path):
    root = collect(CollectConfig(out=str(tmp_path / "held"), env=WALL, episodes=2, length=13, policy="random", hold=4))
    data = EpisodeDataset(root)
    assert data.meta["hold"] == 4
    actions = data[1].actions[:-1]  # (12, 2): three blocks of one action each
    blocks = actions.reshape(3, 4, 2)
    assert (blocks == blocks[:, :1]).all() and not np.array_equal(blocks[0, 0], blocks[1, 0])
    with pytest.raises(ConfigError, match=r"must be an integer >= 1, got 0 \(hold\)"):
        collect(CollectConfig(out=str(tmp_path / "bad"), env=WALL, episodes=1, length=5, hold=0))


def test_collect_with_workers_writes_the_same_dataset(tmp_path):
    """Two processes collect the episodes (and their videos) that one does: each depends on its seed alone."""
    def run(workers: int) -> EpisodeDataset:
        return EpisodeDataset(collect(CollectConfig(out=str(tmp_path / str(workers)), env=WALL, episodes=5,
                                                    length=6, videos=True, workers=workers)))

    one, two = run(1), run(2)
    assert two.meta == one.meta and len(two) == 5
    for i in range(5):
        for key in ("frames", "actions", "states"):
            np.testing.assert_array_equal(getattr(two[i], key), getattr(one[i], key))
        np.testing.assert_array_equal(two[i].extras["env_state"], one[i].extras["env_state"])
    assert sorted(p.name for p in (tmp_path / "2" / "videos").iterdir()) == [f"episode_{i:06d}.mp4" for i in range(5)]
    with pytest.raises(ConfigError, match=r"must be an integer >= 1, got 0 \(workers\)"):
        collect(CollectConfig(out=str(tmp_path / "bad"), env=WALL, episodes=1, length=5, workers=0))


def fake_episode(length: int, action_dim: int = 2, state_dim: int = 3, size: int = 8):
    rng = np.random.default_rng(length)
    frames = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
    return frames, rng.normal(size=(length, action_dim)), rng.normal(size=(length, state_dim))


def test_episode_round_trip(tmp_path):
    episodes = [fake_episode(5), fake_episode(7)]
    with EpisodeWriter(tmp_path, fps=4, env_id="robot", robot="arm") as writer:
        for i, (frames, actions, states) in enumerate(episodes):
            writer.add(frames, actions, states, reward=np.full(len(frames), float(i)))
    data = EpisodeDataset(tmp_path)
    assert len(data) == 2 and data.lengths == [5, 7] and (data.action_dim, data.state_dim) == (2, 3)
    assert data.meta["robot"] == "arm" and data.meta["fps"] == 4.0 and data.meta["image_size"] == [8, 8]
    for (frames, actions, states), episode in zip(episodes, data):
        np.testing.assert_array_equal(episode.frames, frames)
        np.testing.assert_array_equal(episode.actions, actions.astype(np.float32))
        np.testing.assert_array_equal(episode.states, states.astype(np.float32))
    assert data[1].extras["reward"].tolist() == [1.0] * 7 and len(data[1]) == 7
    assert not list(tmp_path.glob("**/*.tmp"))  # atomic writes leave no temporaries


def test_episode_writer_rejects_inconsistent_episodes(tmp_path):
    writer = EpisodeWriter(tmp_path, fps=4)
    writer.add(*fake_episode(5))
    frames, actions, states = fake_episode(6)
    with pytest.raises(ValueError, match=r"episode 1: .*'actions': 5"):
        writer.add(frames, actions[:5], states)
    with pytest.raises(ValueError, match="episode 1: action_dim is 4, earlier episodes have 2"):
        writer.add(*fake_episode(6, action_dim=4))
    with pytest.raises(ValueError, match="episode 1: frames must be uint8"):
        writer.add(frames.astype(np.float32), actions, states)
    writer.close()
    with pytest.raises(FileExistsError, match="meta.json"):
        EpisodeWriter(tmp_path, fps=4)


def test_episode_dataset_reports_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json"):
        EpisodeDataset(tmp_path)
    with EpisodeWriter(tmp_path, fps=4) as writer:
        path = writer.add(*fake_episode(5))
    frames, actions, states = fake_episode(4)
    np.savez(path, frames=frames, actions=actions, states=states)  # file shorter than meta.json says
    expected = r"episode_000000.npz: frames expected shape \(5, 8, 8, 3\), found \(4, 8, 8, 3\)"
    with pytest.raises(ValueError, match=expected):
        EpisodeDataset(tmp_path)[0]
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ValueError, match="unknown format/version"):
        EpisodeDataset(tmp_path)


def test_exploration_policies():
    env = gym.make("vjepa/Reacher-v0")
    env.reset(seed=0)
    act = make_policy("random_repeat", env, policy_rng(0))
    actions = np.array([act() for _ in range(200)])
    runs = np.diff(np.flatnonzero(np.r_[True, np.any(np.diff(actions, axis=0) != 0, axis=1), True]))
    assert runs.min() >= 1 and runs.max() <= 5 and runs.mean() > 2  # actions held for 1..5 steps
    assert np.all(np.abs(actions) <= 1)
    with pytest.raises(ValueError, match="vjepa/Reacher-v0 has none"):
        make_policy("expert", env, policy_rng(0))
