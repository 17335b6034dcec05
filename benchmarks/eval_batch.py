"""Evaluation at scale: a 50-episode MPC evaluation planned in batches of B episodes (one vector env, one batched
CEM per step) against one episode at a time, on the toy linear world model, a tiny `JEPAWorldModel` and (``--models
demo``) one of the demo's shapes (random weights: the time does not depend on them), in the two-rooms env
(`planning.cli.make_env`, env=wall at the model's image size) with the demo's CEM settings (configs/demo.yaml), the
batches' candidates rolled out one episode's per call (the default, memory as for one episode) or all in one call
(``planner.candidate_chunk`` = B x samples). Prints seconds per env step: per vector step (all B episodes take one)
and per episode step.

    python -m benchmarks.eval_batch [--episodes 50] [--max-steps 10] [--batch 50] [--threads 2] [--models toy tiny demo]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from omegaconf import OmegaConf

from benchmarks.common import machine_info
from benchmarks.planner import CONFIGS, CPU, demo_world_model
from configs.schema.env import env_config
from configs.schema.planner import CEMConfig
from planning.cli import make_env
from planning.energies import goal_energy
from planning.evaluate import evaluate
from planning.interface import WorldModel
from planning.planners import make_planner
from planning.toy import LinearToyWorldModel
from vjepa.data.ac_dataset import ActionStats
from vjepa.models import ActionConditionedPredictor, VisionTransformer
from vjepa.world_model import JEPAWorldModel

IMAGE_SIZE = 32


def tiny_jepa() -> JEPAWorldModel:
    """A randomly initialised encoder (32-px frames, 2 x 2 tokens of 24 channels, one block) and AC predictor (32
    channels, one block), 2-D actions and states: the Wall env's."""
    torch.manual_seed(0)
    encoder = VisionTransformer(embed_dim=24, depth=1, num_heads=2, patch_size=16, pos_embed="rope")
    predictor = ActionConditionedPredictor(embed_dim=24, predictor_dim=32, depth=1, num_heads=2, action_dim=2,
                                           state_dim=2, grid_hw=(2, 2), max_steps=8)
    stats = ActionStats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), frame_step=1)
    return JEPAWorldModel(encoder, predictor, stats, image_size=IMAGE_SIZE)


MODELS = {
    "toy": lambda: LinearToyWorldModel(image_size=IMAGE_SIZE),
    "tiny": tiny_jepa,
    "demo": lambda: demo_world_model()[0],  # the demo's shapes: vit_tiny at 64 px and its AC predictor
}


def eval_seconds(model: WorldModel, batch: int, chunk: int | None, episodes: int, max_steps: int) -> float:
    """Wall seconds of `evaluate` over ``episodes`` episodes of ``max_steps`` actions, ``batch`` at a time, with
    ``chunk`` candidates per rollout call at most (None: one episode's)."""
    cem = OmegaConf.merge(OmegaConf.structured(CEMConfig), OmegaConf.load(CONFIGS / "demo.yaml").planner_settings.cem,
                          {"candidate_chunk": chunk})
    env = env_config({"name": "wall", "id": "vjepa/Wall-v0", "image_size": model.image_size,
                      "max_steps": max_steps})
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        evaluate(lambda: make_env(env), model, lambda wm: make_planner(cem, wm, goal_energy, -1.0, 1.0, seed=0),
                 episodes=episodes, seed=1000, max_steps=max_steps, out_dir=out, batch_episodes=batch)
        return time.perf_counter() - start


def run(episodes: int, max_steps: int, batch: int, models: list[str]) -> list[dict]:
    """Per world model, one row each for one episode at a time, ``batch`` at a time with one episode's candidates
    per rollout call (the default), and ``batch`` at a time with all their candidates in one call: seconds per
    vector step (every running episode takes one) and per episode step."""
    samples = OmegaConf.load(CONFIGS / "demo.yaml").planner_settings.cem.num_samples
    rows = []
    for name in models:
        model = MODELS[name]().to(CPU)
        for b, chunk in ((1, None), (batch, None), (batch, batch * samples)):
            seconds = eval_seconds(model, b, chunk, episodes, max_steps)
            vector_steps = max_steps * -(-episodes // b)  # each batch takes max_steps vector steps
            rows.append({"model": name, "episodes": episodes, "batch_episodes": b, "candidate_chunk": chunk,
                         "max_steps": max_steps, "s_per_vector_step": seconds / vector_steps,
                         "s_per_episode_step": seconds / (episodes * max_steps), "total_s": seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["toy", "tiny"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_info(CPU))
    for row in run(args.episodes, args.max_steps, args.batch, args.models):
        print(row)


if __name__ == "__main__":
    main()
