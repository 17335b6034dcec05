"""Collect exploration episodes from a toolkit env into the episode format (``vjepa.data.episodes``).

    python -m envs.collect --env vjepa/Wall-v0 --out data/wall --episodes 100 --length 50 --seed 0
    python -m envs.collect --out data/wall --videos      # also <out>/videos/episode_XXXXXX.mp4, for vjepa-pretrain
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from envs.policies import POLICIES, held_policy, make_policy, policy_rng
from vjepa.data.decoders import write_video
from vjepa.data.episodes import EpisodeWriter
from vjepa.runtime.errors import user_errors


def collect(
    env_id: str,
    out_dir: str | Path,
    num_episodes: int,
    episode_length: int,
    policy: str = "random_repeat",
    seed: int = 0,
    image_size: int = 64,
    overwrite: bool = False,
    videos: bool = False,
    hold: int = 1,
) -> Path:
    """Write ``num_episodes`` episodes of ``episode_length`` frames and return the dataset root.

    ``env_id`` must be a toolkit env (Dict observation with pixels and proprio, ``get_state``, an
    ``image_size`` argument). ``states`` are the proprio observations (what a planner sees); each episode also
    stores ``env_state`` (T, D), the full ``get_state()``, for exact resets. ``policy`` is one of
    ``envs.policies.POLICIES``; "mixture" (door-seeking expert mixed with held random actions) covers both
    rooms of the wall env far better than random actions. ``hold`` > 1 queries the policy every ``hold`` steps
    and repeats its action in between (aligned with the episode start), the action blocks of a planner over a
    world model of frame step ``hold``. With ``videos``, each episode's frames are also
    written as ``<out_dir>/videos/episode_XXXXXX.mp4`` (H.264, near-lossless), a folder ``vjepa-pretrain
    data=video_folder data.path=<out_dir>/videos`` reads.
    """
    if hold < 1:
        raise ValueError(f"hold must be >= 1 env step, got {hold}")
    env = gym.make(env_id, image_size=image_size, max_episode_steps=episode_length)
    seeds = np.random.default_rng(seed).integers(2**31 - 1, size=num_episodes)
    meta = {"policy": policy, "seed": seed, "episode_length": episode_length, "hold": hold}
    with EpisodeWriter(out_dir, env.metadata["render_fps"], env_id, overwrite=overwrite, **meta) as writer:
        for episode_seed in tqdm(seeds.tolist(), desc=f"collect {env_id}", unit="episode"):
            obs, _ = env.reset(seed=episode_seed)
            act = held_policy(make_policy(policy, env, policy_rng(episode_seed)), hold)
            frames, proprio, states, actions = [obs["pixels"]], [obs["proprio"]], [env.unwrapped.get_state()], []
            for _ in range(episode_length - 1):
                actions.append(act())
                obs, *_ = env.step(actions[-1])
                frames.append(obs["pixels"])
                proprio.append(obs["proprio"])
                states.append(env.unwrapped.get_state())
            actions.append(np.zeros(env.action_space.shape, np.float32))  # padding: no action after the last frame
            file = writer.add(np.stack(frames), np.stack(actions), np.stack(proprio), env_state=np.stack(states))
            if videos:
                video = Path(out_dir) / "videos" / file.with_suffix(".mp4").name
                write_video(video, np.stack(frames), env.metadata["render_fps"], options={"crf": "10"})
    env.close()
    return Path(out_dir)


@user_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="vjepa/Wall-v0", help="registered env id")
    parser.add_argument("--out", required=True, type=Path, help="dataset root to create")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--length", type=int, default=50, help="frames per episode")
    parser.add_argument("--policy", default="random_repeat", choices=POLICIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    parser.add_argument("--videos", action="store_true", help="also write <out>/videos/episode_XXXXXX.mp4")
    parser.add_argument("--hold", type=int, default=1, help="query the policy every HOLD steps, repeat in between")
    args = parser.parse_args(argv)
    root = collect(
        args.env, args.out, args.episodes, args.length, args.policy, args.seed, args.image_size, args.overwrite,
        args.videos, args.hold,
    )
    print(f"wrote {args.episodes} episodes to {root}")


if __name__ == "__main__":
    main()
