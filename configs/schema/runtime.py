"""The runtime keys every computing command takes (`vjepa.runtime.device`, `vjepa.runtime.threads`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from configs.schema import doc


@dataclass
class Runtime:
    """Where and how a command computes; a command's schema inherits these keys."""

    device: str = doc("auto", "auto (CUDA when present, else CPU) | cpu | cuda | cuda:N")
    precision: str = doc("auto", "auto (bf16 on Ampere+ GPUs and AVX512-BF16/AMX CPUs, else fp32) | bf16 | fp32")
    threads: Any = doc("auto", "torch CPU threads: auto (the cores other jobs leave idle) | N | null (one per core)")
