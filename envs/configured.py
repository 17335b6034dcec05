"""The envs of an env config (configs/env/<name>.yaml, `configs.schema.env.EnvConfig`), its faults one-line
`ConfigError`s naming the key at fault."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gymnasium import Env, spaces

from configs.schema.env import EnvConfig
from envs import GoalImageWrapper, PixelObservation, make_goal_env, make_pixel_env
from vjepa.runtime.errors import ConfigError


@contextmanager
def _named_faults(env: EnvConfig) -> Iterator[None]:
    """Keyword arguments the env does not take (TypeError) name ``env.kwargs``; what the wrappers refuse
    (ValueError: dims out of range, dims on a Dict observation, a score on an env that measures its own) ``env``."""
    try:
        yield
    except TypeError as e:
        raise ConfigError(f"{env.kwargs} are not accepted by {env.id}: {e}", "env.kwargs",
                          "drop or rename the keys it does not take") from e
    except ValueError as e:
        raise ConfigError(str(e), "env", "fix env.kwargs / proprio_dims / score_dims / score for this env") from e


def _box_actions(made: Env, env: EnvConfig) -> Env:
    """``made``, if its actions are 1-D Box vectors (what episodes store and planners search)."""
    space = made.action_space
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        made.close()
        raise ConfigError(f"world models need a 1-D Box action space, {env.id} has {space}", "env.id",
                          "choose an env with continuous actions")
    return made


def pixel_env(env: EnvConfig, **make: Any) -> PixelObservation:
    """The env observed as pixels (at ``env.image_size``) and proprio (``env.proprio_dims``): what is collected.
    ``make``: gym.make's own keywords (``max_episode_steps``)."""
    with _named_faults(env):
        made = make_pixel_env(env.id, env.image_size, env.proprio_dims, **make, **env.kwargs)
    return _box_actions(made, env)


def goal_env(env: EnvConfig) -> GoalImageWrapper:
    """The env's goal-image task (`envs.GoalImageWrapper`): what is planned in."""
    with _named_faults(env):
        made = make_goal_env(env.id, env.goal_steps, env.goal_policy, env.image_size, env.success_threshold,
                             env.proprio_dims, env.score_dims, env.score, env.start_steps, **env.kwargs)
    return _box_actions(made, env)
