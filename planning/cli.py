"""`vjepa-plan`: plan to goal images with a trained world model in a gymnasium env (configs/plan.yaml).

    vjepa-plan world_model=runs/train_ac/latest.pt                          # CEM on the wall env, 20 episodes
    vjepa-plan world_model=runs/train_ac/latest.pt planner=random           # the baseline
    vjepa-plan world_model=... planner=mppi env=reacher episodes=50 run_dir=runs/plan/reacher_mppi

Each of ``episodes`` seeded episodes (env seeds ``seed``, ``seed + 1``, ...) starts from the env's reset; the goal
image is the state ``env.goal_steps`` steps of the env's exploration policy later (`envs.GoalImageWrapper`). The
planner sees the observation, the proprio state and the goal image; the episode gets ``env.max_steps`` env steps.
``batch_episodes`` episodes are planned at once (a vector env, one batched plan per step); an episode's outcome does
not depend on it. Writes ``results.csv`` (one row per episode, its steps to success included), ``summary.json``
(success rate, steps to success of the successes) and the first ``save_videos`` episodes' videos (observation | goal |
trajectory) into ``run_dir``, and its config with the command line into ``run_dir/hydra/`` (as every command).

A world model trained with ``data.frame_step = k`` predicts k env steps per action: with ``action_agg: sum``
one planner action is a per-step action held for k env steps (the model sees their sum), with ``stack`` it is
k per-step actions in a row (see `ActionBlockEnv` / `BlockWorldModel`); with ``pose_delta`` it is one env step
moving the end effector by the planned pose change (`world_model_blocks`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from omegaconf import DictConfig
from torch import Tensor

import envs  # noqa: F401  (registers the toolkit's envs)
from configs.schema.env import EnvConfig, env_config
from configs.schema.plan import check_context_fits, check_plan
from envs.configured import goal_env
from planning.energies import EnergyFn, goal_energy
from planning.evaluate import evaluate
from planning.interface import Rollout, WorldModel
from planning.oracle import SimulatorWorldModel, check_simulator
from planning.planners import make_planner
from planning.probe import ProbeEnergy, StateProbe
from vjepa.runtime.command import command
from vjepa.runtime.errors import ConfigError, MissingFileError
from vjepa.runtime.run_dir import RunDir, write_text_atomic
from vjepa.runtime.threads import set_threads


# ------------------------------------------------------------------------------------------------ adapters
class ActionBlockEnv(gym.Wrapper):
    """One action = ``k`` env steps: ``mode="repeat"`` holds a per-step action for k steps (same action space),
    ``mode="stack"`` takes k per-step actions concatenated (action space tiled k times) and runs them in order.

    Returns the last step's observation and info, the summed reward; stops early when the episode ends.
    """

    def __init__(self, env: gym.Env, k: int, mode: str = "repeat") -> None:
        super().__init__(env)
        if k < 1:
            raise ValueError(f"action block length must be >= 1, got {k}")
        if mode not in ("repeat", "stack"):
            raise ValueError(f"mode must be 'repeat' or 'stack', got {mode!r}")
        self.k, self.mode = int(k), mode
        space = env.action_space
        if mode == "stack" and k > 1:
            self.action_space = spaces.Box(np.tile(space.low, k), np.tile(space.high, k), dtype=space.dtype)
        self.metadata = {**env.metadata, "render_fps": env.metadata.get("render_fps", 10) / self.k}

    def step(self, action: Any):
        action = np.asarray(action)
        chunks = [action] * self.k if self.mode == "repeat" else np.split(action, self.k)
        total = 0.0
        for chunk in chunks:
            obs, reward, terminated, truncated, info = self.env.step(chunk.astype(self.env.action_space.dtype))
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class BlockWorldModel:
    """A world model whose one step spans ``k`` env steps, seen by planners in per-step action units (the actions
    of an `ActionBlockEnv`): ``mode="repeat"`` (a model trained with ``action_agg: sum``) rolls out ``k * action``
    (the sum of the k held actions); ``mode="stack"`` passes the k stacked actions through unchanged. One of its
    steps is one step of that env (``frame_step`` 1)."""

    frame_step = 1

    def __init__(self, world_model: WorldModel, k: int, mode: str = "repeat") -> None:
        self.world_model, self.k, self.mode = world_model, int(k), mode
        self.action_dim, self.state_dim = world_model.action_dim, world_model.state_dim
        self.action_agg, self.image_size = world_model.action_agg, world_model.image_size

    def encode(self, frames: Tensor) -> Tensor:
        return self.world_model.encode(frames)

    def rollout(self, context_features: Tensor, context_states: Tensor, context_actions: Tensor,
                actions: Tensor) -> Rollout:
        if self.mode == "repeat":
            context_actions, actions = context_actions * self.k, actions * self.k
        return self.world_model.rollout(context_features, context_states, context_actions, actions)


# ------------------------------------------------------------------------------------------------ env
def make_env(env_cfg: EnvConfig | DictConfig | dict, block: int = 1, mode: str = "repeat") -> gym.Env:
    """The goal-image env of an env config (`configs.schema.env`, `envs.configured.goal_env`; an `EnvConfig` is
    taken as checked, as `env_config` returns it), with actions of ``block`` env steps (see `ActionBlockEnv`)."""
    if not isinstance(env_cfg, EnvConfig):  # checking costs more than making a small env: once per config
        env_cfg = env_config(env_cfg)
    env = goal_env(env_cfg)
    if env.success_threshold is None:
        raise ConfigError(f"{env_cfg.id} has no success threshold of its own", "env.success_threshold",
                          "set env.success_threshold")
    return ActionBlockEnv(env, block, mode) if block > 1 else env


def at_model_size(env_cfg: EnvConfig, world_model: WorldModel) -> EnvConfig:
    """``env_cfg`` with ``image_size`` null replaced by the world model's."""
    return replace(env_cfg, image_size=env_cfg.image_size or world_model.image_size)


