"""Goal energies: how far a rollout's predicted features are from the goal image's features (lower is better)."""
from typing import Callable, Literal

import torch.nn.functional as F
from torch import Tensor

from planning.interface import Rollout

EnergyFn = Callable[[Rollout, Tensor], Tensor]  # (rollout of K candidates, goal features (N, D)) -> (K,)


def goal_energy(
    rollout: Rollout,
    goal: Tensor,
    metric: Literal["l1", "l2", "cosine"] = "l1",
    reduce_tokens: Literal["mean", "pool"] = "mean",
    steps: Literal["last", "all"] = "last",
) -> Tensor:
    """Energy (K,) of a rollout's predicted features (K, H, N, D) against goal features (N, D), in float32.

    metric: "l1" mean absolute difference over D (V-JEPA 2-AC), "l2" mean squared difference over D (DINO-WM),
    "cosine" 1 - cosine similarity. reduce_tokens: "mean" distance per token then mean over tokens, "pool"
    mean over tokens first then one distance. steps: "last" predicted step only, or the mean over "all" steps.
    """
    pred = rollout.features
    if pred.shape[-2:] != goal.shape:
        raise ValueError(f"pred tokens {tuple(pred.shape[-2:])} do not match goal {tuple(goal.shape)}")
    if steps == "last":
        pred = pred[:, -1:]
    elif steps != "all":
        raise ValueError(f"steps must be 'last' or 'all', got {steps!r}")
    pred, goal = pred.float(), goal.float()
    if reduce_tokens == "pool":
        pred, goal = pred.mean(-2, keepdim=True), goal.mean(-2, keepdim=True)
    elif reduce_tokens != "mean":
        raise ValueError(f"reduce_tokens must be 'mean' or 'pool', got {reduce_tokens!r}")
    if metric == "l1":
        dist = (pred - goal).abs().mean(-1)
    elif metric == "l2":
        dist = (pred - goal).square().mean(-1)
    elif metric == "cosine":
        dist = 1 - F.cosine_similarity(pred, goal.expand_as(pred), dim=-1)
    else:
        raise ValueError(f"metric must be 'l1', 'l2' or 'cosine', got {metric!r}")
    return dist.mean((1, 2))  # (K, h, n) -> (K,)
