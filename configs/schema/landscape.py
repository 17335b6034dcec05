"""`vjepa-landscape`'s keys (configs/landscape.yaml, with the env group): energy landscapes of one episode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.env import EnvConfig, env_config
from configs.schema.plan import EnergyConfig, WorldModelRun, check_energy, check_world_model_run
from vjepa.runtime import config_checks as checks


@dataclass(kw_only=True)
class LandscapeConfig(WorldModelRun):
    """Pictures of what a planner optimises: energy landscapes of one goal-reaching episode (`planning.visualize`)."""

    env: EnvConfig = doc(EnvConfig(name=MISSING, id=MISSING), "the env group: configs/env/<name>.yaml")
    energy: EnergyConfig = doc(EnergyConfig(), "the planning energy, as vjepa-plan's")
    probe: Optional[str] = doc(None, "the state probe for probe_weight / state_weight; null: probe.pt beside "
                                     "world_model")
    seed: int = doc(0, "the episode's env seed")
    horizon: int = doc(5, "world-model steps each constant action is held for")
    grid: int = doc(21, "constant actions per action dimension")
    out: str = doc("landscape.png", "the picture")


register("landscape_schema", LandscapeConfig)


def check_landscape(cfg: DictConfig) -> EnvConfig:
    """`vjepa-landscape`'s start-up checks (each a `ConfigError` naming its key); returns the checked env."""
    check_world_model_run(cfg)
    check_energy(cfg)
    checks.integers(cfg, ("horizon", "grid"), low=1)
    return env_config(cfg.env)
