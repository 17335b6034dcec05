"""One benchmark run: the machine's matmul ceiling, pretraining step throughput (tiny and small configs, fp32 and
bf16), attention kernels, the AC-predictor rollout, CEM planner overhead and video loading, printed as tables beside
the official vjepa2 figures (docs/reference/published.md) and written as CSV + JSON.

    python -m benchmarks                                   # everything, default settings
    python -m benchmarks --quick                           # 3 steps, 5 repeats: a few minutes on 2 CPU cores
    python -m benchmarks --quick --threads 1               # on a machine other processes share (docs/performance.md)
    python -m benchmarks --only pretrain --configs small --precisions fp32 --threads 1
    python -m benchmarks --device cuda --compile           # on a GPU: bf16 + torch.compile

Sections: ceiling (always measured: the model numbers are normalised by it), pretrain, attention, ac, cem, video,
encode (a frozen ViT-L/16 on one 16-frame 256-px clip: feature extraction with released weights).
Results go to ``--out`` (a path without suffix: ``.csv`` and ``.json`` are written; default
benchmarks/results/<timestamp>).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks import ac, attention, ceiling, encode, planner, pretrain_step, video_loading
from benchmarks.common import (
    OFFICIAL_AC_STEPS_PER_S,
    OFFICIAL_CEILING_GFLOPS,
    OFFICIAL_CLIPS_PER_S,
    load_average,
    machine_info,
    pick_device,
)

SECTIONS = ("pretrain", "attention", "ac", "cem", "video", "encode")
RESULTS = Path(__file__).parent / "results"

# (key, header, format) per section
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "ceiling": [("dtype", "dtype", "s"), ("gflops", "GFLOP/s", ".1f")],
    "pretrain": [
        ("config", "config", "s"), ("precision", "precision", "s"), ("s_per_step", "s/step", ".3f"),
        ("cpu_s_per_step", "CPU s/step", ".3f"), ("clips_per_s", "clips/s", ".2f"), ("tokens_per_s", "tokens/s", ".0f"),
        ("gflop_per_step", "GFLOP/step", ".1f"),
        ("gflops", "GFLOP/s", ".1f"), ("of_ceiling", "of ceiling", ".0%"), ("peak_mem_mb", "peak MB", ".0f"),
        ("clips_per_s_per_gflops", "clips/s per GFLOP/s", ".4f"),
        ("official_clips_per_s_per_gflops", "official", ".4f"), ("vs_official", "vs official", ".2f"),
        ("vs_official_range", "(processes)", "s"), ("vs_official_cpu_time", "(CPU time)", ".2f"),
    ],
    "attention": [
        ("shape", "shape", "s"), ("precision", "precision", "s"), ("pass", "pass", "s"), ("sdpa_ms", "SDPA ms", ".2f"),
        ("toolkit_ms", "toolkit ms", ".2f"), ("speedup", "speed-up", ".2f"),
    ],
    "ac": [
        ("path", "path", "s"), ("precision", "precision", "s"), ("s_per_rollout", "s/rollout", ".4f"),
        ("steps_per_s", "steps/s", ".0f"), ("vs_official_raw", "vs official 405", ".2f"),
        ("vs_official", "vs official (normalised)", ".2f"),
    ],
    "cem": [
        ("planner", "planner", "s"), ("model", "world model", "s"), ("precision", "precision", "s"),
        ("samples", "samples", "d"),
        ("iterations", "iterations", "d"), ("horizon", "horizon", "d"), ("ms_per_plan", "ms/plan", ".2f"),
        ("us_per_iteration", "us/iteration", ".0f"),
    ],
    "video": [("backend", "backend", "s"), ("workers", "workers", "d"), ("clips_per_s", "clips/s", ".1f")],
    "encode": [
        ("model", "encoder", "s"), ("precision", "precision", "s"), ("tokens", "tokens", "d"),
        ("s_per_clip", "s/clip", ".2f"), ("gflop_per_clip", "GFLOP/clip", ".0f"), ("gflops", "GFLOP/s", ".1f"),
        ("of_ceiling", "of own-dtype ceiling", ".0%"),
    ],
    "data_wait": [
        ("steps", "steps", "d"), ("data_wait_fraction", "data wait (median)", ".1%"),
        ("data_wait_fraction_max", "data wait (max)", ".1%"), ("clips_per_s", "clips/s", ".1f"),
    ],
    "targets": [("target", "target", "s"), ("measured", "measured", "s"), ("met", "met", "s")],
}

TITLES = {
    "ceiling": "dense matmul ceiling",
    "pretrain": "pretraining step (masks + target enc + context enc + predictor + loss + backward + AdamW + EMA)",
    "attention": "attention: torch's SDPA vs the toolkit's attention (explicit for bf16 on CPU)",
    "ac": "AC predictor rollout, 64 candidates x 4 steps",
    "cem": "CEM planning: overhead (LinearToyWorldModel) and time per action with the demo's world model",
    "video": "video loading (decode + crop + flip + masks), clips/s",
    "encode": "feature extraction at a released size (frozen ViT-L/16, one 16-frame 256-px clip)",
    "data_wait": "data wait in the default pretraining run",
    "targets": "targets",
}


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt) if fmt != "s" else str(value)


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    cells = [[header for _, header, _ in columns]]
    cells += [[_cell(row.get(key), fmt) for key, _, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def targets(results: dict[str, list[dict]]) -> list[dict]:
    """The issue's targets, each measured and judged where its section ran."""
    rows = []

    def add(target: str, measured: str, met: bool) -> None:
        rows.append({"target": target, "measured": measured, "met": "yes" if met else "NO"})

    def ratio(row: dict) -> float:  # with one thread, judged on CPU time: other processes do not count
        return row.get("vs_official_cpu_time") or row["vs_official"]

    def measured(row: dict) -> str:
        cpu = row.get("vs_official_cpu_time")
        return f"{row['vs_official']:.2f}x" + (f" ({cpu:.2f}x CPU time)" if cpu else "") + f", {row['precision']}"

    for name in ("tiny", "small"):
        runs = [r for r in results.get("pretrain", []) if r["config"] == name]
        if runs:
            best = max(runs, key=ratio)
            add(f"{name}: >= 2x official clips/s per GFLOP/s (best precision)", measured(best), ratio(best) >= 2)
        if fp32 := [r for r in runs if r["precision"].startswith("fp32")]:
            best = max(fp32, key=ratio)
            add(f"{name}: fp32 no slower than official (normalised)", measured(best), ratio(best) >= 1)
    if results.get("ac"):
        best = max(results["ac"], key=lambda r: r["steps_per_s"])
        add(f"AC rollout >= {ac.TARGET_SPEEDUP:.0f}x {OFFICIAL_AC_STEPS_PER_S:.0f} steps/s",
            f"{best['steps_per_s']:.0f} steps/s = {best['vs_official']:.2f}x normalised ({best['path']}, "
            f"{best['precision']})",
            best["vs_official"] >= ac.TARGET_SPEEDUP)
    if results.get("cem"):
        toy, demo = results["cem"][:2]  # the overhead, the demo world model in fp32
        add(f"CEM planner overhead <= {planner.TARGET_MS:.0f} ms/plan", f"{toy['ms_per_plan']:.1f} ms",
            toy["ms_per_plan"] <= planner.TARGET_MS)
        seconds = demo["ms_per_plan"] / 1e3
        add(f"CEM with the demo world model <= {planner.TARGET_DEMO_S:.0f} s/action",
            f"{seconds:.2f} s ({demo['samples']} samples x {demo['iterations']} iterations)",
            seconds <= planner.TARGET_DEMO_S)
    if results.get("data_wait"):
        wait = results["data_wait"][0]["data_wait_fraction"]
        add(f"data wait < {video_loading.TARGET_DATA_WAIT:.0%} of step time", f"{wait:.1%}",
            wait < video_loading.TARGET_DATA_WAIT)
    return rows


