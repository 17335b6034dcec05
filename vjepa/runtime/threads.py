"""The ``threads`` runtime key every computing command takes, and how much of the CPU a run actually gets.

``threads: auto`` (the default) computes with the cores the rest of the machine leaves idle when the command starts
(read from ``/proc/stat`` over a fifth of a second), at most torch's default of one thread per core: on a machine
shared with other jobs, a thread per core waits at every parallel region for the threads whose cores the other
jobs hold. `CpuShare` reads, between log steps, how much CPU time the run's threads got, so that the progress bar
can say when the run is starved.
"""

from __future__ import annotations

import os
import time

import torch

from vjepa.runtime.errors import ConfigError

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # one per core, or OMP_NUM_THREADS (torchrun: 1 per process)
STARVED_BELOW = 0.5  # a run whose threads got less than this share of their CPU time is starved


def idle_cores(sample_s: float = 0.2) -> float | None:
    """How many of the machine's cores sat idle over ``sample_s`` seconds (/proc/stat); None where it cannot tell."""

    def idle_and_total() -> tuple[int, int]:
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
        return idle + iowait, user + nice + system + idle + iowait + irq + softirq + steal

    try:
        idle_0, total_0 = idle_and_total()
        time.sleep(sample_s)
        idle_1, total_1 = idle_and_total()
    except (OSError, ValueError):
        return None
    if total_1 <= total_0:
        return None
    return (idle_1 - idle_0) / (total_1 - total_0) * (os.cpu_count() or 1)


def auto_threads() -> int:
    """The threads ``threads: auto`` computes with: the idle cores (rounded), from 1 to torch's default."""
    idle = idle_cores()
    if idle is None:
        return TORCH_DEFAULT_THREADS
    return max(1, min(TORCH_DEFAULT_THREADS, round(idle)))


def set_threads(threads: int | str | None) -> int:
    """Let torch compute with ``threads`` CPU threads (`torch.set_num_threads`): a positive integer, ``"auto"`` (the
    idle cores, `auto_threads`) or None (torch's default, a thread per core). Anything else is a `ConfigError` naming
    the ``threads`` key. Returns the threads torch now uses."""
    if threads == "auto":
        threads = auto_threads()
    elif threads is None:
        threads = TORCH_DEFAULT_THREADS
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"must be a positive integer, auto or null, got {threads!r}", "threads",
                          "threads=N for N CPU threads, auto for the idle cores, null for one per core")
    torch.set_num_threads(threads)
    return threads


class CpuShare:
    """The share of its threads' CPU time this process got between two readings: CPU seconds / (wall seconds spent
    computing x threads). Time spent waiting for data is not computing and is left out."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def read(self, waiting_s: float = 0.0) -> float:
        """The share since the last reading (or reset), which this reading starts anew."""
        cpu, wall = time.process_time() - self._cpu, time.perf_counter() - self._wall - waiting_s
        self.reset()
        return min(cpu / (max(wall, 1e-9) * torch.get_num_threads()), 1.0)


def starved_note(share: float) -> dict[str, str]:
    """A progress-bar entry saying the run is CPU-starved (other jobs hold its cores), or none."""
    if share >= STARVED_BELOW:
        return {}
    return {"cpu": f"starved ({share:.0%} of {torch.get_num_threads()} threads; other jobs share the cores)"}


__all__ = ["CpuShare", "auto_threads", "idle_cores", "set_threads", "starved_note"]
