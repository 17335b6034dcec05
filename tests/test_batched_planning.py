"""Planning many episodes at once: batched plans equal each episode's own plan, candidate chunks bound every
rollout call, ended episodes stop acting, steps to success, and the evaluation's batches."""
import csv
import json
from functools import partial

import numpy as np
import pytest
import torch
from gymnasium.vector import SyncVectorEnv

from planning import LinearToyWorldModel, evaluate, goal_energy, run_episode, run_episodes
from planning.cli import format_summary
from planning.planners import blocks
from tests.test_planning import DT, SMALL, PointEnv, Recording, planner_of

STARTS, GOALS = [(0.3, -0.2), (-0.6, 0.1), (0.0, 0.5)], [(-0.5, 0.6), (0.4, 0.4), (0.2, -0.6)]


def problems(model: LinearToyWorldModel):
    """Three episodes' one-frame contexts (3, 1, N, D), goals (3, N, D) and states (3, 1, 2) on the toy model."""
    starts = torch.tensor(STARTS)
    return model.features(starts)[:, None], model.features(torch.tensor(GOALS)), starts[:, None]


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient", "random"])
def test_a_batched_plan_gives_each_episode_its_own_plan(name):
    """Three episodes planned together (sampler seeds 7, 8, 9) get the plans each gets alone with its seed, over
    two replans with the warm start shifted in between."""
    model = LinearToyWorldModel(dt=DT)
    features, goals, states = problems(model)
    together = planner_of(name, model, horizon=5, **SMALL[name])
    together.reset([7, 8, 9])
    batched = [together.plan_batch(features, goals, states)]
    together.advance(2)
    batched.append(together.plan_batch(features, goals, states, steps_left=3))
    for i, seed in enumerate([7, 8, 9]):
        alone = planner_of(name, model, horizon=5, **SMALL[name])
        alone.reset(seed)
        first = alone.plan(features[i], goals[i], states[i])
        alone.advance(2)
        second = alone.plan(features[i], goals[i], states[i], steps_left=3)
        if name == "gradient":  # the backward pass sums over a batch of another shape: equal up to rounding
            torch.testing.assert_close((batched[0][i], batched[1][i]), (first, second), atol=1e-5, rtol=0)
        else:
            assert torch.equal(batched[0][i], first) and torch.equal(batched[1][i], second)
            assert together.last_energies[i].item() == alone.last_energy


def test_a_one_episode_plan_is_the_cem_search_of_its_seed():
    """B = 1 draws the random stream a one-episode CEM always drew: each iteration, (K, H, A) standard normals from
    a generator seeded with the planner's seed — so a seed gives the actions it gave before batching."""
    model = LinearToyWorldModel(dt=DT)
    features, goals, states = problems(model)
    actions = planner_of("cem", model, horizon=5, seed=3).plan(features[0], goals[0], states[0])
    generator, mean, std = torch.Generator().manual_seed(3), torch.zeros(5, 2), torch.ones(5, 2)
    for _ in range(10):  # CEMConfig: 100 samples, 10 elites, 10 iterations, init_std 1, min_std 0.05
        candidates = (mean + std * torch.randn((100, 5, 2), generator=generator)).clamp(-1, 1)
        energies = goal_energy(model.rollout(features[0], states[0], torch.zeros(0, 2), candidates), goals[0])
        elites = candidates[energies.topk(10, largest=False).indices]
        mean, std = elites.mean(0), elites.std(0).clamp_min(0.05)
    assert torch.equal(actions, mean.clamp(-1, 1))


def test_planning_some_episodes_leaves_the_others_untouched():
    model = LinearToyWorldModel(dt=DT)
    features, goals, states = problems(model)
    planner = planner_of("cem", model, horizon=5)
    planner.reset([7, 8, 9])
    plans = planner.plan_batch(features[[2, 0]], goals[[2, 0]], states[[2, 0]], episodes=[2, 0])  # episode 1 ended
    alone = planner_of("cem", model, horizon=5)
    alone.reset(9)
    assert torch.equal(plans[0], alone.plan(features[2], goals[2], states[2]))
    assert torch.equal(planner.initial_mean([1]), planner.centre[None])  # never planned: still the box centre
    with pytest.raises(ValueError, match=r"2 problems for episodes \[0, 3\] of the 3 seeded"):
        planner.plan_batch(features[:2], goals[:2], states[:2], episodes=[0, 3])


