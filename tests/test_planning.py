"""Planning: energies, planners, MPC loop and evaluation harness, on toy world models and a point env."""
import csv
import json
from functools import partial

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium import spaces

from configs.schema.planner import PLANNER_CONFIGS, PlannerConfig
from planning import (
    CEMPlanner,
    LinearToyWorldModel,
    Planner,
    Rollout,
    WorldModel,
    evaluate,
    goal_energy,
    make_planner,
    run_episode,
)

DT = 0.2


class PointEnv(gym.Env):
    """A dot in [-0.8, 0.8]^2 moved by DT * action (its first two dimensions), drawn as LinearToyWorldModel expects;
    proprio = its position (zero-padded to ``state_dim``); goal image at reset."""

    def __init__(self, size: int = 32, goal_size: int | None = None, action_dim: int = 2, state_dim: int = 2):
        self.size, self.goal_size, self.state_dim = size, goal_size or size, state_dim
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, (size, size, 3), np.uint8),
            "proprio": spaces.Box(-1, 1, (state_dim,), np.float32),
        })
        self.action_space = spaces.Box(-1, 1, (action_dim,), np.float32)

    @staticmethod
    def draw(pos: np.ndarray, size: int) -> np.ndarray:
        rows, cols = np.mgrid[:size, :size]
        r, c = (pos[1] + 1) / 2 * (size - 1), (pos[0] + 1) / 2 * (size - 1)
        dot = 255 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 2)
        return np.repeat(dot[..., None], 3, -1).astype(np.uint8)

    def observe(self) -> dict:
        proprio = np.pad(self.pos, (0, self.state_dim - 2)).astype(np.float32)
        return {"pixels": self.draw(self.pos, self.size), "proprio": proprio}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.7, 0.7, 2)
        self.goal = self.np_random.uniform(-0.7, 0.7, 2)
        while np.linalg.norm(self.goal - self.pos) < 0.6:
            self.goal = self.np_random.uniform(-0.7, 0.7, 2)
        return self.observe(), {"goal_image": self.draw(self.goal, self.goal_size)}

    def step(self, action):
        self.pos = np.clip(self.pos + DT * action[:2], -0.8, 0.8)
        dist = float(np.linalg.norm(self.pos - self.goal))
        return self.observe(), -dist, False, False, {"success": dist < 0.1, "goal_distance": dist}


class NoPixelsEnv(PointEnv):
    def __init__(self):
        super().__init__()
        self.observation_space = spaces.Dict({"proprio": self.observation_space["proprio"]})

    def observe(self) -> dict:
        return {"proprio": self.pos.astype(np.float32)}


class ActionsAsFeatures:
    """A fake world model whose predicted features are the actions themselves, ([B,] K, H, 1, A), and that predicts no
    states."""

    action_dim, state_dim, frame_step, action_agg, image_size = 2, 2, 1, "sum", 32

    def encode(self, frames):
        return torch.zeros(len(frames), 1, 2)

    def rollout(self, context_features, context_states, context_actions, actions):
        return Rollout(actions[..., None, :])


class Recording(LinearToyWorldModel):
    """The toy model, keeping every candidate action batch (episodes flattened) and context length it is asked to
    roll out."""

    def __init__(self):
        super().__init__(dt=DT)
        self.seen, self.contexts = [], set()

    def rollout(self, context_features, context_states, context_actions, actions):
        self.seen.append(actions.detach().flatten(end_dim=-3).clone())  # (candidates of all episodes, H, A)
        self.contexts.add((context_features.shape[-3], context_states.shape[-2], context_actions.shape[-2]))
        return super().rollout(context_features, context_states, context_actions, actions)


def toy_problem(start=(0.3, -0.2), goal=(-0.5, 0.6), device="cpu"):
    """Toy model, context features (1, N, D), goal features (N, D), states (1, 2), on ``device``."""
    model = LinearToyWorldModel(dt=DT).to(device)
    position = partial(torch.tensor, device=device)
    return model, model.features(position([start])), model.features(position(goal)), torch.zeros(1, 2, device=device)


