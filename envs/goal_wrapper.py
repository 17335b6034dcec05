"""Goal-image tasks from any rgb_array env: the goal is the image of the state reached ``goal_steps`` steps of a
seeded exploration policy after the start (the DINO-WM / stable-worldmodel protocol)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from envs.observe import PixelObservation
from envs.policies import make_policy, policy_rng
from envs.scoring import get_score


def _roll(env: gym.Env, policy: Any, steps: int, obs: Any, observe_last: bool) -> Any:
    """``steps`` actions of ``policy`` on the unwrapped ``env``; returns the last observation (``obs`` if none was
    drawn). The toolkit's envs ``advance`` without drawing (they are measured by state), except for the last action
    when ``observe_last``; other envs ``step``."""
    advance = getattr(env, "advance", None)
    for i in range(steps):
        if advance is None or (observe_last and i == steps - 1):
            obs = env.step(policy())[0]
        else:
            advance(policy())
    return obs


class GoalImageWrapper(PixelObservation):
    """`PixelObservation`'s pixels and proprio (``proprio_dims``, ``image_size``), plus a goal image at each reset.

    On ``reset(seed=...)`` the env is reset, then ``goal_steps`` steps of ``goal_policy`` (default: the env's
    ``expert_policy`` if it has one, else "random_repeat"; see ``envs.policies``) seeded from the reset seed
    lead to the goal. With ``start_steps`` > 0 the episode starts mid-rollout, as the peers' starts are states of
    expert episodes: the policy first runs a number of steps drawn from 0..``start_steps`` (seeded), and the goal
    is ``goal_steps`` further steps of the same rollout. Envs with ``get_state``/``set_state`` are rolled out and
    set back to the start; other envs are rolled out from that reset, then reset again with the same seed and
    the start steps replayed (counted by the env's time limit), so they must be deterministic given the seed.
    ``reset()`` without a seed draws one from the last seed given, so a sequence of resets is reproducible.
    ``info["goal_image"]`` (H, W, 3) uint8 comes with every reset; for the toolkit's envs the reward becomes
    ``-state_distance`` to the goal.

    Scoring only — planners must not read them: ``info["goal_distance"]`` (``state_distance`` to the goal
    state if the env has one, else the L2 distance between Box observation vectors: between their entries
    ``score_dims``, or between the named ``score`` of each, ``envs.scoring.SCORES``), ``info["success"]``
    (``goal_distance < success_threshold``, when a threshold is known) and the ``goal_state`` attribute.
    """

    def __init__(
        self,
        env: gym.Env,
        goal_steps: int = 25,
        goal_policy: str | None = None,
        success_threshold: float | None = None,
        proprio_dims: Sequence[int] | None = None,
        score_dims: Sequence[int] | None = None,
        score: str | None = None,
        image_size: int | None = None,
        start_steps: int = 0,
    ) -> None:
        super().__init__(env, proprio_dims, image_size)
        unwrapped = env.unwrapped
        if not self.vector and (score_dims is not None or score is not None):
            raise ValueError(f"{self.name}: proprio_dims, score_dims and score apply to Box vector observations only")
        self._stateful = hasattr(unwrapped, "get_state") and hasattr(unwrapped, "set_state")
        self._measured = self._stateful and hasattr(unwrapped, "state_distance")
        if self._measured and (score_dims is not None or score is not None):
            raise ValueError(f"{self.name} scores states with its own state_distance: drop score_dims and score")
        if score_dims is not None and score is not None:
            raise ValueError(f"{self.name}: give score_dims or score, not both")
        if score is not None:
            self._score_of = get_score(score)
        elif score_dims is not None:
            scored = self.dims(score_dims, "score_dims")
            self._score_of = lambda obs: obs[scored]
        else:
            self._score_of = lambda obs: obs
        self.goal_steps, self.start_steps = goal_steps, start_steps
        self.goal_policy = goal_policy or ("expert" if hasattr(unwrapped, "expert_policy") else "random_repeat")
        if success_threshold is None:
            success_threshold = getattr(unwrapped, "success_threshold", None)
        self.success_threshold = success_threshold
        self.goal_state: np.ndarray | None = None
        self.goal_image: np.ndarray | None = None
        self._goal_obs: Any = None
        self._seeds: np.random.Generator | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or self._seeds is None:
            self._seeds = np.random.default_rng(seed)
        seed = int(self._seeds.integers(2**31 - 1)) if seed is None else seed
        obs, info = self.env.reset(seed=seed, options=options)
        policy = make_policy(self.goal_policy, self.env, policy_rng(seed))
        lead = int(np.random.default_rng([seed, 2]).integers(self.start_steps + 1))  # steps before the start
        if self._stateful:
            env = self.env.unwrapped  # stepped directly: the goal rollout does not count against time limits
            obs = _roll(env, policy, lead, obs, observe_last=True)  # the start is observed
            start = env.get_state()
            self._goal_obs = _roll(env, policy, self.goal_steps, obs, observe_last=False)
            self.goal_state, self.goal_image = env.get_state(), self.frame()
            env.set_state(start)
            if hasattr(env, "set_goal"):
                env.set_goal(self.goal_state)
        else:
            self._goal_obs, taken = obs, 0
            for taken in range(1, lead + self.goal_steps + 1):
                self._goal_obs, _, terminated, truncated, _ = self.env.step(policy())
                if terminated or truncated:  # the goal is where the rollout ended
                    break
            self.goal_image = self.frame()
            obs, info = self.env.reset(seed=seed, options=options)
            policy = make_policy(self.goal_policy, self.env, policy_rng(seed))  # the same rollout to the start
            for _ in range(min(lead, taken)):  # not past an end the rollout met
                obs = self.env.step(policy())[0]
        return self.observe(obs), {**info, "goal_image": self.goal_image.copy(), **self._score(obs)}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observe(obs), reward, terminated, truncated, {**info, **self._score(obs)}

    def _score(self, obs: Any) -> dict[str, Any]:
        """``goal_distance`` and ``success`` of the current state (scoring only)."""
        if self._measured:
            distance = self.env.unwrapped.state_distance(self.env.unwrapped.get_state(), self.goal_state)
        elif self.vector:
            gap = self._score_of(np.asarray(obs, np.float64)) - self._score_of(np.asarray(self._goal_obs, np.float64))
            distance = float(np.linalg.norm(gap))
        else:
            return {}
        score: dict[str, Any] = {"goal_distance": distance}
        if self.success_threshold is not None:
            score["success"] = bool(distance < self.success_threshold)
        return score