def world_model_blocks(world_model: WorldModel) -> tuple[int, str]:
    """(env steps per model step, "repeat" | "stack") of a world model.

    A model trained on end-effector pose changes (``action_agg: pose_delta``) takes one planner action per env
    step whatever its frame step: its action is the pose change over one model step, which an env of such actions
    (a robot moving its end effector by the planned change, as V-JEPA 2-AC's) executes as one step."""
    if world_model.action_agg == "pose_delta":
        return 1, "repeat"
    k = world_model.frame_step
    return k, ("stack" if world_model.action_agg == "stack" and k > 1 else "repeat")


def check_compatible(env: gym.Env, world_model: WorldModel, env_id: str = "", source: str = "") -> None:
    """Clear errors when the env's actions (or proprio) do not fit the world model's."""
    name = env_id or getattr(env.unwrapped.spec, "id", type(env.unwrapped).__name__)
    where = f" ({source})" if source else ""
    (env_dim,) = env.action_space.shape
    if env_dim != world_model.action_dim:
        raise ValueError(
            f"action dimension mismatch: env {name} takes {env_dim}-D actions per planner step, the world "
            f"model{where} was trained on {world_model.action_dim}-D actions; plan in the env it was trained on "
            f"(env=...), or train a world model on data from {name}"
        )
    proprio = env.observation_space["proprio"] if isinstance(env.observation_space, spaces.Dict) else None
    if proprio is not None and proprio.shape != (world_model.state_dim,):
        raise ValueError(
            f"state dimension mismatch: env {name} has proprio of shape {proprio.shape}, the world model{where} "
            f"expects {world_model.state_dim}-D states"
        )


# ------------------------------------------------------------------------------------------------ run
STEPS_SCORED = {"last": "last predicted step", "all": "mean over the predicted steps"}  # energy.steps, in words


def make_energy(cfg: DictConfig, world_model_path: Path) -> tuple[EnergyFn, str]:
    """The planning energy of ``cfg.energy`` and its description: `goal_energy` on features, plus, with a state
    probe (`planning.probe`), ``probe_weight`` times the distance between the probe's reading of the last
    predicted features and of the goal, and ``state_weight`` times the distance between the world model's own
    predicted state and the probe's reading of the goal (a `ProbeEnergy`)."""
    weight, state_weight = cfg.energy.probe_weight, cfg.energy.state_weight
    energy = {key: cfg.energy[key] for key in ("metric", "reduce_tokens", "steps")}  # goal_energy's keywords
    text = f"{energy['metric']} feature distance ({STEPS_SCORED[energy['steps']]})"
    if weight <= 0 and state_weight <= 0:
        return partial(goal_energy, **energy), text
    path = Path(cfg.probe or world_model_path.with_name("probe.pt"))
    if not path.is_file():
        raise MissingFileError(
            f"energy.probe_weight / state_weight need a state probe: {path} not found", "probe",
            f"fit one with vjepa-state-probe world_model={world_model_path} dataset=DIR, or pass probe=PATH")
    if weight > 0:
        text += f" + {weight:g} x probe(predicted features) distance"
    if state_weight > 0:
        text += f" + {state_weight:g} x predicted-state distance"
    probe = StateProbe.load(path)
    return ProbeEnergy(probe, weight, state_weight, energy), f"{text} to probe(goal) ({path})"


def load_configured_world_model(cfg: DictConfig) -> Any:
    """The world model at ``cfg.world_model`` (with ``cfg.encoder``, null: the one it records) on ``cfg.device``,
    computing in ``cfg.precision`` (`configs.schema.plan.WorldModelRun`)."""
    from vjepa.runtime.device import resolve_device
    from vjepa.world_model import load_world_model  # heavy import, only when a model is loaded

    return load_world_model(cfg.world_model, device=resolve_device(cfg.device), encoder_checkpoint=cfg.encoder,
                            precision=cfg.precision)


