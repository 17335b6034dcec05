"""`vjepa-state-probe`'s keys (configs/state_probe.yaml): a linear state probe on a world model's features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import DictConfig

from configs.schema import doc, register
from configs.schema.plan import WorldModelRun, check_world_model_run
from vjepa.runtime import config_checks as checks


@dataclass(kw_only=True)
class StateProbeConfig(WorldModelRun):
    """Fit a linear state probe on a world model's features of its training episodes (`planning.probe`)."""

    dataset: str = doc(text="a vjepa-episodes directory (vjepa-collect): the frames and states fitted on")
    max_frames: int = doc(4000, "frames fitted on, evenly over the episodes")
    out: Optional[str] = doc(None, "where the probe goes; null: probe.pt beside world_model")


register("state_probe_schema", StateProbeConfig)


def check_state_probe(cfg: DictConfig) -> None:
    """`vjepa-state-probe`'s start-up checks (each a `ConfigError` naming its key)."""
    check_world_model_run(cfg)
    checks.existing_path(cfg, "dataset", kind="dir")
    checks.integer(cfg, "max_frames", low=1)
