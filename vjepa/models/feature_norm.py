"""The action-conditioned predictor's feature space: frozen-encoder features -> what it reads and predicts.

``layer``: each token layer-normalised (V-JEPA 2-AC). ``standardize``: layer norm, then every (token, channel)
centred and scaled by its mean and std over the training frames. On a fixed scene (a robot cell, a simulated
room) most of a frozen encoder's features describe what never changes; the few that follow the moving agent
vary by a few percent of a token's norm and vanish in an L1 distance. Standardising gives every varying
channel unit scale, so the predictor's loss and the planner's goal energy weigh what moves.

    norm = FeatureNorm(num_tokens=16, dim=192, mode="standardize").fit(batches_of_cached_features)
    z = norm(features)                                       # (..., N, D) -> (..., N, D)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FeatureNormMode = Literal["layer", "standardize"]
STD_FLOOR = 0.1  # channels varying less than this x the mean channel std are scaled as if they varied that much


class FeatureNorm(nn.Module):
    """Layer norm per token, then (``standardize``) ``(x - mean) / std`` per (token, channel); mean, std (N, D)
    are buffers saved with the predictor's checkpoint."""

    def __init__(self, num_tokens: int, dim: int, mode: FeatureNormMode = "layer") -> None:
        super().__init__()
        if mode not in ("layer", "standardize"):
            raise ValueError(f"feature normalisation must be 'layer' or 'standardize', got {mode!r}")
        self.mode = mode
        self.register_buffer("mean", torch.zeros(num_tokens, dim))
        self.register_buffer("std", torch.ones(num_tokens, dim))

    def forward(self, features: Tensor) -> Tensor:
        """features (..., N, D) -> normalised features, float32."""
        if features.shape[-2:] != self.mean.shape:
            raise ValueError(
                f"features: expected (..., N, D) = (..., {', '.join(map(str, self.mean.shape))}), "
                f"got {tuple(features.shape)}"
            )
        x = F.layer_norm(features.float(), features.shape[-1:])
        return (x - self.mean) / self.std if self.mode == "standardize" else x

    @torch.no_grad()
    def fit(self, batches: Iterable[Tensor]) -> FeatureNorm:
        """Set mean and std from batches of raw features (..., N, D) (float64 sums); a no-op for ``layer``."""
        if self.mode == "layer":
            return self
        total = sq = None
        count = 0
        for batch in batches:
            x = F.layer_norm(torch.as_tensor(batch).double(), batch.shape[-1:]).reshape(-1, *self.mean.shape)
            total = x.sum(0) if total is None else total + x.sum(0)
            sq = (x * x).sum(0) if sq is None else sq + (x * x).sum(0)
            count += len(x)
        if count < 2:
            raise ValueError(f"standardising features needs at least 2 frames, got {count}")
        mean = total / count
        std = (sq / count - mean * mean).clamp_min(0).sqrt()
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(max(STD_FLOOR * float(std.mean()), 1e-6)))
        return self

    def to_checkpoint(self) -> dict[str, Any]:
        return {"mode": self.mode, "mean": self.mean.cpu(), "std": self.std.cpu()}

    @classmethod
    def from_checkpoint(cls, saved: Mapping[str, Any] | None, num_tokens: int, dim: int) -> FeatureNorm:
        """The norm saved by ``to_checkpoint``; ``None`` (checkpoints that predate it) gives ``layer``."""
        norm = cls(num_tokens, dim, saved["mode"] if saved else "layer")
        if saved:
            norm.load_state_dict({"mean": saved["mean"], "std": saved["std"]})
        return norm
