"""`vjepa-demo`'s keys (configs/demo.yaml, with the env group) and its start-up checks. Its stage sections are
merged into the stages' own configs (collect, pretrain, train_ac, plan), whose schemas type them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.env import EnvConfig, env_config
from configs.schema.keys import refuse_unknown_keys
from configs.schema.planner import PLANNER_CONFIGS
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class DemoConfig(Runtime):
    """The whole loop on a CPU in one command: collect -> pretrain -> train the AC predictor -> plan vs random."""

    device: str = doc("auto", "every stage's: auto (CUDA when present, else CPU) | cpu | cuda | cuda:N")
    precision: Optional[str] = doc(None, "every stage's: auto | bf16 | fp32; null: each stage's own")
    threads: Any = doc(1, "every stage's torch CPU threads: 1 keeps a shared machine from oversubscription | auto | "
                          "N | null (one per core)")
    out: str = doc("runs/demo", "every stage writes under it")
    env: EnvConfig = doc(EnvConfig(name=MISSING, id=MISSING), "the env group (configs/env/<name>.yaml): data is "
                                                               "collected in it (at env.image_size, null: "
                                                               "pretrain.data.crop_size) and planned in it")
    planners: list[str] = doc(["cem", "random"], "configs/planner/<name>.yaml, each evaluated on the same episodes")
    landscape: bool = doc(True, "out/plan/landscape.png: energy landscapes of the first episode")
    probe_frames: int = doc(15000, "frames the state probe is fitted on (when plan.energy uses it)")
    collect: dict[str, Any] = doc({}, "merged into configs/collect.yaml (env, out: the demo's)")
    pretrain: dict[str, Any] = doc({}, "merged into configs/pretrain.yaml (data=video_folder on the collected videos)")
    train_ac: dict[str, Any] = doc({}, "merged into configs/train_ac.yaml (encoder and data.path: the stages above)")
    planner_settings: dict[str, Any] = doc({}, "per planner name, merged into plan.planner")
    plan: dict[str, Any] = doc({}, "merged into configs/plan.yaml (world_model: the stage above; env: the demo's, "
                                        "plan.env keys over it)")


register("demo_schema", DemoConfig)


def check_demo(cfg: DictConfig) -> EnvConfig:
    """`vjepa-demo`'s own start-up checks (the stages check their merged configs); returns the checked env."""
    refuse_unknown_keys(cfg)
    checks.choice(cfg, "precision", ("auto", "fp32", "bf16"), optional=True)
    checks.integer(cfg, "probe_frames", low=1)
    for name in cfg.planners:
        if name not in PLANNER_CONFIGS:
            raise ConfigError(f"unknown planner {name!r}", "planners", f"choose from {' | '.join(PLANNER_CONFIGS)}")
    return env_config(cfg.env)
