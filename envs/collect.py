"""`vjepa-collect`: exploration episodes from a toolkit env, in the episode format (``vjepa.data.episodes``;
configs/collect.yaml).

    vjepa-collect env_id=vjepa/Wall-v0 out=data/wall episodes=100 length=50 seed=0
    vjepa-collect out=data/wall videos=true      # also <out>/videos/episode_XXXXXX.mp4, for vjepa-pretrain
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from configs.schema.collect import CollectConfig, collect_config
from envs.policies import held_policy, make_policy, policy_rng
from vjepa.data.decoders import write_video
from vjepa.data.episodes import EpisodeWriter
from vjepa.runtime.errors import user_errors


def collect(cfg: CollectConfig | DictConfig) -> Path:
    """Write ``cfg.episodes`` episodes of ``cfg.length`` frames into ``cfg.out`` and return the dataset root.

    ``cfg.env_id`` must be a toolkit env (Dict observation with pixels and proprio, ``get_state``, an
    ``image_size`` argument). ``states`` are the proprio observations (what a planner sees); each episode also
    stores ``env_state`` (T, D), the full ``get_state()``, for exact resets. ``cfg.policy`` is one of
    ``envs.policies.POLICIES``; "mixture" (door-seeking expert mixed with held random actions) covers both
    rooms of the wall env far better than random actions. ``cfg.hold`` > 1 queries the policy every ``hold`` steps
    and repeats its action in between (aligned with the episode start), the action blocks of a planner over a
    world model of frame step ``hold``. With ``cfg.videos``, each episode's frames are also written as
    ``<out>/videos/episode_XXXXXX.mp4`` (H.264, near-lossless), a folder ``vjepa-pretrain data=video_folder
    data.path=<out>/videos`` reads.
    """
    cfg = collect_config(cfg)
    out_dir = Path(cfg.out)
    env = gym.make(cfg.env_id, image_size=cfg.image_size, max_episode_steps=cfg.length)
    seeds = np.random.default_rng(cfg.seed).integers(2**31 - 1, size=cfg.episodes)
    meta = {"policy": cfg.policy, "seed": cfg.seed, "episode_length": cfg.length, "hold": cfg.hold}
    fps = env.metadata["render_fps"]
    with EpisodeWriter(out_dir, fps, cfg.env_id, overwrite=cfg.overwrite, **meta) as writer:
        for episode_seed in tqdm(seeds.tolist(), desc=f"collect {cfg.env_id}", unit="episode"):
            obs, _ = env.reset(seed=episode_seed)
            act = held_policy(make_policy(cfg.policy, env, policy_rng(episode_seed)), cfg.hold)
            frames, proprio, states, actions = [obs["pixels"]], [obs["proprio"]], [env.unwrapped.get_state()], []
            for _ in range(cfg.length - 1):
                actions.append(act())
                obs, *_ = env.step(actions[-1])
                frames.append(obs["pixels"])
                proprio.append(obs["proprio"])
                states.append(env.unwrapped.get_state())
            actions.append(np.zeros(env.action_space.shape, np.float32))  # padding: no action after the last frame
            file = writer.add(np.stack(frames), np.stack(actions), np.stack(proprio), env_state=np.stack(states))
            if cfg.videos:
                video = out_dir / "videos" / file.with_suffix(".mp4").name
                write_video(video, np.stack(frames), fps, options={"crf": "10"})
    env.close()
    return out_dir


@hydra.main(config_path="pkg://configs", config_name="collect", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    root = collect(cfg)
    print(f"wrote {cfg.episodes} episodes to {root}")


if __name__ == "__main__":
    main()
