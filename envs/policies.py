"""Seeded exploration policies, for data collection and goal generation. A policy is a callable returning the
next action; scripted ones read the env's state (they are data generators, not planners)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from envs.base import env_name

Policy = Callable[[], np.ndarray]
POLICIES = ("random", "random_repeat", "expert", "mixture")


def policy_rng(seed: int) -> np.random.Generator:
    """Generator for a policy driven by ``seed``, independent of the env's own stream seeded with the same seed."""
    return np.random.default_rng([int(seed), 1])


def random_policy(space: gym.Space, rng: np.random.Generator) -> Policy:
    """Independent uniform samples of ``space``."""
    space = copy.deepcopy(space)
    space.seed(int(rng.integers(2**31 - 1)))
    return space.sample


def random_repeat_policy(space: gym.Space, rng: np.random.Generator, max_repeat: int = 5) -> Policy:
    """Uniform random actions, each held for a uniformly random 1..``max_repeat`` steps."""
    sample = random_policy(space, rng)
    action, left = None, 0

    def act() -> np.ndarray:
        nonlocal action, left
        if left == 0:
            action, left = sample(), int(rng.integers(1, max_repeat + 1))
        left -= 1
        return copy.copy(action)

    return act


def switching_policy(policies: Sequence[Policy], rng: np.random.Generator, max_repeat: int = 5) -> Policy:
    """Follow one of ``policies``, drawn uniformly, for 1..``max_repeat`` steps at a time."""
    current, left = 0, 0

    def act() -> np.ndarray:
        nonlocal current, left
        if left == 0:
            current, left = int(rng.integers(len(policies))), int(rng.integers(1, max_repeat + 1))
        left -= 1
        return policies[current]()

    return act


def held_policy(policy: Policy, hold: int) -> Policy:
    """``policy`` queried every ``hold`` steps, its action repeated in between: the data then has the action
    blocks a planner executes with a world model of frame step ``hold``."""
    if hold < 1:
        raise ValueError(f"hold must be >= 1, got {hold}")
    action, step = None, 0

    def act() -> np.ndarray:
        nonlocal action, step
        if step % hold == 0:
            action = policy()
        step += 1
        return copy.copy(action)

    return act


def make_policy(name: str, env: gym.Env, rng: np.random.Generator) -> Policy:
    """Policy ``name`` (one of ``POLICIES``) for ``env``. "expert" is the env's scripted ``expert_policy``
    (e.g. the wall env's door-seeking explorer); "mixture" switches between it and "random_repeat"."""
    if name == "random":
        return random_policy(env.action_space, rng)
    if name == "random_repeat":
        return random_repeat_policy(env.action_space, rng)
    if name in ("expert", "mixture"):
        if not hasattr(env.unwrapped, "expert_policy"):
            raise ValueError(f"policy {name!r} needs an env with expert_policy(rng); {env_name(env)} has none")
        expert = env.unwrapped.expert_policy(rng)
        if name == "expert":
            return expert
        return switching_policy([expert, random_repeat_policy(env.action_space, rng)], rng)
    raise ValueError(f"unknown policy {name!r}; choose from {POLICIES}")