def write(out: Path, info: dict, settings: dict, results: dict[str, list[dict]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, "settings": settings, "official": {
        "ceiling_gflops": OFFICIAL_CEILING_GFLOPS, "clips_per_s": OFFICIAL_CLIPS_PER_S,
        "ac_steps_per_s": OFFICIAL_AC_STEPS_PER_S}, "results": results}
    out.with_suffix(".json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    rows = [{"section": section, **row} for section, section_rows in results.items() for row in section_rows]
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--configs", default="tiny,small", help="pretraining configs: tiny, small")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="fp32, bf16 (pretraining: bf16 weights + fp32 masters, as the loop; elsewhere autocast), "
                             "bf16-autocast (pretraining only: autocast over fp32 weights)")
    parser.add_argument("--steps", type=int, default=5, help="timed pretraining steps per case (median reported)")
    parser.add_argument("--processes", type=int, default=1,
                        help="fresh processes per pretraining case, interleaved: the median one is reported, the "
                             "spread of all beside it")
    parser.add_argument("--warmup", type=int, default=2, help="untimed pretraining steps first")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats of the matmul, rollout and plan")
    parser.add_argument("--video-clips", type=int, default=256, help="clips read per loader setting")
    parser.add_argument("--pretrain-steps", type=int, default=30, help="steps of the default run for data wait")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true",
                        help="--steps 3 --repeats 5 --video-clips 128 --pretrain-steps 15 (a few minutes on 2 cores)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the encoders and predictor (for CUDA; on CPU it compiles for minutes)")
    parser.add_argument("--out", type=Path, default=None, help="output path without suffix")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.video_clips, args.pretrain_steps = 3, 5, 128, 15
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(args.only) - set(SECTIONS):
        parser.error(f"--only: unknown section(s) {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if unknown := set(args.configs) - set(pretrain_step.CONFIGS):
        parser.error(f"--configs: unknown {sorted(unknown)}; choose from {','.join(pretrain_step.CONFIGS)}")
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if unknown := set(args.precisions) - {"fp32", "bf16", "bf16-autocast"}:
        parser.error(f"--precisions: unknown {sorted(unknown)}; choose from fp32,bf16,bf16-autocast")
    return args


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    info = machine_info(device)
    out = args.out or RESULTS / time.strftime("bench-%Y%m%d-%H%M%S")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    print(f"{info['cpu']}, {info['cores']} cores, {info['threads']} torch threads, torch {info['torch']}, "
          f"device {device}; avx512_bf16: {info['avx512_bf16']}, amx_bf16: {info['amx_bf16']}; "
          f"load average {info['load_average_start']}")
    busy = info["load_average_start"][0]
    if device.type == "cpu" and torch.get_num_threads() > 1 and busy > 0.5:
        print(f"warning: load average {busy} - other processes are running; with {torch.get_num_threads()} threads, "
              "OpenMP barriers wait on descheduled threads and timings can be many times slower (try --threads 1)")
    start = time.perf_counter()
    results: dict[str, list[dict]] = {}
    model_precisions = [p for p in args.precisions if p != "bf16-autocast"]  # the sections without a training step

    def show(section: str) -> None:
        print(f"\n== {TITLES[section]}\n{format_table(results[section], COLUMNS[section])}", flush=True)

    results["ceiling"] = ceiling.run(device, args.repeats)
    show("ceiling")
    ceilings = {row["dtype"]: row["gflops"] for row in results["ceiling"]}
    if "pretrain" in args.only:
        results["pretrain"] = pretrain_step.run(
            args.configs, args.precisions, args.steps, args.warmup, device, args.compile, args.threads, ceilings,
            args.processes,
        )
        show("pretrain")
        print(f"official: tiny {OFFICIAL_CLIPS_PER_S['tiny']} and small {OFFICIAL_CLIPS_PER_S['small']} clips/s "
              f"at a {OFFICIAL_CEILING_GFLOPS} GFLOP/s fp32 ceiling (CPU, 2 threads, fp32)")
    if "attention" in args.only:
        results["attention"] = attention.run(device, args.repeats, model_precisions)
        show("attention")
    if "ac" in args.only:
        results["ac"] = ac.run(device, args.repeats, ceilings)
        show("ac")
    if "cem" in args.only:
        results["cem"] = planner.run(args.repeats, device)
        show("cem")
    if "video" in args.only:
        results["video"], results["data_wait"] = video_loading.run(args.video_clips, args.pretrain_steps, args.threads)
        show("video")
        if results["data_wait"]:
            show("data_wait")
    if "encode" in args.only:
        results["encode"] = encode.run(device, model_precisions, ceilings)
        show("encode")
    results["targets"] = targets(results)
    if results["targets"]:
        show("targets")
    info["load_average_end"] = load_average()
    info["wall_s"] = round(time.perf_counter() - start, 1)
    write(out, info, settings, results)
    print(f"\nload average at the end {info['load_average_end']}; {info['wall_s']} s; "
          f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.json')}")
    return results


if __name__ == "__main__":
    main()