SMALL = {"cem": {}, "mppi": {}, "gradient": dict(num_restarts=4), "random": {}}  # beside the schema's defaults


def planner_of(name: str, model: WorldModel, energy=goal_energy, action_low=-1.0, action_high=1.0, seed: int = 0,
            **settings) -> Planner:
    """A planner of kind ``name`` in the box [-1, 1] with the settings of configs/planner/<name>.yaml but
    ``settings``."""
    return make_planner(PLANNER_CONFIGS[name](**settings), model, energy, action_low, action_high, seed)


def test_toy_model_satisfies_protocol_and_decodes_the_env_image():
    model, env = LinearToyWorldModel(), PointEnv()
    assert isinstance(model, WorldModel)
    obs, _ = env.reset(seed=0)
    pos = model.position(model.encode(torch.from_numpy(obs["pixels"])[None]))[0]
    assert torch.allclose(pos, torch.from_numpy(obs["proprio"]), atol=0.02)


@pytest.mark.parametrize("steps", ["last", "all"])
@pytest.mark.parametrize("reduce_tokens", ["mean", "pool"])
@pytest.mark.parametrize("metric", ["l1", "l2", "cosine"])
def test_goal_energy_batched_matches_per_candidate_loop(metric, reduce_tokens, steps):
    g = torch.Generator().manual_seed(0)
    pred, goal = torch.randn(6, 4, 5, 8, generator=g), torch.randn(5, 8, generator=g)
    distance = {
        "l1": lambda x, y: F.l1_loss(x, y),
        "l2": lambda x, y: F.mse_loss(x, y),
        "cosine": lambda x, y: 1 - F.cosine_similarity(x, y, dim=0),
    }[metric]
    expected = []
    for candidate in pred:
        per_step = []
        for step in candidate[-1:] if steps == "last" else candidate:
            if reduce_tokens == "pool":
                per_step.append(distance(step.mean(0), goal.mean(0)))
            else:
                per_step.append(torch.stack([distance(p, q) for p, q in zip(step, goal)]).mean())
        expected.append(torch.stack(per_step).mean())
    energy = goal_energy(Rollout(pred), goal, metric=metric, reduce_tokens=reduce_tokens, steps=steps)
    assert energy.shape == (6,)
    assert torch.allclose(energy, torch.stack(expected), atol=1e-6)


