"""Batch collation with masks drawn from a generator seeded by the batch's per-sample seeds."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import default_collate

from vjepa.data.video_dataset import SkippedPaths
from vjepa.masks.multiblock import MultiBlockMasker


class MaskCollator:
    """`collate_fn` for a DataLoader: stacks clips and adds one batch of masks per mask group.

    The masks depend only on `seed` and the samples' own seeds, so they do not change with the worker count
    or when a run is resumed. The batch passes on what the samples skipped: ``skipped``, their failed draws, and
    ``skipped_files``, the files those drew (path -> reason), for the training process to name each once.
    """

    def __init__(self, masker: MultiBlockMasker, seed: int = 0):
        self.masker = masker
        self.seed = seed

    def _batch_seed(self, sample_seeds: Sequence[int]) -> int:
        """A 63-bit seed from the collator seed and the samples' seeds (stable across processes and runs)."""
        text = ",".join(str(int(s)) for s in (self.seed, *sample_seeds))
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not samples:
            raise ValueError("MaskCollator: empty batch")
        generator = torch.Generator().manual_seed(self._batch_seed([s["seed"] for s in samples]))
        return {
            "clips": default_collate([s["clip"] for s in samples]),  # (B, C, T, H, W)
            "masks": self.masker(len(samples), generator),  # per group: (context_idx, target_idx)
            "index": default_collate([s["index"] for s in samples]),  # (B,)
            "skipped": sum(int(s["skipped"]) for s in samples),
            "skipped_files": SkippedPaths.merged(s.get("skipped_files", {}) for s in samples),
        }
