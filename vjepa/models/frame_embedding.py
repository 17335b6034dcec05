"""One embedding per frame (LeWM): the encoder's tokens mean-pooled, then a projector MLP with batch norm.

``vjepa-train-ac recipe=end_to_end end_to_end.embedding=pooled`` trains it with the encoder and the predictor;
the predictor then reads and predicts a 1-token frame, and the regulariser sees one embedding per frame.

    projector = PooledProjector(embed_dim=192, hidden_dim=2048, dim=192)
    z = projector(features)                                  # (..., N, 192) -> (..., 1, 192)
"""

from __future__ import annotations

from torch import Tensor, nn


class PooledProjector(nn.Module):
    """Mean over the tokens, then Linear(embed_dim, hidden_dim) -> BatchNorm1d -> GELU -> Linear(hidden_dim, dim):
    ``(..., N, embed_dim) -> (..., 1, dim)``. Batch norm takes its statistics over every frame of the call in
    training, its running statistics in eval mode (planning)."""

    def __init__(self, embed_dim: int, hidden_dim: int, dim: int) -> None:
        super().__init__()
        self.embed_dim, self.dim = int(embed_dim), int(dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, dim))

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim < 3 or features.shape[-1] != self.embed_dim:
            raise ValueError(f"features: expected (..., N, {self.embed_dim}), got {tuple(features.shape)}")
        pooled = features.mean(-2)  # (..., D)
        return self.mlp(pooled.flatten(0, -2)).unflatten(0, pooled.shape[:-1]).unsqueeze(-2)  # (..., 1, dim)


__all__ = ["PooledProjector"]
