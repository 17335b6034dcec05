"""Predicted steps per second of an AC-predictor rollout, as a planner calls it: 64 candidate action sequences
x 4 steps from 1 context frame, the config of docs/reference/published.md (D = 192 encoder features, predictor
192 wide, depth 6, 4 heads, 16 tokens per frame, 7-D action and state). KV cache vs full recompute (the official
code's way), fp32 vs bf16 autocast, 2 threads; median of several runs after warm-up.

    python -m benchmarks.ac_rollout [--candidates 64] [--horizon 4] [--context 1] [--repeats 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from vjepa.models.ac_predictor import ActionConditionedPredictor

OFFICIAL_STEPS_PER_S = 405.0  # official vjepa2 code on these machines (docs/reference/published.md), fp32, recompute


def time_once(
    model: ActionConditionedPredictor, inputs: tuple[torch.Tensor, ...], use_cache: bool, bf16: bool
) -> float:
    """Wall time (s) of one rollout call."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        start = time.perf_counter()
        model.rollout(*inputs, use_cache=use_cache)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--context", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ActionConditionedPredictor(embed_dim=192, grid_hw=(4, 4)).eval()
    tc, k, h = args.context, args.candidates, args.horizon
    inputs = (
        torch.randn(tc, model.tokens_per_frame, model.embed_dim),  # context_features
        torch.randn(tc, model.state_dim),  # context_states
        torch.randn(k, h, model.action_dim),  # actions
        torch.randn(tc - 1, model.action_dim),  # context_actions
    )
    variants = [(use_cache, bf16) for use_cache in (True, False) for bf16 in (False, True)]
    times: dict[tuple[bool, bool], list[float]] = {v: [] for v in variants}
    for round_ in range(args.repeats + 2):  # variants interleaved, so that load from elsewhere hits all alike
        for variant in variants:
            seconds = time_once(model, inputs, *variant)
            if round_ >= 2:  # the first two rounds warm up
                times[variant].append(seconds)

    steps = k * h
    print(f"AC rollout: {k} candidates x {h} steps, {tc} context frame(s), {torch.get_num_threads()} threads")
    print(f"{'path':<10} {'dtype':<6} {'s/rollout':>10} {'steps/s':>9} {'vs official':>12}")
    median = {variant: statistics.median(samples) for variant, samples in times.items()}
    for (use_cache, bf16), seconds in median.items():
        print(
            f"{'kv-cache' if use_cache else 'recompute':<10} {'bf16' if bf16 else 'fp32':<6} {seconds:>10.4f} "
            f"{steps / seconds:>9.0f} {steps / seconds / OFFICIAL_STEPS_PER_S:>11.2f}x"
        )
    speedups = ", ".join(
        f"{'bf16' if bf16 else 'fp32'} {median[False, bf16] / median[True, bf16]:.2f}x" for bf16 in (False, True)
    )
    print(f"KV cache over recompute, same run: {speedups}")


if __name__ == "__main__":
    main()
