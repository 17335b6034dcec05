"""Which precision a training run computes in: bf16 autocast where the hardware multiplies bf16 matrices natively
(CUDA; CPUs with AVX512-BF16 or AMX, where oneDNN's bf16 matmul runs at ~4x the fp32 ceiling), fp32 elsewhere (a CPU
without them emulates bf16, several times slower than fp32)."""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpuinfo(key: str) -> str:
    """The first value of ``key`` in /proc/cpuinfo ('' where there is none, or no /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return ""


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    return frozenset(cpuinfo("flags").split())


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' on CUDA and on CPUs with native bf16 matmul, else 'fp32'; 'bf16' and 'fp32' as given."""
    if precision == "auto":
        native = device.type == "cuda" or (device.type == "cpu" and bool(NATIVE_BF16_FLAGS & cpu_flags()))
        return "bf16" if native else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision


def autocast_context(precision: str, device: torch.device):
    """bf16 autocast for ``precision`` 'bf16' (or 'auto' where that resolves to it), no autocast for 'fp32'."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
