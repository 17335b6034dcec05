"""The env group (configs/env/<name>.yaml): a gymnasium env planned in to goal images, and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from configs.schema import doc
from configs.schema.keys import typed
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class EnvConfig:
    """A goal-reaching task in a gymnasium env (`envs.GoalImageWrapper`)."""

    name: str = doc(text="the preset's name (run directories are named after it)")
    id: str = doc(text="a registered gymnasium env, e.g. vjepa/Wall-v0")
    kwargs: dict[str, Any] = doc({}, "gym.make's keyword arguments (+env.kwargs.KEY=VALUE adds one)")
    image_size: Optional[int] = doc(None, "frame height and width: rendered at that size where the env allows it "
                                          "(toolkit envs, MuJoCo), resized once otherwise; null: the world model's "
                                          "when planning, the encoder's crop size in vjepa-demo's collection, the "
                                          "env's own in vjepa-collect's")
    goal_steps: int = doc(25, "env steps of the goal policy from the start to the goal")
    start_steps: int = doc(0, "> 0: the episode starts after 0..start_steps steps (drawn per episode) of the goal "
                              "policy, mid-task as the peers' starts from expert episodes; 0: at the env's reset")
    goal_policy: Optional[str] = doc(None, "envs.policies name; null: the env's expert if it has one, else "
                                           "random_repeat")
    max_steps: int = doc(50, "budget in env steps (a world model with frame_step k plans max_steps / k actions)")
    replan_every: int = doc(1, "planner actions executed between two plans (receding horizon)")
    success_threshold: Optional[float] = doc(None, "goal distance counted as success; null: the env's own")
    proprio_dims: Optional[list[int]] = doc(None, "a Box-observation env's entries fed to the planner as proprio; "
                                                  "null: the whole observation vector")
    score_dims: Optional[list[int]] = doc(None, "a Box-observation env's entries success compares with the goal's "
                                                "(L2); null: the whole vector, or score")
    score: Optional[str] = doc(None, "a named score of envs.scoring (what success compares) in place of score_dims")


def env_config(env: EnvConfig | DictConfig | dict, where: str = "env") -> EnvConfig:
    """``env`` typed against `EnvConfig` (a plain mapping is checked key by key) and its ranges checked: a
    registered id, goal_steps, max_steps and replan_every >= 1, a positive success_threshold or null."""
    node = typed(EnvConfig, env, where)
    cfg = OmegaConf.create({where: node})
    for key in ("name", "id"):
        if OmegaConf.is_missing(node, key):
            raise ConfigError("must be set", f"{where}.{key}", f"set {where}.{key}, or choose a preset: env=wall")
    checks.integers(cfg, (f"{where}.goal_steps", f"{where}.max_steps", f"{where}.replan_every"), low=1)
    checks.integer(cfg, f"{where}.image_size", low=1, optional=True)
    checks.integer(cfg, f"{where}.start_steps", low=0)
    checks.number(cfg, f"{where}.success_threshold", low=0, above=True, optional=True)
    if node.score is not None:
        from envs.scoring import SCORES

        checks.choice(cfg, f"{where}.score", tuple(SCORES))
    if node.score is not None and node.score_dims is not None:
        raise ConfigError("score and score_dims both set", f"{where}.score", "give one of them")
    import gymnasium as gym

    import envs  # noqa: F401  (registers the toolkit's envs)

    if node.id not in gym.registry:
        known = sorted(k for k in gym.registry if k.startswith("vjepa/")) + ["Pendulum-v1", "..."]
        raise ConfigError(f"{node.id!r} is not a registered gymnasium env", f"{where}.id", f"choose one of {known}")
    return OmegaConf.to_object(node)
