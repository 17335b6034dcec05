"""Model-predictive control: encode the observation, plan, execute the first actions, observe, replan."""
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from planning.interface import WorldModel
from planning.planners import Planner


@dataclass
class EpisodeResult:
    """One MPC episode. `success` and `goal_distance` come from the env's last info: for scoring only."""

    success: bool
    goal_distance: float
    steps: int
    plan_times: list[float]  # seconds per replanning, encoding included
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
    """Run one goal-reaching episode with MPC: plan, execute `replan_every` actions, replan.

    The agent sees only obs["pixels"], obs["proprio"] and the goal image. The context holds the last
    `context_frames` observations (fewer at the start) and the actions executed between them. `encode` receives
    CPU uint8 frames; states and actions are moved to the features' device. The planner is reset with `seed`, the
    env with `env.reset(seed=seed)`. Each plan is told how many actions the episode has left, so that it scores no
    prediction beyond the episode's end.
    """
    if env.action_space.shape != (world_model.action_dim,):
        raise ValueError(
            f"env action space shape {env.action_space.shape} does not match "
            f"world_model.action_dim {world_model.action_dim}"
        )
    if not 1 <= replan_every <= planner.horizon:
        raise ValueError(f"replan_every ({replan_every}) must be in [1, planner horizon ({planner.horizon})]")
    if max_steps < 1 or context_frames < 1:
        raise ValueError(f"max_steps ({max_steps}) and context_frames ({context_frames}) must be >= 1")
    obs, info = env.reset(seed=seed)
    frames, states, actions = [_pixels(obs)], [obs["proprio"]], []
    if "goal_image" not in info:
        raise ValueError("env info at reset has no 'goal_image'; wrap the env in envs.goal_wrapper.GoalImageWrapper")
    goal = np.asarray(info["goal_image"])
    if goal.shape != frames[0].shape:
        raise ValueError(f"goal image shape {goal.shape} differs from observation pixels shape {frames[0].shape}")
    planner.reset(seed)
    with torch.inference_mode():
        goal_features = world_model.encode(torch.from_numpy(goal)[None])[0]  # (N, D)

    features: dict[int, torch.Tensor] = {}  # step -> encoded observation, kept while inside the context window
    plan_times, energies = [], []
    done = False
    while len(actions) < max_steps and not done:
        start = time.perf_counter()
        now = len(frames) - 1
        window = range(max(0, now + 1 - context_frames), now + 1)
        features = {i: features[i] for i in window if i in features}
        new = [i for i in window if i not in features]
        with torch.inference_mode():
            features.update(zip(new, world_model.encode(torch.from_numpy(np.stack([frames[i] for i in new])))))
        context_features = torch.stack([features[i] for i in window])  # (Tc, N, D)
        device = goal_features.device
        context_states = torch.from_numpy(np.stack([states[i] for i in window])).to(device)
        between = np.array(actions[window.start : now], np.float32).reshape(-1, planner.action_dim)  # (Tc-1, A)
        context_actions = torch.from_numpy(between).to(device)
        plan = planner.plan(context_features, goal_features, context_states, context_actions,
                            steps_left=max_steps - len(actions))  # (H, A)
        plan_times.append(time.perf_counter() - start)
        energies.append(planner.last_energy)

        executed = 0
        for action in plan[: min(replan_every, max_steps - len(actions))].cpu().numpy():
            obs, _, terminated, truncated, info = env.step(action.astype(env.action_space.dtype))
            frames.append(_pixels(obs))
            states.append(obs["proprio"])
            actions.append(action)
            executed += 1
            done = terminated or truncated
            if done:
                break
        planner.advance(executed)

    return EpisodeResult(
        success=bool(info["success"]),  # scoring only, read once the episode is over
        goal_distance=float(info["goal_distance"]),
        steps=len(actions),
        plan_times=plan_times,
        energies=energies,
        goal_image=goal,
        states=np.stack(states),
        actions=np.stack(actions),
        frames=np.stack(frames) if record_video else None,
    )
