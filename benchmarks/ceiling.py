"""The machine's dense matmul ceiling (GFLOP/s), measured in the same run as the model benchmarks so that model
throughput can be read as a fraction of what the hardware does on its best kernel.

    python -m benchmarks.ceiling [--repeats 10]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import median, pick_device, time_calls

CPU_SIZES = (512, 1024, 2048)
CUDA_SIZES = (4096, 8192)
MAX_CALL_S = 0.5  # larger sizes are skipped once one call takes longer (emulated bf16, without AVX512, is that slow)


def matmul_seconds(n: int, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Median seconds of an (n, n) @ (n, n) matmul."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return median(time_calls(lambda _: torch.mm(a, b, out=out), repeats, warmup=2, device=device))


def matmul_sizes(dtype: torch.dtype, device: torch.device, repeats: int = 10) -> dict[int, float]:
    """Median GFLOP/s per square size, smallest first; stops growing once one call takes over ``MAX_CALL_S``
    (a dtype without a fast kernel would otherwise take minutes at the largest size)."""
    gflops = {}
    for n in CUDA_SIZES if device.type == "cuda" else CPU_SIZES:
        seconds = matmul_seconds(n, dtype, device, repeats)
        gflops[n] = 2 * n**3 / seconds / 1e9
        if seconds > MAX_CALL_S:
            break
    return gflops


def matmul_ceiling(dtype: torch.dtype, device: torch.device, repeats: int = 10) -> float:
    """The best median GFLOP/s over a few square sizes: the machine's dense matmul ceiling for ``dtype``."""
    return max(matmul_sizes(dtype, device, repeats).values())


def run(device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        sizes = matmul_sizes(dtype, device, repeats)
        rows.append({"dtype": name, "gflops": max(sizes.values()), "by_size": sizes})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    for row in run(pick_device(args.device), args.repeats):
        print(f"{row['dtype']}: {row['gflops']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
