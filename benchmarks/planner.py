"""Planner overhead: wall time of one CEM plan (300 samples x 30 iterations, horizon 5) on the toy linear world
model, whose rollout costs next to nothing, so what is measured is the planner itself (sampling, projection,
elite selection, refitting).

    python -m benchmarks.planner [--repeats 10]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import median, time_calls
from planning.planners import CEMPlanner
from planning.world_model import LinearToyWorldModel

TARGET_MS = 15.0


def cem_plan_seconds(repeats: int, samples: int = 300, iterations: int = 30, horizon: int = 5) -> list[float]:
    """Wall times of `repeats` plans from one start towards one goal (warm start off: every plan is a full search)."""
    model = LinearToyWorldModel()
    planner = CEMPlanner(model, num_samples=samples, iterations=iterations, horizon=horizon, warm_start=False)
    obs = model.features(torch.tensor([[-0.5, -0.5]]))  # (Tc=1, N, D)
    goal = model.features(torch.tensor([0.5, 0.5]))  # (N, D)
    state = torch.zeros(1, 2)
    return time_calls(lambda _: planner.plan(obs, goal, state), repeats, warmup=2, device=torch.device("cpu"))


def run(repeats: int) -> list[dict]:
    samples, iterations, horizon = 300, 30, 5
    times = cem_plan_seconds(repeats, samples, iterations, horizon)
    ms = median(times) * 1e3
    return [{
        "planner": "cem", "samples": samples, "iterations": iterations, "horizon": horizon,
        "ms_per_plan": ms, "us_per_iteration": ms * 1e3 / iterations, "target_ms": TARGET_MS,
    }]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    for row in run(args.repeats):
        print(row)


if __name__ == "__main__":
    main()
