"""AdamW and its schedules (``optim``; presets: configs/optim/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig

from configs.schema import doc
from vjepa.runtime import config_checks as checks


@dataclass
class Optim:
    """AdamW with a warmup, then a cosine or warmup-constant-decay schedule of the learning rate, and a linear one of
    the weight decay."""

    schedule: str = doc("cosine", "cosine | wsd (warmup, constant, linear decay: V-JEPA 2)")
    lr: float = doc(1.0e-3, "peak learning rate")
    start_lr: float = doc(1.0e-4, "learning rate at step 0 (warmup from it)")
    final_lr: float = doc(1.0e-5, "learning rate at the last step")
    warmup_steps: int = doc(30, "steps of linear warmup from start_lr to lr")
    decay_fraction: float = doc(0.2, "wsd only: the share of the steps that decay to final_lr")
    weight_decay: float = doc(0.04, "weight decay at step 0")
    final_weight_decay: float = doc(0.4, "weight decay at the last step (linear in between)")
    betas: Any = doc([0.9, 0.999], "AdamW's [beta1, beta2]")
    eps: float = doc(1.0e-8, "AdamW's epsilon")
    grad_clip: Optional[float] = doc(1.0, "max gradient norm; null disables clipping")
    ema: Any = doc([0.998, 1.0], "target-encoder momentum, linear from the first to the second over training (null: "
                                 "no teacher)")


def check_optim(cfg: DictConfig) -> None:
    """``optim``'s keys."""
    checks.choice(cfg, "optim.schedule", ("cosine", "wsd"))
    checks.number(cfg, "optim.lr", low=0.0, above=True)
    checks.number(cfg, "optim.decay_fraction", low=0.0, high=1.0)
    for key in ("start_lr", "final_lr", "weight_decay", "final_weight_decay"):
        checks.number(cfg, f"optim.{key}", low=0.0)
    checks.integer(cfg, "optim.warmup_steps", low=0)
    checks.number_range(cfg, "optim.betas", low=0.0, high=1.0)
    checks.number(cfg, "optim.eps", low=0.0, above=True)
    checks.number(cfg, "optim.grad_clip", low=0.0, above=True, optional=True)
    if cfg.optim.ema is not None:
        checks.number_range(cfg, "optim.ema", low=0.0, high=1.0)
