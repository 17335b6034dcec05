"""Where a run computes and in what precision: the device (`resolve_device`), the CPU's features
(`cpu_flags`), and bf16 autocast where the hardware multiplies bf16 matrices natively (GPUs from Ampere on; CPUs
with AVX512-BF16 or AMX), fp32 elsewhere (older GPUs and CPUs without them emulate bf16). What each measured:
docs/performance.md."""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware: a GPU of compute capability 8 or more (Ampere and
    later: bf16 tensor cores; a T4 or V100 emulates them), a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    return device.type == "cpu" and bool(NATIVE_BF16_FLAGS & cpu_flags())


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device multiplies bf16 natively (`native_bf16`), else 'fp32'; 'bf16' and 'fp32'
    as given."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision


def autocast_context(precision: str, device: torch.device):
    """bf16 autocast for ``precision`` 'bf16' (or 'auto' where that resolves to it), no autocast for 'fp32'."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
