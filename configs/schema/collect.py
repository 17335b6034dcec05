"""`vjepa-collect`'s keys (configs/collect.yaml, with the env group) and their start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from configs.schema import doc, register
from configs.schema.env import EnvConfig, env_config
from configs.schema.keys import typed
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class CollectConfig:
    """Collect exploration episodes from a gymnasium env into the episode format (`vjepa.data.episodes`)."""

    out: str = doc(text="the dataset root to create")
    env: EnvConfig = doc(EnvConfig(name=MISSING, id=MISSING), "the env group (configs/env/<name>.yaml): its id, "
                                                               "kwargs, proprio_dims and image_size (null: the env's "
                                                               "own frame size)")
    episodes: int = doc(100, "episodes to collect")
    length: int = doc(50, "frames per episode (fewer where the env terminates)")
    policy: Optional[str] = doc(None, "envs.policies: random | random_repeat | expert | mixture (the expert mixed "
                                      "with held random actions); null: mixture where the env has an expert, else "
                                      "random_repeat")
    seed: int = doc(0, "seed of the episodes' env and policy seeds")
    overwrite: bool = doc(False, "replace an existing dataset at out")
    videos: bool = doc(False, "also write out/videos/episode_XXXXXX.mp4 (vjepa-pretrain data=video_folder)")
    hold: int = doc(1, "query the policy every hold steps and repeat its action in between (a world model's "
                       "frame_step: the action blocks its planner executes)")
    workers: int = doc(1, "processes collecting episodes side by side (the dataset is the same for any number)")


register("collect_schema", CollectConfig)


def collect_config(cfg: CollectConfig | DictConfig | dict) -> CollectConfig:
    """``cfg`` typed against `CollectConfig` and its ranges checked (each a `ConfigError` naming its key)."""
    node = typed(CollectConfig, cfg)
    if OmegaConf.is_missing(node, "out"):
        raise ConfigError("must be set", "out", "out=data/wall (the dataset root to create)")
    checks.integers(node, ("episodes", "length", "hold", "workers"), low=1)
    from envs.policies import POLICIES

    checks.choice(node, "policy", POLICIES, optional=True)
    env_config(node.env)
    return OmegaConf.to_object(node)
