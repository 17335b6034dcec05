"""Exponential moving average of the context encoder: the JEPA target encoder."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target ← momentum · target + (1 − momentum) · online, for every parameter (one fused op)."""
    target_params = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    if len(target_params) != len(online_params):
        raise ValueError("target and online modules have different parameter lists")
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)
