"""`vjepa-plan`'s keys (configs/plan.yaml, with the env and planner groups) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from configs.schema import doc, register
from configs.schema.env import EnvConfig, env_config
from configs.schema.keys import refuse_unknown_keys
from configs.schema.planner import PlannerConfig, check_planner
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class EnergyConfig:
    """The planning energy (`planning.energies.goal_energy`, plus the state probe's terms)."""

    metric: str = doc("l1", "l1 (V-JEPA 2-AC) | l2 (DINO-WM) | cosine")
    reduce_tokens: str = doc("mean", "mean (per-token distance) | pool (mean-pooled features)")
    steps: str = doc("last", "last (final predicted step) | all (mean over the predicted steps)")
    probe_weight: float = doc(0.0, "> 0: + that x distance between the state probe's readings of the predicted "
                                   "features and of the goal image (a long-range cost)")
    state_weight: float = doc(0.0, "> 0: + that x distance between the predictor's own predicted state and the "
                                   "state probe's reading of the goal image")


@dataclass(kw_only=True)  # a key without a default may follow the inherited ones
class WorldModelRun(Runtime):
    """The keys of a command that loads a trained world model."""

    precision: str = doc("fp32", "fp32 | bf16 | auto: what the encoder and predictor compute in")
    world_model: str = doc(text="a vjepa-train-ac checkpoint")
    encoder: Optional[str] = doc(None, "the encoder checkpoint; null: the one recorded in the world model")


@dataclass(kw_only=True)
class PlanConfig(WorldModelRun):
    """Plan to goal images with a trained world model (V-JEPA 2-AC) in a gymnasium env and score the episodes."""

    env: EnvConfig = doc(EnvConfig(name=MISSING, id=MISSING), "the env group: configs/env/<name>.yaml")
    planner: PlannerConfig = doc(PlannerConfig(name=MISSING), "the planner group: configs/planner/<name>.yaml")
    episodes: int = doc(20, "seeded episodes: env seeds seed, seed + 1, ...")
    batch_episodes: int = doc(25, "episodes planned at once (a vector env, one batched plan per step); an "
                                  "episode's outcome does not depend on it")
    seed: int = doc(0, "the first episode's env seed; also the planner's sampling seed")
    context_frames: int = doc(1, "observed frames the predictor reads before each plan (the latest ones, with the "
                                 "actions between them; LeWM plans from 3); 1: the current frame alone")
    energy: EnergyConfig = doc(EnergyConfig(), "the planning energy")
    oracle: Optional[str] = doc(None, "diagnosis only: simulator (the env's real frames in place of the predictor's, "
                                      "same encoder and energy) | state (and the env's own distance to the goal "
                                      "state as the energy); reads the simulator's hidden state, so a ceiling, not "
                                      "a result (planning.oracle); episodes planned one at a time")
    probe: Optional[str] = doc(None, "the state probe for probe_weight / state_weight; null: probe.pt beside "
                                     "world_model")
    save_videos: int = doc(4, "videos of the first episodes: observation | goal | trajectory")
    video_format: str = doc("mp4", "mp4 | gif")
    run_dir: str = doc("runs/plan/${env.name}_${planner.name}", "where results, videos and the config go")


register("plan_schema", PlanConfig)

ENERGY_CHOICES = {"metric": ("l1", "l2", "cosine"), "reduce_tokens": ("mean", "pool"), "steps": ("last", "all")}


def check_energy(cfg: DictConfig, where: str = "energy") -> None:
    """The energy's choices, and non-negative weights."""
    for key, choices in ENERGY_CHOICES.items():
        checks.choice(cfg, f"{where}.{key}", choices)
    for key in ("probe_weight", "state_weight"):
        checks.number(cfg, f"{where}.{key}", low=0)


def check_world_model_run(cfg: DictConfig) -> None:
    """The keys of `WorldModelRun`: a world model that exists, the runtime keys; and no unknown keys."""
    refuse_unknown_keys(cfg)
    if OmegaConf.is_missing(cfg, "world_model"):
        raise ConfigError("must be set", "world_model", "world_model=runs/train_ac/latest.pt (a vjepa-train-ac "
                                                        "checkpoint)")
    checks.existing_path(cfg, "world_model", kind="file")
    checks.existing_path(cfg, "encoder", kind="file", optional=True)
    checks.runtime(cfg)


def check_context_fits(context_frames: int, horizon: int, max_steps: int, where: str = "context_frames") -> None:
    """A plan's context and horizon within the predictor's steps: Tc - 1 + H <= its ``max_steps`` (``ac.max_steps``
    of vjepa-train-ac), or a `ConfigError` naming ``where``."""
    if context_frames - 1 + horizon > max_steps:
        raise ConfigError(f"{context_frames} context frames with a planner horizon of {horizon} need "
                          f"{context_frames - 1 + horizon} predictor steps, the predictor takes {max_steps} "
                          "(its ac.max_steps)", where, f"set {where} <= {max_steps + 1 - horizon}")


def check_plan(cfg: DictConfig) -> EnvConfig:
    """`vjepa-plan`'s start-up checks (each a `ConfigError` naming its key); returns the checked env config."""
    check_world_model_run(cfg)
    checks.integers(cfg, ("episodes", "batch_episodes", "context_frames"), low=1)
    checks.integer(cfg, "save_videos", low=0)
    checks.choice(cfg, "video_format", ("mp4", "gif"))
    check_energy(cfg)
    checks.choice(cfg, "oracle", ("simulator", "state"), optional=True)
    check_planner(cfg)
    env = env_config(cfg.env)
    if env.replan_every > cfg.planner.horizon:
        raise ConfigError(f"exceeds planner.horizon ({cfg.planner.horizon}): nothing left to execute",
                          "env.replan_every", f"set env.replan_every <= {cfg.planner.horizon}")
    return env
