"""Collapse diagnostics of a batch of embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def embedding_diagnostics(tokens: Tensor) -> dict[str, float]:
    """tokens (B, N, D) -> per-dimension std, effective rank and mean pairwise cosine similarity.

    - ``feature_std``: std over all tokens of each channel, averaged over channels (→ 0 on collapse);
    - ``effective_rank``: exp of the entropy of the normalised singular values of the centred token matrix
      (Roy & Vetterli), between 1 (collapse to a line) and D;
    - ``clip_cosine``: mean cosine similarity between different clips' mean-pooled embeddings (→ 1 on collapse).
    """
    flat = tokens.float().flatten(0, 1)  # (B*N, D)
    feature_std = flat.std(dim=0).mean()
    singular = torch.linalg.svdvals(flat - flat.mean(0))
    p = singular / singular.sum().clamp_min(1e-12)
    effective_rank = torch.exp(-(p * p.clamp_min(1e-12).log()).sum())
    pooled = F.normalize(tokens.float().mean(1), dim=-1)  # (B, D)
    b = pooled.shape[0]
    cosine = (pooled @ pooled.T).sum() - b
    clip_cosine = cosine / max(b * (b - 1), 1)
    return {
        "feature_std": feature_std.item(),
        "effective_rank": effective_rank.item(),
        "clip_cosine": clip_cosine.item(),
    }
