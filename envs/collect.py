"""`vjepa-collect`: exploration episodes from any gymnasium env, in the episode format (``vjepa.data.episodes``;
configs/collect.yaml).

    vjepa-collect out=data/wall episodes=100 length=50 seed=0
    vjepa-collect out=data/wall videos=true      # also <out>/videos/episode_XXXXXX.mp4, for vjepa-pretrain
    vjepa-collect env=gym env.id=Pendulum-v1 out=data/pendulum
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from configs.schema.collect import CollectConfig, collect_config
from envs.configured import pixel_env
from envs.policies import held_policy, make_policy, policy_rng
from vjepa.data.decoders import write_video
from vjepa.data.episodes import EpisodeWriter, write_episode
from vjepa.runtime.command import command


def collect(cfg: CollectConfig | DictConfig) -> Path:
    """Write ``cfg.episodes`` episodes of ``cfg.length`` frames (fewer where the env terminates) into ``cfg.out`` and
    return the dataset root.

    Any env of the env group with a 1-D Box action space that renders rgb_array frames: frames are the
    observation's pixels or ``render()`` at ``env.image_size``, ``states`` the proprio (`envs.PixelObservation`:
    the Box observation's entries ``env.proprio_dims``, or a Dict observation's ``proprio``), what a planner sees.
    Envs with ``get_state`` (the toolkit's) also store ``env_state`` (T, D) per episode, for exact resets.
    ``cfg.policy`` is one of ``envs.policies.POLICIES``; "mixture" (the env's expert mixed with held random actions)
    covers both rooms of the wall env far better than random actions. ``cfg.hold`` > 1 queries the policy every
    ``hold`` steps and repeats its action in between (aligned with the episode start), the action blocks of a
    planner over a world model of frame step ``hold``. With ``cfg.videos``, each episode's frames are also written
    as ``<out>/videos/episode_XXXXXX.mp4`` (H.264, near-lossless), a folder ``vjepa-pretrain data=video_folder
    data.path=<out>/videos`` reads. ``cfg.workers`` processes collect and write episodes side by side; each
    episode depends on its seed alone, so the dataset is the same for any number of them.
    """
    cfg = collect_config(cfg)
    out_dir = Path(cfg.out)
    env = pixel_env(cfg.env, max_episode_steps=cfg.length)
    policy = cfg.policy or ("mixture" if hasattr(env.unwrapped, "expert_policy") else "random_repeat")
    fps = env.metadata.get("render_fps") or 10
    seeds = np.random.default_rng(cfg.seed).integers(2**31 - 1, size=cfg.episodes)
    jobs = list(enumerate(seeds.tolist()))  # (episode index, its seed)
    meta = {"policy": policy, "seed": cfg.seed, "episode_length": cfg.length, "hold": cfg.hold}
    with ExitStack() as stack:
        stack.callback(env.close)
        writer = stack.enter_context(EpisodeWriter(out_dir, fps, cfg.env.id, overwrite=cfg.overwrite, **meta))
        if cfg.workers == 1:  # this process collects, in the env it made
            _worker.update(cfg=cfg, policy=policy, fps=fps, env=env)
            stack.callback(_worker.clear)
            written = map(_collect_episode, jobs)
        else:  # spawned: a forked MuJoCo or renderer context is not safe to share
            pool = stack.enter_context(ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn"),
                                                           initializer=_start_worker, initargs=(cfg, policy, fps)))
            written = pool.map(_collect_episode, jobs)  # in order
        for episode in tqdm(written, total=len(jobs), desc=f"collect {cfg.env.id}", unit="episode"):
            writer.record(episode)
    return out_dir


_worker: dict[str, Any] = {}  # this process's env and settings (a worker's: `_start_worker`)


def _start_worker(cfg: CollectConfig, policy: str, fps: float) -> None:
    """Make the env that this worker process collects in."""
    _worker.update(cfg=cfg, policy=policy, fps=fps, env=pixel_env(cfg.env, max_episode_steps=cfg.length))


def _collect_episode(job: tuple[int, int]) -> dict[str, Any]:
    """Collect episode ``index`` from its seed and write it (and its video); returns what `EpisodeWriter.record`
    needs."""
    index, seed = job
    cfg, env = _worker["cfg"], _worker["env"]
    sim = env.unwrapped
    stateful = hasattr(sim, "get_state")
    obs, _ = env.reset(seed=seed)
    act = held_policy(make_policy(_worker["policy"], env, policy_rng(seed)), cfg.hold)
    frames, proprio, actions = [obs["pixels"]], [obs["proprio"]], []
    states = [sim.get_state()] if stateful else []
    for _ in range(cfg.length - 1):
        actions.append(act())
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        frames.append(obs["pixels"])
        proprio.append(obs["proprio"])
        states += [sim.get_state()] if stateful else []
        if terminated or truncated:
            break
    actions.append(np.zeros(env.action_space.shape, np.float32))  # padding: no action after the last frame
    extra = {"env_state": np.stack(states)} if stateful else {}
    written = write_episode(cfg.out, index, np.stack(frames), np.stack(actions), np.stack(proprio), **extra)
    if cfg.videos:
        video = Path(cfg.out) / "videos" / Path(written["file"]).with_suffix(".mp4").name
        write_video(video, np.stack(frames), _worker["fps"], options={"crf": "10"})
    return written


@command("collect")
def main(cfg: DictConfig) -> None:
    root = collect(cfg)
    print(f"wrote {cfg.episodes} episodes to {root}")


if __name__ == "__main__":
    main()
