"""The example world model: a dot in [-1, 1]^2 whose features are a fixed linear map of its position. The smallest
model behind `planning.interface.WorldModel`, exactly invertible and costing next to nothing, for planner tests and
the planner-overhead benchmark."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from planning.interface import Rollout


class LinearToyWorldModel(nn.Module):
    """A point in [-1, 1]^2 seen as a bright dot; features = a fixed linear map of its position, state = position.

    A frame shows the dot at pixel (row, col) = ((y + 1) / 2 * (H - 1), (x + 1) / 2 * (W - 1)) on a dark
    background; `encode` reads its position as the brightness centroid. `rollout` integrates the actions,
    pos_{t+1} = pos_t + dt * a_t, from the position decoded from the last context frame (of each episode's
    context, with a leading episode dim).
    """

    state_dim, frame_step, action_agg = 2, 1, "sum"

    def __init__(self, num_tokens: int = 4, dim: int = 8, dt: float = 0.2, seed: int = 0, image_size: int = 32):
        super().__init__()
        self.action_dim, self.num_tokens, self.dt, self.image_size = 2, num_tokens, dt, image_size
        proj = torch.randn(2, num_tokens * dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("proj", proj)  # (2, N*D)
        self.register_buffer("unproj", torch.linalg.pinv(proj))  # (N*D, 2)

    def features(self, pos: Tensor) -> Tensor:
        """Positions (..., 2) -> features (..., N, D)."""
        return rearrange(pos @ self.proj, "... (n d) -> ... n d", n=self.num_tokens)

    def position(self, features: Tensor) -> Tensor:
        """Features (..., N, D) -> positions (..., 2) (exact inverse of `features`)."""
        return rearrange(features, "... n d -> ... (n d)") @ self.unproj

    def encode(self, frames: Tensor) -> Tensor:
        weight = frames.float().mean(-1)  # (B, H, W)
        weight = weight / weight.sum((1, 2), keepdim=True).clamp_min(1e-6)
        rows = torch.linspace(-1, 1, frames.shape[1], device=frames.device)
        cols = torch.linspace(-1, 1, frames.shape[2], device=frames.device)
        x = (weight.sum(1) * cols).sum(-1)
        y = (weight.sum(2) * rows).sum(-1)
        return self.features(torch.stack([x, y], -1))

    def rollout(self, context_features: Tensor, context_states: Tensor, context_actions: Tensor,
                actions: Tensor) -> Rollout:
        start = self.position(context_features[..., -1, :, :])  # ([B,] 2)
        pos = start[..., None, None, :] + self.dt * actions.cumsum(dim=-2)  # ([B,] K, H, 2)
        return Rollout(self.features(pos), pos)
