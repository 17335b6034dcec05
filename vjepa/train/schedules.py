"""Step-indexed schedules for learning rate, weight decay, EMA momentum and loss weights.

They are pure functions of the step, so a resumed run recomputes them exactly and needs no scheduler state.
"""

from __future__ import annotations

import math
from typing import Literal


def warmup_cosine(step: int, total: int, warmup: int, start: float, peak: float, final: float) -> float:
    """Linear warm-up from ``start`` to ``peak`` over ``warmup`` steps, then cosine decay to ``final``."""
    if step < warmup:
        return start + (peak - start) * step / max(warmup, 1)
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_constant_decay(
    step: int, total: int, warmup: int, start: float, peak: float, final: float, decay_fraction: float = 0.2
) -> float:
    """Warm-up, a constant plateau at ``peak``, then a linear decay to ``final`` over the last
    ``decay_fraction`` of training (the "WSD" schedule V-JEPA 2 uses)."""
    if step < warmup:
        return start + (peak - start) * step / max(warmup, 1)
    decay_start = int(total * (1.0 - decay_fraction))
    if step < decay_start:
        return peak
    progress = min((step - decay_start) / max(total - decay_start, 1), 1.0)
    return peak + (final - peak) * progress


def linear(step: int, total: int, start: float, end: float) -> float:
    """Linear ramp from ``start`` to ``end`` over ``total`` steps (EMA momentum, weight decay)."""
    return start + (end - start) * min(step / max(total, 1), 1.0)


def warmed_up(step: int, warmup: int, value: float) -> float:
    """``value``, ramped linearly from 0 over the first ``warmup`` steps (a loss weight's warm-up)."""
    return linear(step, warmup, 0.0, value) if warmup > 0 else value


def learning_rate(
    step: int, total: int, *, schedule: Literal["cosine", "wsd"], warmup: int, start_lr: float, lr: float,
    final_lr: float, decay_fraction: float = 0.2,
) -> float:
    if schedule == "cosine":
        return warmup_cosine(step, total, warmup, start_lr, lr, final_lr)
    if schedule == "wsd":
        return warmup_constant_decay(step, total, warmup, start_lr, lr, final_lr, decay_fraction)
    raise ValueError(f"optim.schedule must be 'cosine' or 'wsd', got {schedule!r}")
