"""Feature extraction at a released model's size: how long a frozen ViT-L/16 (V-JEPA 2's, 1024 wide, 24 blocks,
16 heads, RoPE) takes to encode one 16-frame 256-px clip (2048 tokens), what `vjepa-extract`, the probes and the
world model's `encode` do per clip with released weights. Random weights (the speed does not depend on them);
fp32 and bf16 autocast, batch 1, under inference mode; FLOPs counted on the meta device.

    python -m benchmarks --only encode
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import autocast, median, time_calls
from vjepa.models import VisionTransformer

FRAMES, SIZE = 16, 256


def vit_large(device: torch.device | str) -> VisionTransformer:
    return VisionTransformer(embed_dim=1024, depth=24, num_heads=16, pos_embed="rope", rope_style="vjepa2").to(device)


def run(device: torch.device, precisions: list[str], ceilings: dict[str, float], repeats: int = 2) -> list[dict]:
    """Rows per precision: s/clip, clips/s, GFLOP/clip, achieved GFLOP/s and its share of that dtype's ceiling."""
    with torch.device("meta"):
        model, clip = vit_large("meta"), torch.empty(1, 3, FRAMES, SIZE, SIZE)
        with FlopCounterMode(display=False) as counter:
            model(clip)
    gflop = counter.get_total_flops() / 1e9
    torch.manual_seed(0)
    model = vit_large(device).eval()
    clip = torch.randn(1, 3, FRAMES, SIZE, SIZE, device=device)
    rows = []
    for precision in precisions:
        def encode(_: int) -> None:
            with torch.inference_mode(), autocast(device, precision):
                model(clip)

        seconds = median(time_calls(encode, repeats, warmup=1, device=device))
        rows.append({
            "model": "ViT-L/16, 16 x 256 px", "precision": precision, "tokens": model.grid(clip)[0] * 256,
            "s_per_clip": seconds, "clips_per_s": 1 / seconds, "gflop_per_clip": gflop, "gflops": gflop / seconds,
            "of_ceiling": gflop / seconds / ceilings[precision],
        })
    return rows
