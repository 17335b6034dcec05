"""Attention kernels side by side: torch's ``F.scaled_dot_product_attention`` against the toolkit's
``vjepa.models.blocks.attention`` (which keeps SDPA except on CPU for short key sequences — any length up to 2048
in bf16/fp16, up to 128 in fp32 — where it takes two batched matmuls around a softmax), forward alone (target
encoder, planning) and forward + backward (training), for the shapes the benchmark configs attend over.

    python -m benchmarks.attention [--repeats 20] [--threads 1]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks.common import median, pick_device, time_calls
from vjepa.models.blocks import attention

# name -> (batch, heads, queries, keys, head_dim)
SHAPES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny target encoder": (8, 3, 64, 64, 64),
    "small target encoder": (4, 6, 392, 392, 64),
    "small context (10%)": (4, 6, 40, 40, 64),
    "AC rollout step (64 candidates)": (64, 4, 18, 90, 48),
}


def time_kernel(kernel, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, backward: bool,
                repeats: int) -> float:
    """Median milliseconds of one call (with its backward when ``backward``)."""
    batch, heads, queries, keys, dim = shape
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(batch, heads, queries, dim, generator=generator).to(device, dtype)
    k, v = (torch.randn(batch, heads, keys, dim, generator=generator).to(device, dtype) for _ in range(2))
    if backward:
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        grad = torch.randn_like(q)

        def call(_: int) -> None:
            kernel(q, k, v).backward(grad)
    else:
        def call(_: int) -> None:
            with torch.inference_mode():
                kernel(q, k, v)
    return 1e3 * median(time_calls(call, repeats, warmup=3, device=device))


def run(device: torch.device, repeats: int, precisions: list[str]) -> list[dict]:
    sdpa = F.scaled_dot_product_attention
    rows = []
    for name, shape in SHAPES.items():
        for precision in precisions:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            for backward in (False, True):
                row = {"shape": name, "precision": precision, "pass": "fwd+bwd" if backward else "fwd"}
                row["sdpa_ms"] = time_kernel(sdpa, shape, dtype, device, backward, repeats)
                row["toolkit_ms"] = time_kernel(attention, shape, dtype, device, backward, repeats)
                row["speedup"] = row["sdpa_ms"] / row["toolkit_ms"]
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for row in run(pick_device(args.device), args.repeats, ["fp32", "bf16"]):
        print(f"{row['shape']:32s} {row['precision']} {row['pass']:7s} SDPA {row['sdpa_ms']:7.2f} ms, "
              f"toolkit {row['toolkit_ms']:7.2f} ms ({row['speedup']:.2f}x)")


if __name__ == "__main__":
    main()
