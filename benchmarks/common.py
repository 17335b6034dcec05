"""What every benchmark section shares: the device, timing (median of repeats after warm-up), the machine's
description and the official anchors (docs/reference/published.md)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import torch

from vjepa.runtime.device import cpu_flags, cpuinfo

# The official vjepa2 code on these machines (docs/reference/published.md, "Performance anchors"): CPU, 2 threads, fp32.
OFFICIAL_CEILING_GFLOPS = 164.5  # fp32 dense matmul ceiling measured beside the official figures
OFFICIAL_CLIPS_PER_S = {"tiny": 62.0, "small": 2.45}
OFFICIAL_AC_STEPS_PER_S = 405.0  # 64 candidates x 4 steps, recomputing the whole sequence every step

Row = dict[str, Any]


def vs_official(rate: float, official_rate: float, fp32_ceiling_gflops: float) -> float:
    """A throughput against the official figure, each divided by its machine's fp32 matmul ceiling (GFLOP/s), so
    that machines of different speed compare."""
    return rate / fp32_ceiling_gflops / (official_rate / OFFICIAL_CEILING_GFLOPS)


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """bf16 autocast for precision 'bf16' (and 'bf16-autocast'), plain fp32 otherwise (the loop's switch)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16"))


def time_calls(
    fn: Callable[[int], Any], repeats: int, warmup: int, device: torch.device, cpu_times: list[float] | None = None
) -> list[float]:
    """Wall times (s) of fn(i) for i = warmup .. warmup + repeats - 1, after fn(0 .. warmup - 1) untimed; with
    ``cpu_times``, this process's CPU time of each call is appended to it too (with one thread and other processes
    competing for the cores, CPU time is what the call would take on a quiet machine)."""
    for i in range(warmup):
        fn(i)
    synchronize(device)
    times = []
    for i in range(warmup, warmup + repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn(i)
        synchronize(device)
        times.append(time.perf_counter() - start)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - cpu_start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def load_average() -> tuple[float, float, float]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return (float("nan"),) * 3


def machine_info(device: torch.device) -> dict[str, Any]:
    flags = cpu_flags()
    info = {
        "cpu": cpu_model(),
        "cpu_family_model": f"{cpuinfo('cpu family')}/{cpuinfo('model')}",
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "load_average_start": load_average(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
