"""The ``threads`` runtime key every computing command takes: how many CPU threads torch computes with."""

from __future__ import annotations

import torch

from vjepa.runtime.errors import ConfigError


def set_threads(threads: int | None) -> None:
    """Let torch compute with ``threads`` CPU threads (`torch.set_num_threads`); None leaves torch's default (all
    cores). Anything but a positive integer or None is a `ConfigError` naming the ``threads`` key."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer or null, got {threads!r}", where="threads",
                          fix="threads=N for N CPU threads, or threads=null for torch's default (all cores)")
    torch.set_num_threads(threads)