def test_blocks_cover_episodes_and_candidates_within_the_chunk():
    assert blocks(3, 4, None) == [(slice(e, e + 1), slice(0, 4)) for e in range(3)]  # one episode at a time
    assert blocks(3, 4, 8) == [(slice(0, 2), slice(0, 4)), (slice(2, 4), slice(0, 4))]  # 2 episodes x 4
    assert blocks(2, 5, 3) == [(slice(0, 1), slice(0, 3)), (slice(0, 1), slice(3, 6)),
                               (slice(1, 2), slice(0, 3)), (slice(1, 2), slice(3, 6))]


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_candidate_chunk_caps_the_candidates_of_every_rollout_call(name):
    """Memory stays bounded: 3 episodes of 100 candidates (4 restarts for gradient) go through rollout calls of at
    most candidate_chunk candidates (null: one episode's), whatever the number of episodes; the plans are the
    same."""
    largest_call = {None: (100, 4), 5: (5, 4), 250: (200, 12)}  # chunk -> (cem / mppi, gradient)
    model = Recording()
    features, goals, states = problems(model)
    plans = []
    for chunk, expected in largest_call.items():
        planner = planner_of(name, model, horizon=5, candidate_chunk=chunk, **SMALL[name])
        planner.reset([7, 8, 9])
        model.seen.clear()
        plans.append(planner.plan_batch(features, goals, states))
        assert max(len(a) for a in model.seen) == expected[name == "gradient"]
    for other in plans[1:]:
        torch.testing.assert_close(plans[0], other, atol=1e-5, rtol=0)


def test_batched_rollouts_equal_each_episodes_rollout():
    model = LinearToyWorldModel(dt=DT)
    features, _, states = problems(model)
    actions = torch.rand(3, 4, 5, 2, generator=torch.Generator().manual_seed(0)) - 0.5  # (B, K, H, A)
    batched = model.rollout(features, states, torch.zeros(3, 0, 2), actions)
    for i in range(3):
        alone = model.rollout(features[i], states[i], torch.zeros(0, 2), actions[i])
        assert torch.equal(batched.features[i], alone.features) and torch.equal(batched.states[i], alone.states)


class EndingPointEnv(PointEnv):
    """PointEnv that terminates after 2 + seed % 3 steps."""

    def reset(self, seed=None, options=None):
        self.left = 2 + (seed or 0) % 3  # the vector env resets an ended sub-env without a seed
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.left -= 1
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, self.left == 0, truncated, info


def cem(model, **settings):
    return planner_of("cem", model, partial(goal_energy, steps="all"), horizon=5, **settings)


def test_episodes_run_together_as_they_run_alone():
    """Three episodes in a vector env act, score and record as each does alone with the same seed; the shared
    plan time is split among them."""
    model = LinearToyWorldModel(dt=DT)
    seeds = [3, 4, 5]
    together = run_episodes(SyncVectorEnv([PointEnv] * 3), model, cem(model), seeds, max_steps=6, replan_every=2,
                            context_frames=2, record_video=[True, False, True])
    for seed, result in zip(seeds, together):
        alone = run_episode(PointEnv(), model, cem(model), max_steps=6, replan_every=2, context_frames=2,
                            seed=seed)
        assert np.array_equal(result.actions, alone.actions) and np.array_equal(result.states, alone.states)
        assert (result.success, result.goal_distance, result.steps_to_success, result.energies) == (
            alone.success, alone.goal_distance, alone.steps_to_success, alone.energies)
        assert len(result.plan_times) == len(alone.plan_times) == 3
    assert np.array_equal(together[0].frames, run_episode(PointEnv(), model, cem(model), 6, 2, 2, seed=3).frames)
    assert together[1].frames is None and together[2].frames.shape == (7, 32, 32, 3)


