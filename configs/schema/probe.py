"""`vjepa-probe`'s keys (configs/probe.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import DictConfig

from configs.schema import doc, register
from configs.schema.extract import ENCODERS
from configs.schema.keys import refuse_unknown_keys
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks


@dataclass
class Probe(Runtime):
    """Frozen-feature probe on generated moving-shape videos (direction of motion, velocity)."""

    precision: str = doc("fp32", "what the encoders compute in: fp32 | bf16 | auto (bf16 where the hardware has it)")
    checkpoint: str = doc("runs/pretrain/latest.pt", "a vjepa-pretrain checkpoint, or a pattern (runs/x/step_*.pt): "
                                                     "every checkpoint it matches, as a curve")
    encoder: str = doc("target_encoder", "target_encoder (EMA teacher) | encoder (the context encoder)")
    videos: str = doc("data/probe_one_shape", "generated on first use (a different seed from the pretraining videos)")
    num_videos: int = doc(2000, "70% fit the probe, 30% score it")
    max_shapes: int = doc(1, "shapes per probe video; with 2 the labelled one (drawn on top) is ambiguous")
    per_block: bool = doc(False, "also probe the patch embedding's and every block's output of both encoders")
    seed: int = doc(1, "the probe videos and the split")
    output: Optional[str] = doc(None, "null: probe.json beside the checkpoint (probe_<name>.json beside <name>.pt)")


register("probe_schema", Probe)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-probe reads, checked before any work starts."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    if not any(c in str(cfg.checkpoint) for c in "*?["):  # a pattern is matched later
        checks.existing_path(cfg, "checkpoint")
    checks.choice(cfg, "encoder", ENCODERS)
    checks.integers(cfg, ("num_videos", "max_shapes"), low=1)
    checks.integer(cfg, "seed", low=0)
