"""The AC-predictor rollout section of `python -m benchmarks`: 64 candidates x 4 steps, KV cache vs recompute,
fp32 vs bf16, each call timed by `benchmarks.ac_rollout.time_once` (on CUDA, the same with synchronisation), the
four variants interleaved round by round as `benchmarks.ac_rollout` does, so that load from elsewhere hits all
alike; median of `repeats` rounds after two warm-up rounds."""

from __future__ import annotations

import time

import torch

from benchmarks.ac_rollout import time_once
from benchmarks.common import OFFICIAL_AC_STEPS_PER_S, autocast, median, synchronize, vs_official
from vjepa.models.ac_predictor import ActionConditionedPredictor

TARGET_SPEEDUP = 3.0


def rollout_inputs(model: ActionConditionedPredictor, candidates: int, horizon: int, context: int, device) -> tuple:
    """The rollout of docs/reference/published.md: `context` frames of features and states, `candidates` x
    `horizon` actions."""
    return (
        torch.randn(context, model.tokens_per_frame, model.embed_dim, device=device),  # context_features
        torch.randn(context, model.state_dim, device=device),  # context_states
        torch.randn(candidates, horizon, model.action_dim, device=device),  # actions
        torch.randn(context - 1, model.action_dim, device=device),  # context_actions
    )


def _time_once_cuda(model, inputs, use_cache: bool, bf16: bool, device: torch.device) -> float:
    with torch.inference_mode(), autocast(device, "bf16" if bf16 else "fp32"):
        synchronize(device)
        start = time.perf_counter()
        model.rollout(*inputs, use_cache=use_cache)
        synchronize(device)
        return time.perf_counter() - start


def run(
    device: torch.device, repeats: int, ceilings: dict[str, float], candidates: int = 64, horizon: int = 4,
    context: int = 1,
) -> list[dict]:
    """Rows per (path, precision); ``vs_official`` is normalised by the fp32 matmul ceiling like the pretraining
    rows: (steps/s / our ceiling) / (405 / 164.5 GFLOP/s), ``vs_official_raw`` the plain ratio of steps/s."""
    torch.manual_seed(0)
    model = ActionConditionedPredictor(embed_dim=192, grid_hw=(4, 4)).eval().to(device)
    inputs = rollout_inputs(model, candidates, horizon, context, device)
    variants = [(use_cache, bf16) for use_cache in (True, False) for bf16 in (False, True)]
    times: dict[tuple[bool, bool], list[float]] = {variant: [] for variant in variants}
    for round_ in range(repeats + 2):
        for use_cache, bf16 in variants:
            if device.type == "cuda":
                seconds = _time_once_cuda(model, inputs, use_cache, bf16, device)
            else:
                seconds = time_once(model, inputs, use_cache, bf16)
            if round_ >= 2:
                times[use_cache, bf16].append(seconds)
    steps = candidates * horizon
    rows = []
    for (use_cache, bf16), samples in times.items():
        seconds = median(samples)
        rows.append({
            "path": "kv-cache" if use_cache else "recompute",
            "precision": "bf16" if bf16 else "fp32",
            "candidates": candidates,
            "horizon": horizon,
            "s_per_rollout": seconds,
            "steps_per_s": steps / seconds,
            "vs_official": vs_official(steps / seconds, OFFICIAL_AC_STEPS_PER_S, ceilings["fp32"]),
            "vs_official_raw": steps / seconds / OFFICIAL_AC_STEPS_PER_S,
        })
    return rows