def test_ended_episodes_stop_acting_while_the_others_go_on():
    """Seeds 0, 1, 2 end after 2, 3 and 4 steps: each episode stops there, is planned no more, and its result is
    the one it has alone."""
    model = Recording()
    results = run_episodes(SyncVectorEnv([EndingPointEnv] * 3), model, cem(model, candidate_chunk=300), [0, 1, 2],
                           max_steps=10, record_video=True)
    assert [r.steps for r in results] == [2, 3, 4]
    assert [len(r.plan_times) for r in results] == [2, 3, 4]
    assert [r.frames.shape[0] for r in results] == [3, 4, 5]
    planned = [len(a) for a in model.seen if len(a) > 3]  # candidates per call: 100 per episode still planned
    assert planned == [300] * 20 + [200] * 10 + [100] * 10  # 2 plans of 3 episodes, 1 of 2, 1 of 1; 10 iterations
    for seed, result in enumerate(results):
        alone = run_episode(EndingPointEnv(), model, cem(model), max_steps=10, seed=seed)
        assert np.array_equal(result.actions, alone.actions) and result.goal_distance == alone.goal_distance


def test_steps_to_success_is_the_first_step_at_the_goal():
    model, env = LinearToyWorldModel(dt=DT), PointEnv()
    result = run_episode(env, model, cem(model), max_steps=12, seed=0)
    _, _ = env.reset(seed=0)
    within = np.linalg.norm(result.states[1:] - env.goal, axis=1) < 0.1  # after each action
    assert result.success and within.any()
    assert result.steps_to_success == int(np.argmax(within)) + 1 < result.steps
    far = run_episode(env, model, planner_of("random", model, horizon=5), max_steps=2, seed=0)
    assert not far.success and far.steps_to_success is None


class PassingPointEnv(PointEnv):
    """PointEnv whose success flag holds after its first step only: an agent that passes the goal and leaves."""

    def reset(self, seed=None, options=None):
        self.steps = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        return obs, reward, terminated, truncated, {**info, "success": self.steps == 1}


def test_reached_rate_counts_the_goal_held_at_any_step_and_success_rate_at_the_last(tmp_path):
    model = LinearToyWorldModel(dt=DT)
    summary = evaluate(PassingPointEnv, model, partial(planner_of, "random", horizon=3), episodes=2, max_steps=4,
                       out_dir=tmp_path)
    assert (summary["success_rate"], summary["reached_rate"]) == (0.0, 1.0)
    assert "success 0% (100% at some step) of 2 episodes" in format_summary(
        {**summary, "planner": "random", "env": "passing", "action_block": 1, "wall_time_s": 1.0})


def test_evaluate_in_batches_writes_what_one_at_a_time_writes(tmp_path):
    model = LinearToyWorldModel(dt=DT)
    runs = {}
    for batch in (1, 2):
        summary = evaluate(PointEnv, model, cem, episodes=3, seed=10, max_steps=12, out_dir=tmp_path / str(batch),
                           batch_episodes=batch, save_videos=3, video_format="gif")
        with open(tmp_path / str(batch) / "results.csv") as f:
            rows = [{k: r[k] for k in ("seed", "success", "goal_distance", "steps", "steps_to_success", "final_energy")}
                    for r in csv.DictReader(f)]
        runs[batch] = summary, rows
        assert sorted(p.name for p in (tmp_path / str(batch)).glob("*.gif")) == [f"episode_00{i}.gif" for i in range(3)]
    (one, one_rows), (two, two_rows) = runs[1], runs[2]
    assert one_rows == two_rows
    steps = [int(r["steps_to_success"]) for r in one_rows if r["success"] == "True"]
    assert one["success_rate"] == two["success_rate"] == len(steps) / 3 > 0
    assert one["reached_rate"] == two["reached_rate"] >= one["success_rate"]
    assert one["mean_steps_to_success"] == two["mean_steps_to_success"] == np.mean(steps)
    assert two["steps_to_success_quartiles"][0] == min(steps) and two["steps_to_success_quartiles"][-1] == max(steps)
    assert two["batch_episodes"] == 2 and json.loads((tmp_path / "2" / "summary.json").read_text()) == two
