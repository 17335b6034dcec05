"""Model-predictive control: encode the observations, plan, execute the first actions, observe, replan — for B
episodes at once, in the sub-envs of a gymnasium vector env, with one batched plan per round."""
import time
from dataclasses import dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv, VectorEnv

from planning.interface import WorldModel
from planning.planners import Planner, to_device


@dataclass
class EpisodeResult:
    """One MPC episode. `success`, `goal_distance` and `steps_to_success` come from the env's infos: for scoring
    only."""

    success: bool
    goal_distance: float
    steps: int
    steps_to_success: int | None  # actions executed when info["success"] first held; None: it never did
    plan_times: list[float]  # seconds per replanning, encoding included (a batched plan's time shared equally)
    energies: list[float]  # energy of each chosen plan
    goal_image: np.ndarray  # (H, W, 3) uint8
    states: np.ndarray  # (steps + 1, S) proprio, the initial one included
    actions: np.ndarray  # (steps, A) executed
    frames: np.ndarray | None  # (steps + 1, H, W, 3) uint8 observations, when recorded

    @property
    def time_per_action(self) -> float:
        return sum(self.plan_times) / max(self.steps, 1)


def _pixels(obs: dict) -> np.ndarray:
    if not isinstance(obs, dict) or "pixels" not in obs:
        got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
        raise ValueError(
            f"env observation has no 'pixels' (got {got}); wrap the env in envs.goal_wrapper.GoalImageWrapper"
        )
    return np.asarray(obs["pixels"])


def _check_setup(envs: VectorEnv, world_model: WorldModel, planner: Planner, max_steps: int, replan_every: int,
                 context_frames: int) -> None:
    if envs.single_action_space.shape != (world_model.action_dim,):
        raise ValueError(
            f"env action space shape {envs.single_action_space.shape} does not match "
            f"world_model.action_dim {world_model.action_dim}"
        )
    if not 1 <= replan_every <= planner.horizon:
        raise ValueError(f"replan_every ({replan_every}) must be in [1, planner horizon ({planner.horizon})]")
    if max_steps < 1 or context_frames < 1:
        raise ValueError(f"max_steps ({max_steps}) and context_frames ({context_frames}) must be >= 1")


