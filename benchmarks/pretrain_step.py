"""Throughput of one full V-JEPA pretraining step, as the loop runs it: draw the masks (V-JEPA preset, 8 x 0.15 +
2 x 0.7), target encoder on the full clip, context encoder + predictor per mask group, L1 loss, backward, gradient
clipping, AdamW, EMA update of the target encoder. The real `JEPA` module and `MultiBlockMasker`.

Each (config, precision) case runs in a fresh process, so its peak memory is its own: on CPU the rise of the
process's peak RSS over its RSS before the first step (activations, gradients, optimiser state); on CUDA
`max_memory_allocated`. FLOPs come from `FlopCounterMode` over forward + backward of the very masks the timed steps
used, counted on the meta device (exact, no arithmetic done).

    python -m benchmarks.pretrain_step [--configs tiny,small] [--precisions fp32,bf16,bf16-autocast] [--steps 5]
        [--processes 3 | --paired ROUNDS]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
from dataclasses import dataclass
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (
    OFFICIAL_CEILING_GFLOPS,
    OFFICIAL_CLIPS_PER_S,
    autocast,
    median,
    pick_device,
    time_calls,
    vs_official,
)
from vjepa.masks import vjepa_masks
from vjepa.models import MaskPredictor, VisionTransformer
from vjepa.train import jepa as jepa_module
from vjepa.train.jepa import JEPA
from vjepa.train.loop import adamw, compile_modules, param_groups
from vjepa.train.precision import Weights, training_weights


@dataclass(frozen=True)
class PretrainConfig:
    """An encoder/predictor pair and the batch it trains on (docs/reference/published.md, "Performance anchors")."""

    embed_dim: int
    depth: int
    num_heads: int
    predictor_dim: int
    predictor_depth: int
    batch_size: int
    frames: int
    size: int
    predictor_heads: int
    patch_size: int = 16
    tubelet_size: int = 2

    @property
    def tokens(self) -> int:
        return (self.frames // self.tubelet_size) * (self.size // self.patch_size) ** 2


CONFIGS: dict[str, PretrainConfig] = {  # configs/model/vit_tiny.yaml and vit_small.yaml, RoPE
    "tiny": PretrainConfig(embed_dim=192, depth=6, num_heads=3, predictor_dim=96, predictor_depth=2, predictor_heads=3,
                           batch_size=8, frames=8, size=64),
    "small": PretrainConfig(embed_dim=384, depth=12, num_heads=6, predictor_dim=192, predictor_depth=4,
                            predictor_heads=6, batch_size=4, frames=16, size=112),
}


def build_jepa(cfg: PretrainConfig, grad_checkpointing: bool = False) -> JEPA:
    encoder = VisionTransformer(
        patch_size=cfg.patch_size, tubelet_size=cfg.tubelet_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, pos_embed="rope", grad_checkpointing=grad_checkpointing,
    )
    predictor = MaskPredictor(
        embed_dim=cfg.embed_dim, predictor_dim=cfg.predictor_dim, depth=cfg.predictor_depth,
        num_heads=cfg.predictor_heads, pos_embed="rope", grad_checkpointing=grad_checkpointing,
    )
    return JEPA(encoder, predictor, objective="jepa", loss="l1")


def optimizer_for(jepa: JEPA, weights: Weights) -> torch.optim.Optimizer:
    """AdamW as in the loop: its groups (weight decay on matrices only) of what ``weights`` trains, its kernel
    choice (fused where torch has one)."""
    groups = [{**group, "weight_decay": 0.04 * group["wd_scale"]} for group in param_groups(jepa)]
    return adamw(weights.groups(groups), lr=1e-4)


def mask_seed(step: int) -> int:
    return 1_000 + step


class PretrainStep:
    """One training step on a fixed random batch; the masks of step i come from a generator seeded with i.

    ``precision``: fp32; bf16 (as the loop runs it by default: bf16 weights, fp32 masters, `MasterWeights`); or
    bf16-autocast (bf16 autocast over fp32 weights, the loop's ``master_weights=false``)."""

    def __init__(self, cfg: PretrainConfig, device: torch.device, precision: str, compile: bool = False):
        torch.manual_seed(0)
        self.cfg, self.device, self.precision = cfg, device, precision
        self.jepa = build_jepa(cfg).to(device)
        self.weights = training_weights(self.jepa, precision.removesuffix("-autocast"), precision == "bf16", device)
        if compile:
            compile_modules((self.jepa.encoder, self.jepa.target_encoder, self.jepa.predictor))
        self.optimizer = optimizer_for(self.jepa, self.weights)
        self.clips = torch.randn(cfg.batch_size, 3, cfg.frames, cfg.size, cfg.size, device=device)
        self.masker = vjepa_masks(self.jepa.encoder.grid(self.clips))

    def masks(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(mask_seed(step))
        return [(c.to(self.device), t.to(self.device)) for c, t in self.masker(self.cfg.batch_size, generator)]

    def __call__(self, step: int) -> float:
        masks = self.masks(step)
        with autocast(self.device, self.precision):
            loss, _ = self.jepa(self.clips, masks)
        loss.backward()
        self.weights.collect_grads()
        self.weights.clip_grad_norm_(1.0)
        self.optimizer.step()
        self.weights.zero_grad()
        self.weights.ema_update(self.jepa.target_encoder, self.jepa.encoder, 0.998)
        self.weights.sync()
        return loss.item()


def step_flops(cfg: PretrainConfig, steps: range, device: torch.device) -> list[int]:
    """FLOPs of forward + backward for the masks of each step, counted on the meta device for the code path that
    ``device`` takes (whether mask groups' contexts are packed into one pass)."""
    with torch.device("meta"):
        jepa = build_jepa(cfg)
        clips = torch.empty(cfg.batch_size, 3, cfg.frames, cfg.size, cfg.size)
    masker = vjepa_masks(jepa.encoder.grid(clips))
    decide = jepa_module.pack_contexts
    counts = []
    with mock.patch.object(jepa_module, "pack_contexts", lambda lengths, dim, _: decide(lengths, dim, device)):
        for step in steps:
            masks = masker(cfg.batch_size, torch.Generator().manual_seed(mask_seed(step)))
            masks = [(c.to("meta"), t.to("meta")) for c, t in masks]
            with FlopCounterMode(display=False) as counter:
                loss, _ = jepa(clips, masks)
                loss.backward()
            counts.append(counter.get_total_flops())
    return counts


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_case(
    name: str, precision: str, steps: int, warmup: int, device: str, compile: bool, threads: int | None
) -> dict:
    """Time one (config, precision) case in this process; returns one result row."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = CONFIGS[name]
    step = PretrainStep(cfg, dev, precision, compile)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _rss_bytes()
    cpu_times: list[float] = []
    times = time_calls(step, steps, warmup, dev, cpu_times)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    flops = step_flops(cfg, range(warmup, warmup + steps), dev)
    seconds = median(times)
    gflop = sum(flops) / len(flops) / 1e9
    return {
        "config": name,
        "precision": precision + ("+compile" if compile else ""),
        "s_per_step": seconds,
        "cpu_s_per_step": median(cpu_times),
        "clips_per_s": cfg.batch_size / seconds,
        "tokens_per_s": cfg.batch_size * cfg.tokens / seconds,
        "gflop_per_step": gflop,
        "gflops": gflop / seconds,
        "peak_mem_mb": peak / 2**20,
        "step_times": [round(t, 4) for t in times],
        "threads": torch.get_num_threads(),
    }


def run_isolated(*args) -> dict:
    """`run_case` in a fresh (spawned) process, so that its peak memory is not anybody else's."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_case, *args).result()


def add_ratios(row: dict, ceilings: dict[str, float]) -> dict:
    """Achieved GFLOP/s as a fraction of the own-dtype matmul ceiling; clips/s per GFLOP/s of fp32 matmul, beside
    the official figure normalised the same way."""
    dtype = "bf16" if row["precision"].startswith("bf16") else "fp32"
    row["of_ceiling"] = row["gflops"] / ceilings[dtype]
    row["clips_per_s_per_gflops"] = row["clips_per_s"] / ceilings["fp32"]
    official = OFFICIAL_CLIPS_PER_S[row["config"]]
    row["official_clips_per_s_per_gflops"] = official / OFFICIAL_CEILING_GFLOPS
    row["vs_official"] = vs_official(row["clips_per_s"], official, ceilings["fp32"])
    # With one thread, CPU time is the step time on a quiet machine: the same ratio, immune to other processes.
    if row["threads"] == 1 and row["cpu_s_per_step"] > 0:
        batch = CONFIGS[row["config"]].batch_size
        row["vs_official_cpu_time"] = vs_official(batch / row["cpu_s_per_step"], official, ceilings["fp32"])
    return row


def combine_runs(runs: list[dict]) -> dict:
    """Rows of one case from several processes -> the row of the median-s/step process, with every process's
    s/step (``process_s_per_step``) and their spread as ``vs_official_range`` (slowest - fastest) once ratios are
    added: on a shared VM one process's timing is one draw of its neighbours' load."""
    ordered = sorted(runs, key=lambda r: r["s_per_step"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["process_s_per_step"] = [r["s_per_step"] for r in runs]
    return row


def run(configs, precisions, steps, warmup, device: torch.device, compile: bool, threads, ceilings,
        processes: int = 1) -> list[dict]:
    """Every (config, precision) case in ``processes`` fresh processes, interleaved (all cases once, then again),
    so that drifts of the machine's speed spread over the cases; one row per case (`combine_runs`)."""
    cases = [(name, precision) for name in configs for precision in precisions]
    runs: dict[tuple[str, str], list[dict]] = {case: [] for case in cases}
    for _ in range(processes):
        for name, precision in cases:
            runs[(name, precision)].append(run_isolated(name, precision, steps, warmup, str(device), compile, threads))
    rows = []
    for case in cases:
        row = add_ratios(combine_runs(runs[case]), ceilings)
        batch, official = CONFIGS[row["config"]].batch_size, OFFICIAL_CLIPS_PER_S[row["config"]]
        ratios = [vs_official(batch / t, official, ceilings["fp32"]) for t in row["process_s_per_step"]]
        row["vs_official_range"] = f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
        rows.append(row)
    return rows


def paired(name: str, precisions: list[str], rounds: int, block: int, device: torch.device) -> dict[str, float]:
    """Median s/step of each precision, all built in this one process and run in turn, ``block`` steps each,
    ``rounds`` times (the order reversed every other round): on a VM whose speed drifts from one process to the
    next, the way to see a difference of a few percent. Returns {precision: s/step}."""
    steps = {precision: PretrainStep(CONFIGS[name], device, precision) for precision in precisions}
    for step in steps.values():
        time_calls(step, 1, 5, device)  # warm-up
    times: dict[str, list[float]] = {precision: [] for precision in precisions}
    for r in range(rounds):
        for precision in precisions if r % 2 == 0 else precisions[::-1]:
            first = 100 + r * block
            times[precision].append(sum(time_calls(lambda i: steps[precision](first + i), block, 0, device)) / block)
    return {precision: median(values) for precision, values in times.items()}


def main() -> None:
    from benchmarks.ceiling import matmul_ceiling

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny,small")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--processes", type=int, default=1, help="fresh processes per case (median reported)")
    parser.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                        help="compare the precisions in one process instead, taking turns for ROUNDS rounds of --steps")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.paired:
        precisions = args.precisions.split(",")
        for name in args.configs.split(","):
            medians = paired(name, precisions, args.paired, args.steps, device)
            reference = precisions[-1]
            for precision, seconds in medians.items():
                print(f"{name} {precision}: {seconds:.4f} s/step, x{seconds / medians[reference]:.3f} of {reference}")
        return
    ceilings = {"fp32": matmul_ceiling(torch.float32, device), "bf16": matmul_ceiling(torch.bfloat16, device)}
    for row in run(args.configs.split(","), args.precisions.split(","), args.steps, args.warmup, device,
                   args.compile, args.threads, ceilings, args.processes):
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


if __name__ == "__main__":
    main()
