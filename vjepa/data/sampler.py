"""A sampler that hands out (index, sample_seed) keys, so per-sample randomness lives in the key, not the worker."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields `(dataset_index, sample_seed)` for one epoch of this rank's share.

    The epoch's global order (a permutation when `shuffle`) and the seed at each global position depend only on
    (seed, epoch, position), so samples are identical for any number of DataLoader workers, and the union of the
    ranks' shares is the single-process order. Rank r takes global positions r, r + world_size, ...; with
    `drop_last` the tail that does not divide evenly is dropped, otherwise the order wraps around to fill it.
    With `repeat_to`, an epoch goes over the indices several times (one permutation after another), each position
    with its own seed: a dataset whose seed picks the clip gives several clips of each file per epoch.
    """

    def __init__(
        self,
        dataset_len: int,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world_size {world_size}")
        if dataset_len < 1:
            raise ValueError("an empty dataset cannot be sampled")
        self.dataset_len, self.seed, self.shuffle = dataset_len, seed, shuffle
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.repeats = 1  # passes over the indices per epoch
        self.epoch, self.start = 0, 0

    @property
    def num_samples(self) -> int:
        """Samples per rank and epoch (0 when `drop_last` and fewer indices than ranks: see `repeat_to`)."""
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(self.dataset_len * self.repeats / self.world_size)

    def repeat_to(self, per_rank: int) -> None:
        """Go over the indices the fewest times per epoch that give each rank at least `per_rank` samples (1 time
        when one pass does); for a dataset whose samples differ by seed (random clips), as with fewer files than
        a batch."""
        self.repeats = max(1, math.ceil(per_rank * self.world_size / self.dataset_len))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to iterate; also rewinds `start_at` to the epoch's beginning."""
        self.epoch, self.start = epoch, 0

    def start_at(self, position: int) -> None:
        """Skip the first `position` samples of this rank's share of the current epoch (exact resume)."""
        if not 0 <= position <= self.num_samples:
            raise ValueError(f"start position {position} outside this epoch's {self.num_samples} samples")
        self.start = position

    def __len__(self) -> int:
        return self.num_samples - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        passes = [rng.permutation(self.dataset_len) if self.shuffle else np.arange(self.dataset_len)
                  for _ in range(self.repeats)]
        order = np.concatenate(passes)
        total = self.num_samples * self.world_size
        order = np.resize(order, total)  # drops the tail, or wraps around to pad it
        seeds = rng.integers(0, 2**63 - 1, size=total, dtype=np.int64)
        positions = np.arange(self.start, self.num_samples) * self.world_size + self.rank
        yield from zip(order[positions].tolist(), seeds[positions].tolist())