def run_episodes(
    envs: VectorEnv,
    world_model: WorldModel,
    planner: Planner,
    seeds: Sequence[int | None],
    max_steps: int = 50,
    replan_every: int = 1,
    context_frames: int = 1,
    record_video: Sequence[bool] | bool = True,
) -> list[EpisodeResult]:
    """Run one goal-reaching episode with MPC in each of the B sub-envs of ``envs`` (sub-env i reset with
    ``seeds[i]``, its planner sampler seeded ``seeds[i]``), all planned together: plan, execute `replan_every`
    actions, replan.

    The agent sees only obs["pixels"], obs["proprio"] and the goal images. Each context holds the last
    `context_frames` observations (fewer at the start) and the actions executed between them. `encode` receives
    CPU uint8 frames; states and actions are moved to the features' device. Each plan is told how many actions
    the episodes have left, so that it scores no prediction beyond their end. An episode whose sub-env terminates
    or truncates stops there: it is neither planned nor recorded any more (its sub-env is stepped with the box
    centre alongside the others). ``record_video``: per episode (or for all), keep its frames.
    """
    _check_setup(envs, world_model, planner, max_steps, replan_every, context_frames)
    b = envs.num_envs
    if len(seeds) != b:
        raise ValueError(f"{len(seeds)} seeds for {b} sub-envs")
    record = np.broadcast_to(np.asarray(record_video, bool), (b,))
    obs, info = envs.reset(seed=list(seeds))
    pixels = _pixels(obs)  # (B, H, W, 3)
    if "goal_image" not in info:
        raise ValueError("env info at reset has no 'goal_image'; wrap the env in envs.goal_wrapper.GoalImageWrapper")
    goal = np.asarray(info["goal_image"])  # (B, H, W, 3)
    if goal.shape != pixels.shape:
        raise ValueError(f"goal image shape {goal.shape[1:]} differs from observation pixels shape "
                         f"{pixels.shape[1:]}")
    planner.reset(list(seeds))
    with torch.inference_mode():
        goal_features = world_model.encode(torch.from_numpy(goal))  # (B, N, D)
    device = goal_features.device
    space = envs.single_action_space
    idle = np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype)  # what ended episodes "do"

    recent = {0: pixels}  # step -> (B, H, W, 3) observations not encoded yet
    features: dict[int, torch.Tensor] = {}  # step -> (B, N, D) encoded observations, kept inside the context window
    states, actions = [np.asarray(obs["proprio"])], []  # per step (B, S), (B, A)
    videos = [pixels[record]]  # per step (R, H, W, 3), the recorded episodes'
    plan_times: list[list[float]] = [[] for _ in range(b)]
    energies: list[list[float]] = [[] for _ in range(b)]
    steps = np.zeros(b, int)  # actions executed per episode
    success, distance = np.zeros(b, bool), np.full(b, np.nan)
    steps_to_success = np.zeros(b, int)  # 0: not yet
    active = np.arange(b)  # the episodes still running, all at step `now`
    now = 0
    while now < max_steps and len(active):
        start = time.perf_counter()
        window = range(max(0, now + 1 - context_frames), now + 1)
        features = {i: features[i] for i in window if i in features}
        new = [i for i in window if i not in features]
        rows = to_device(torch.from_numpy(active), device)  # the running episodes (a host index would wait)
        with torch.inference_mode():
            encoded = world_model.encode(torch.from_numpy(np.concatenate([recent.pop(i)[active] for i in new])))
        for i, step_features in zip(new, encoded.split(len(active))):
            features[i] = step_features.new_zeros(b, *step_features.shape[1:])
            features[i][rows] = step_features
        context_features = torch.stack([features[i][rows] for i in window], dim=1)  # (Ba, Tc, N, D)
        context_states = torch.from_numpy(np.stack([states[i][active] for i in window], 1)).to(device)
        between = np.array([a[active] for a in actions[window.start : now]], np.float32)  # (Tc-1, Ba, A)
        between = between.reshape(-1, len(active), planner.action_dim).transpose(1, 0, 2)
        context_actions = torch.from_numpy(np.ascontiguousarray(between)).to(device)  # (Ba, Tc-1, A)
        plan = planner.plan_batch(context_features, goal_features[rows], context_states, context_actions,
                                  steps_left=max_steps - now, episodes=active.tolist())  # (Ba, H, A)
        share = (time.perf_counter() - start) / len(active)
        for i, energy in zip(active, planner.last_energies[active].tolist()):
            plan_times[i].append(share)
            energies[i].append(energy)

        executed = 0
        for block in plan[:, : min(replan_every, max_steps - now)].transpose(0, 1).cpu().numpy():  # (Ba, A) each
            step_actions = np.repeat(idle[None], b, 0)
            step_actions[active] = block
            obs, _, terminated, truncated, info = envs.step(step_actions)
            now, executed = now + 1, executed + 1
            recent[now] = _pixels(obs)
            states.append(np.asarray(obs["proprio"]))
            actions.append(step_actions)
            videos.append(recent[now][record])
            steps[active] += 1
            success[active] = np.asarray(info["success"], bool)[active]  # scoring only
            distance[active] = np.asarray(info["goal_distance"], float)[active]
            first = active[success[active] & (steps_to_success[active] == 0)]
            steps_to_success[first] = now
            active = active[~(terminated | truncated)[active]]
            if not len(active):
                break
        planner.advance(executed)

    frames = np.stack(videos, 1) if record.any() else None  # (R, T, H, W, 3)
    video_of = dict(zip(np.flatnonzero(record), range(int(record.sum()))))
    states_by_episode, actions_by_episode = np.stack(states, 1), np.stack(actions, 1)  # (B, T + 1, S), (B, T, A)
    return [
        EpisodeResult(
            success=bool(success[i]),
            goal_distance=float(distance[i]),
            steps=int(steps[i]),
            steps_to_success=int(steps_to_success[i]) or None,
            plan_times=plan_times[i],
            energies=energies[i],
            goal_image=goal[i],
            states=states_by_episode[i, : steps[i] + 1],
            actions=actions_by_episode[i, : steps[i]],
            frames=frames[video_of[i], : steps[i] + 1] if i in video_of else None,
        )
        for i in range(b)
    ]


def run_episode(
    env: gym.Env,
    world_model: WorldModel,
    planner: Planner,
    max_steps: int = 50,
    replan_every: int = 1,
    context_frames: int = 1,
    record_video: bool = True,
    seed: int | None = None,
) -> EpisodeResult:
    """Run one goal-reaching episode with MPC in ``env`` (reset with ``seed``; the planner reseeded with it): the
    one-episode `run_episodes`, ``env`` seen as a one-env vector env (and not closed)."""
    return run_episodes(SyncVectorEnv([lambda: env]), world_model, planner, [seed], max_steps, replan_every,
                        context_frames, record_video)[0]