def test_cem_finds_the_minimum_of_a_quadratic_energy():
    target = torch.rand(5, 2, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8  # (H, A)
    energy = lambda rollout, goal: (rollout.features[:, :, 0] - target).square().sum((1, 2))  # noqa: E731
    # DINO-WM's search; the other settings (and the box [-1, 1]) are configs/planner/cem.yaml's
    planner = CEMPlanner(ActionsAsFeatures(), energy=energy, horizon=5, num_samples=300, num_elites=30, iterations=30)
    actions = planner.plan(torch.zeros(1, 1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    assert actions.shape == (5, 2)
    assert (actions - target).abs().max() < 0.03
    assert planner.last_energy < 1e-3


@pytest.mark.parametrize("keep_elites", [False, True])
def test_cem_execute_best_returns_the_lowest_energy_sequence_between_two_basins(keep_elites):
    """Two equally deep basins, at +target and -target: the elites' mean falls between them, the best does not."""
    target = torch.full((5, 2), 0.6)

    def energy(rollout, goal):
        actions = rollout.features[..., 0, :]  # (K, H, A)
        return torch.minimum((actions - target).square().sum((-2, -1)), (actions + target).square().sum((-2, -1)))

    class Scored(ActionsAsFeatures):  # keeps every candidate batch it rolls out
        def rollout(self, context_features, context_states, context_actions, actions):
            seen.append(actions.flatten(end_dim=-3))
            return super().rollout(context_features, context_states, context_actions, actions)

    plans = {}  # execute -> the energy of the plan returned
    for execute in ("mean", "best"):
        seen = []
        planner = CEMPlanner(Scored(), energy=energy, horizon=5, num_samples=64, num_elites=16,
                             iterations=3, keep_elites=keep_elites, execute=execute, seed=0)
        planner.plan(torch.zeros(1, 1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
        plans[execute] = planner.last_energy
    best_energy = plans["best"]
    scored = energy(Rollout(torch.cat(seen[:-1])[:, :, None]), None)  # the last rollout scores the plan
    assert best_energy == pytest.approx(scored.min().item())
    assert best_energy < 0.5 * plans["mean"]  # the elites' mean lies between the basins


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_planners_reduce_the_energy_on_the_toy_model(name):
    model, obs, goal, state = toy_problem()
    planner = planner_of(name, model, horizon=5, **SMALL[name])
    actions = planner.plan(obs, goal, state)
    idle = goal_energy(model.rollout(obs, state, torch.zeros(0, 2), torch.zeros(1, 5, 2)), goal).item()
    random, random_energies = planner_of("random", model, horizon=5), []
    for _ in range(10):
        random.plan(obs, goal, state)
        random_energies.append(random.last_energy)
    assert planner.last_energy < 0.05 * idle
    assert planner.last_energy < 0.1 * np.mean(random_energies)
    final = model.position(obs[-1]) + DT * actions.sum(0)
    assert torch.allclose(final, torch.tensor([-0.5, 0.6]), atol=0.05)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_chunked_plan_equals_unchunked_for_a_fixed_seed(name, device):
    model, obs, goal, state = toy_problem(device=device)
    plans = []
    for chunk in (None, 3):
        recording = Recording().to(device)
        planner = planner_of(name, recording, horizon=5, candidate_chunk=chunk, seed=3, **SMALL[name])
        plans.append(planner.plan(obs, goal, state))
        assert max(len(a) for a in recording.seen) <= (chunk or 100)
    assert plans[0].device.type == device.type
    if name == "gradient" or device.type != "cpu":  # matmuls may round differently for another batch size (1 ulp)
        assert torch.allclose(plans[0], plans[1], atol=1e-5)
    else:
        assert torch.equal(plans[0], plans[1])


def test_warm_start_shifts_the_previous_plan():
    model, obs, goal, state = toy_problem()
    planner = planner_of("cem", model, horizon=5, action_low=[-1.0, -0.5], action_high=[1.0, 0.25], **SMALL["cem"])
    centre = torch.tensor([[0.0, -0.125]] * 5)  # the box centre (H, A)
    assert torch.equal(planner.initial_mean(), centre[None])  # one episode
    actions = planner.plan(obs, goal, state)
    planner.advance(2)
    assert torch.equal(planner.initial_mean()[0, :3], actions[2:])
    assert torch.equal(planner.initial_mean()[0, 3:], centre[:2])
    planner.reset()
    assert torch.equal(planner.initial_mean(), centre[None])
    cold = planner_of("cem", model, horizon=5, warm_start=False, **SMALL["cem"])
    cold.plan(obs, goal, state)
    assert torch.equal(cold.initial_mean(), torch.zeros(1, 5, 2))


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient", "random"])
def test_every_candidate_respects_box_and_max_norm(name):
    model, obs, _, state = toy_problem()
    recording = Recording()
    low, high, max_norm = torch.tensor([-0.5, -1.0]), torch.tensor([1.0, 0.3]), 0.6
    far_goal = model.features(torch.tensor([5.0, 5.0]))  # pulls every step onto the bounds
    bounds = dict(action_low=low, action_high=high, max_norm=max_norm)
    planner = planner_of(name, recording, horizon=5, **bounds, **SMALL[name])
    actions = planner.plan(obs, far_goal, state)
    for batch in recording.seen + [actions[None]]:
        assert ((batch >= low) & (batch <= high)).all()
        assert (batch.norm(dim=-1) <= max_norm + 1e-5).all()
    assert (torch.cat(recording.seen).norm(dim=-1) > max_norm - 1e-4).any()  # the constraint was active


def test_mpc_with_cem_reaches_goals_more_often_than_random():
    model, env = LinearToyWorldModel(dt=DT), PointEnv()

    def episodes(name: str) -> list:
        # steps="all" rewards getting there early; with "last", any path that arrives at step H scores the same
        planner = planner_of(name, model, partial(goal_energy, steps="all"), horizon=5, **SMALL[name])
        return [run_episode(env, model, planner, max_steps=12, seed=s) for s in range(3)]

    cem, random = episodes("cem"), episodes("random")
    assert sum(r.success for r in cem) >= 2 > sum(r.success for r in random)
    assert np.mean([r.goal_distance for r in cem]) < np.mean([r.goal_distance for r in random])
    first = cem[0]
    assert first.steps == 12 and len(first.plan_times) == len(first.energies) == 12
    assert first.frames.shape == (13, 32, 32, 3) and first.states.shape == (13, 2) and first.actions.shape == (12, 2)


def test_mpc_replans_every_k_steps_with_a_context_window():
    model, env = Recording(), PointEnv()
    planner = planner_of("cem", model, horizon=5, **SMALL["cem"])
    result = run_episode(env, model, planner, max_steps=10, replan_every=3, context_frames=2, record_video=False,
                         seed=0)
    assert result.steps == 10 and len(result.plan_times) == 4  # 3 + 3 + 3 + 1
    assert result.frames is None
    assert {len(a) for a in model.seen} == {100, 1}  # candidates per iteration, the chosen plan
    assert model.contexts == {(1, 1, 0), (2, 2, 1)}  # one frame at the start, then the last two and the action between


@pytest.mark.parametrize(
    "env, model_action_dim, message",
    [
        (PointEnv(goal_size=16), 2, r"goal image shape \(16, 16, 3\).*\(32, 32, 3\)"),
        (PointEnv(action_dim=3), 2, r"\(3,\).*action_dim 2"),
        (NoPixelsEnv(), 2, r"no 'pixels'.*\['proprio'\]"),
    ],
)
def test_run_episode_rejects_bad_setups(env, model_action_dim, message):
    model = LinearToyWorldModel()
    model.action_dim = model_action_dim
    with pytest.raises(ValueError, match=message):
        run_episode(env, model, planner_of("random", model), max_steps=2, seed=0)


def test_make_planner_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown planner 'ilqr'"):
        make_planner(PlannerConfig(name="ilqr"), LinearToyWorldModel(), goal_energy, -1.0, 1.0, seed=0)


@pytest.mark.parametrize("video_format", ["mp4", "gif"])
def test_evaluate_writes_results_summary_and_video(tmp_path, video_format):
    model = LinearToyWorldModel(dt=DT)
    summary = evaluate(
        PointEnv, model, partial(planner_of, "cem", horizon=5),
        episodes=2, seed=10, max_steps=6, out_dir=tmp_path, save_videos=1, video_format=video_format,
    )
    assert summary["episodes"] == 2 and 0 <= summary["success_rate"] <= 1
    assert summary["mean_plan_time_per_action_s"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [10, 11]
    assert float(rows[0]["goal_distance"]) >= 0
    plugin = {"plugin": "pyav"} if video_format == "mp4" else {}
    video = iio.imread(tmp_path / f"episode_000.{video_format}", **plugin)
    assert video.shape == (7, 32, 96, 3)  # start + 6 steps; observation | goal | trajectory
    assert not (tmp_path / f"episode_001.{video_format}").exists()


def test_a_plan_near_the_episode_end_is_scored_at_the_deadline():
    """With 2 actions left, a last-step energy judges where the agent is after those 2 actions: the plan must
    reach the goal with them instead of arriving at the end of its 5-step horizon."""
    model, obs, _, state = toy_problem()
    goal = model.features(model.position(obs[-1]) + torch.tensor([0.3, -0.3]))  # 2 full-speed steps away
    recording = Recording()
    planner = planner_of("cem", recording, horizon=5, seed=0, **SMALL["cem"])
    actions = planner.plan(obs, goal, state, steps_left=2)
    assert actions.shape == (5, 2) and {a.shape[1] for a in recording.seen} == {2}
    reached = model.position(obs[-1]) + DT * actions[:2].sum(0)
    assert torch.allclose(reached, model.position(obs[-1]) + torch.tensor([0.3, -0.3]), atol=0.05)
    with pytest.raises(ValueError, match="steps_left"):
        planner.plan(obs, goal, state, steps_left=0)
