"""Named scores for stock envs with a Box observation: the part of the observation vector that success compares,
by L2 distance, with the goal's (``GoalImageWrapper(score=...)``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Score = Callable[[np.ndarray], np.ndarray]


def reacher_v5_fingertip(obs: np.ndarray) -> np.ndarray:
    """Fingertip (x, y) of gymnasium's ``Reacher-v5``: its target position (entries 4:6) plus the fingertip-to-target
    vector (entries 8:10)."""
    return obs[..., 4:6] + obs[..., 8:10]


SCORES: dict[str, Score] = {"reacher_v5_fingertip": reacher_v5_fingertip}


def get_score(name: str) -> Score:
    """The score called ``name`` (ValueError listing the known ones)."""
    if name not in SCORES:
        raise ValueError(f"unknown score {name!r}; choose from {sorted(SCORES)}")
    return SCORES[name]