def plan(cfg: DictConfig) -> dict:
    """Evaluate the configured planner with the configured world model; returns the summary (also written)."""
    with RunDir(cfg.run_dir, "vjepa-plan") as run:  # one run at a time; claimed once the checks passed
        return _plan(cfg, run)


def _plan(cfg: DictConfig, run: RunDir) -> dict:
    env_cfg = check_plan(cfg)
    set_threads(cfg.threads)
    path = Path(cfg.world_model)
    model = load_configured_world_model(cfg)
    predictor = getattr(model, "predictor", None)  # a learned world model's (a toy or an oracle has no limit)
    if predictor is not None:
        check_context_fits(cfg.context_frames, cfg.planner.horizon, predictor.max_steps)
    k, mode = world_model_blocks(model)
    env_cfg = at_model_size(env_cfg, model)
    probe_env = make_env(env_cfg, k, mode)
    check_compatible(probe_env, model, env_cfg.id, str(path))
    space = probe_env.action_space
    energy, energy_text = make_energy(cfg, path)
    fps = probe_env.metadata.get("render_fps", 10)
    batch_episodes = cfg.batch_episodes
    env_factory = partial(make_env, env_cfg, k, mode)
    world_model = BlockWorldModel(model, k, mode) if k > 1 else model
    if cfg.oracle:  # the env's simulator in place of the predictor: a diagnosis, one episode at a time
        check_simulator(probe_env, env_cfg.id)
        oracle = world_model = SimulatorWorldModel(model, make_env(env_cfg), cfg.oracle, k, mode)
        env_factory, batch_episodes = (lambda: oracle.watch(make_env(env_cfg, k, mode))), 1
        if cfg.oracle == "state":
            energy = partial(goal_energy, metric="l1", steps=cfg.energy.steps)
            energy_text = f"the env's state distance to the goal state ({STEPS_SCORED[cfg.energy.steps]})"
        energy_text = f"oracle={cfg.oracle}: {energy_text}"
    probe_env.close()
    name, horizon, replan = cfg.planner.name, cfg.planner.horizon, env_cfg.replan_every
    max_steps = math.ceil(env_cfg.max_steps / k)  # planner actions within the env-step budget

    run_dir = Path(cfg.run_dir)
    run.claim(cfg)
    print(
        f"plan: {name} on {env_cfg.id} with {path} (one action = {k} env steps, {mode}); {cfg.episodes} "
        f"episodes ({batch_episodes} at a time), budget {env_cfg.max_steps} env steps = {max_steps} actions, "
        f"horizon {horizon}, replan every {replan}, {cfg.context_frames} context frame(s); energy: {energy_text}"
    )
    start = time.perf_counter()
    summary = evaluate(
        env_factory,
        world_model,
        lambda wm: make_planner(cfg.planner, wm, energy, space.low.tolist(), space.high.tolist(), cfg.seed),
        episodes=cfg.episodes,
        batch_episodes=batch_episodes,
        seed=cfg.seed,
        max_steps=max_steps,
        replan_every=replan,
        context_frames=cfg.context_frames,
        out_dir=run_dir,
        save_videos=cfg.save_videos,
        video_format=cfg.video_format,
        fps=max(1, round(fps)),
    )
    summary.update({
        "planner": name,
        "env": env_cfg.id,
        "world_model": str(path),
        "action_block": k,
        "env_steps_per_episode": env_cfg.max_steps,
        "context_frames": cfg.context_frames,
        "oracle": cfg.oracle,
        "energy": energy_text,
        "mean_plan_time_per_env_step_s": summary["mean_plan_time_per_action_s"] / k,
        "wall_time_s": time.perf_counter() - start,
    })
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2))  # the demo's mark of a finished run
    print(format_summary(summary))
    return summary


def format_summary(s: dict) -> str:
    """One line: success (after the last action, and at any step where it differs), steps to success (mean and
    quartiles over the successes, in planner actions), final distance, planning time and wall time."""
    to_success = "" if s.get("mean_steps_to_success") is None else (  # absent from summaries of earlier versions
        f" in {s['mean_steps_to_success']:.1f} actions on average (min, quartiles, max "
        f"{', '.join(f'{q:g}' for q in s['steps_to_success_quartiles'])})"
    )
    reached = s.get("reached_rate", s["success_rate"])  # absent from summaries of earlier versions
    at_any_step = "" if reached == s["success_rate"] else f" ({reached:.0%} at some step)"
    oracle = f" (oracle={s['oracle']}: a ceiling, not a result)" if s.get("oracle") else ""
    return (
        f"{s['planner']}{oracle} on {s['env']}: success {s['success_rate']:.0%}{at_any_step} of {s['episodes']} "
        f"episodes{to_success}, "
        f"mean final distance {s['mean_goal_distance']:.3f}, planning {s['mean_plan_time_per_action_s']:.2f} s per "
        f"action ({s['action_block']} env steps), wall time {s['wall_time_s']:.0f} s"
    )


@command("plan")
def main(cfg: DictConfig) -> None:
    plan(cfg)


if __name__ == "__main__":
    main()
