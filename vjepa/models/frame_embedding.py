"""One embedding per frame (LeWM): the encoder's tokens pooled — averaged, or concatenated in grid order — then a
projector MLP with batch norm.

``vjepa-train-ac recipe=end_to_end end_to_end.embedding=pooled`` trains it with the encoder and the predictor;
the predictor then reads and predicts a 1-token frame, and the regulariser sees one embedding per frame.

    projector = PooledProjector(embed_dim=192, hidden_dim=2048, dim=192)
    z = projector(features)                                  # (..., N, 192) -> (..., 1, 192)
    projector = PooledProjector(embed_dim=192, hidden_dim=2048, dim=192, pool="flatten", num_tokens=16)
    z = projector(features)                                  # (..., 16, 192) -> (..., 1, 192)
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn


class PooledProjector(nn.Module):
    """The tokens pooled, then Linear(in, hidden_dim) -> BatchNorm1d -> GELU -> Linear(hidden_dim, dim):
    ``(..., N, embed_dim) -> (..., 1, dim)``. ``pool="mean"`` averages the N tokens (in = embed_dim; with a RoPE
    encoder the average hardly says where in the image a thing is, only what is there and near what);
    ``"flatten"`` concatenates the ``num_tokens`` tokens in grid order (in = num_tokens x embed_dim: each token's
    place is kept, as LeWM's CLS token with absolute position embeddings keeps it). Batch norm takes its
    statistics over every frame of the call in training, its running statistics in eval mode (planning)."""

    def __init__(self, embed_dim: int, hidden_dim: int, dim: int, pool: str = "mean",
                 num_tokens: int | None = None) -> None:
        super().__init__()
        if pool not in ("mean", "flatten") or (pool == "flatten") != (num_tokens is not None):
            raise ValueError(f"pool must be 'mean', or 'flatten' with num_tokens; got {pool!r}, {num_tokens}")
        self.embed_dim, self.dim, self.num_tokens = int(embed_dim), int(dim), num_tokens  # num_tokens: flatten
        width = embed_dim if num_tokens is None else num_tokens * embed_dim
        self.mlp = nn.Sequential(nn.Linear(width, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, dim))

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim < 3 or features.shape[-2:] != (self.num_tokens or features.shape[-2], self.embed_dim):
            raise ValueError(f"features: expected (..., {self.num_tokens or 'N'}, {self.embed_dim}), "
                             f"got {tuple(features.shape)}")
        pooled = features.mean(-2) if self.num_tokens is None else rearrange(features, "... n d -> ... (n d)")
        return self.mlp(pooled.flatten(0, -2)).unflatten(0, pooled.shape[:-1]).unsqueeze(-2)  # (..., 1, dim)


__all__ = ["PooledProjector"]
