"""Pictures of what a planner optimises: energy landscapes of one goal-reaching episode.

    vjepa-landscape world_model=runs/train_ac/latest.pt out=landscape.png seed=0

- `action_landscape`: the planning energy of every constant action held over the whole horizon (a grid over the
  action box of a 1-D or 2-D action space: a curve or an image), next to the true distance to the goal after
  executing it in the env (for envs with a settable state): where the two minima agree, the planner can find the
  goal.
- `position_landscape` (wall env): the encoder-only energy between the goal image and the image of the agent at
  each position of the arena — whether the representation's distance is a useful cost at all (a predicted-state
  term reads the probe's state of the image instead).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from configs.schema.env import EnvConfig, env_config
from planning.cli import (
    BlockWorldModel,
    at_model_size,
    load_configured_world_model,
    make_energy,
    make_env,
    world_model_blocks,
)
from planning.energies import EnergyFn, goal_energy
from planning.interface import Rollout, WorldModel
from planning.probe import ProbeEnergy
from vjepa.runtime.command import command
from vjepa.runtime.threads import set_threads


def _energy_fn(energy: EnergyFn | dict | None, drop_steps: bool = False) -> EnergyFn:
    """An energy function (rollout, goal (N, D)) -> (K,): given, or `goal_energy` with these kwargs."""
    if callable(energy):
        return energy
    kw = {k: v for k, v in (energy or {}).items() if not (drop_steps and k == "steps")}
    return partial(goal_energy, **kw)


def _start(env_cfg: EnvConfig, seed: int) -> tuple[Any, dict, dict]:
    env = make_env(env_cfg)
    obs, info = env.reset(seed=seed)
    return env, obs, info


def _constant_actions(low: np.ndarray, high: np.ndarray, grid: int) -> tuple[np.ndarray, ...]:
    """The grid of constant actions over the box [low, high] of the action space's first one or two dimensions,
    (G, A) or (G*G, A), rows of a 2-D grid being a_y, the other dimensions held at 0 (clipped into the box); and the
    action values along each axis."""
    axes = [np.linspace(lo, hi, grid) for lo, hi in zip(low[:2], high[:2])]
    if len(axes) == 1:
        return axes[0][:, None], axes[0]
    held = np.repeat(np.clip(0.0, low, high)[None], grid * grid, 0)  # (G*G, A)
    held[:, :2] = np.stack(np.meshgrid(*axes), -1).reshape(-1, 2)
    return held, *axes


@torch.inference_mode()
def action_landscape(
    world_model: WorldModel,
    env_cfg: EnvConfig | DictConfig,
    seed: int,
    horizon: int,
    grid: int,
    energy: EnergyFn | dict | None = None,
) -> dict[str, np.ndarray]:
    """Energies of constant actions held for ``horizon`` world-model steps from the start of episode ``seed``:
    (grid,) over ``action_x`` for a 1-D action space, (grid, grid) for more (a_x = columns, a_y = rows: the first two
    action dimensions over [low, high], any others held at 0: a slice, ``held_dims`` of them); with
    ``true_distance`` of the same shape, the env's goal distance after the same actions (NaN where the env has no
    settable state). ``energy``: a planning energy function, or `goal_energy` kwargs."""
    env_cfg = at_model_size(env_config(env_cfg), world_model)
    env, obs, info = _start(env_cfg, seed)
    k, mode = world_model_blocks(world_model)
    model = BlockWorldModel(world_model, k, mode) if k > 1 else world_model
    held, *axes = _constant_actions(env.action_space.low, env.action_space.high, grid)
    shape = (grid,) * len(axes)
    actions = held[:, None].repeat(horizon, 1)  # (G or G*G, H, A)
    feats = model.encode(torch.from_numpy(np.stack([obs["pixels"], info["goal_image"]])))
    state = torch.from_numpy(np.asarray(obs["proprio"], np.float32))[None]
    if mode == "stack":
        raise ValueError("action_landscape supports world models with action_agg 'sum' (held actions) only")
    energy_fn, energies, no_actions = _energy_fn(energy), [], torch.zeros(0, model.action_dim)
    for chunk in torch.from_numpy(actions.astype(np.float32)).split(256):
        energies.append(energy_fn(model.rollout(feats[:1], state, no_actions, chunk), feats[1]))
    result = {"energy": torch.cat(energies).reshape(shape).numpy(), "frame": obs["pixels"],
              "goal_image": info["goal_image"], **dict(zip(("action_x", "action_y"), axes)),
              "held_dims": held.shape[1] - len(axes)}

    unwrapped, true = env.unwrapped, np.full(len(held), np.nan)
    goal_state = getattr(env, "goal_state", None)
    if goal_state is not None and hasattr(unwrapped, "set_state") and hasattr(unwrapped, "state_distance"):
        start = unwrapped.get_state()
        move = getattr(unwrapped, "advance", unwrapped.step)  # the toolkit's envs step without drawing
        for i, a in enumerate(held):
            unwrapped.set_state(start)
            for _ in range(k * horizon):
                move(a.astype(np.float32))
            true[i] = unwrapped.state_distance(unwrapped.get_state(), goal_state)
        unwrapped.set_state(start)
    result["true_distance"] = true.reshape(shape)
    env.close()
    return result


@torch.inference_mode()
def position_landscape(world_model: WorldModel, env_cfg: EnvConfig | DictConfig, seed: int, grid: int,
                       energy: EnergyFn | dict | None = None) -> dict[str, np.ndarray]:
    """Wall env: encoder energy (grid, grid) between the goal image and the image of the agent at each position
    (rows = y from bottom to top, columns = x; NaN where the agent would overlap a wall)."""
    env_cfg = at_model_size(env_config(env_cfg), world_model)
    env, obs, info = _start(env_cfg, seed)
    wall = env.unwrapped
    if not hasattr(wall, "door_y") or not hasattr(wall, "_blocked"):
        raise ValueError(f"position_landscape needs the wall env, got {env_cfg.id}")
    start, goal_state = wall.get_state(), env.goal_state
    xs = np.linspace(wall.agent_radius, 1 - wall.agent_radius, grid)
    frames, free = [], []
    for y in xs:
        for x in xs:
            ok = not wall._blocked(np.array([x, y]))
            free.append(ok)
            if ok:
                wall.set_state(np.array([x, y, wall.door_y]))
                frames.append(wall.render())
    wall.set_state(start)
    goal = world_model.encode(torch.from_numpy(info["goal_image"])[None])[0]
    feats = world_model.encode(torch.from_numpy(np.stack(frames)))
    energy_fn = energy.for_images() if isinstance(energy, ProbeEnergy) else _energy_fn(energy, drop_steps=True)
    values = energy_fn(Rollout(feats[:, None]), goal).numpy()  # each image a one-step rollout
    out = np.full(grid * grid, np.nan)
    out[np.flatnonzero(free)] = values
    env.close()
    return {"energy": out.reshape(grid, grid), "xs": xs, "start": start[:2], "goal": goal_state[:2]}


def _draw_landscape(fig: Any, ax: Any, act: dict[str, np.ndarray], key: str) -> None:
    """``act[key]`` over the constant actions, its minimum starred: a curve over a 1-D action space, an image over
    a 2-D one."""
    values, xs = act[key], act["action_x"]
    finite = np.isfinite(values).any()
    if values.ndim == 1:
        ax.set_xlabel("action")
        ax.set_xlim(xs[0], xs[-1])
        if finite:
            ax.plot(xs, values)
            ax.plot(xs[np.nanargmin(values)], np.nanmin(values), "r*", ms=12)
        else:
            ax.text(0.5, 0.5, "no settable state", transform=ax.transAxes, ha="center")
            ax.set_yticks([])
        return
    ys = act["action_y"]
    ax.set_xlabel("action x" + (" (other dims held at 0)" if act["held_dims"] else ""))
    image = ax.imshow(values, origin="lower", extent=[xs[0], xs[-1], ys[0], ys[-1]], cmap="viridis")
    if finite:
        r, c = np.unravel_index(np.nanargmin(values), values.shape)
        ax.plot(xs[c], ys[r], "r*", ms=12)
    ax.set_ylabel("action y")
    fig.colorbar(image, ax=ax, fraction=0.046)


def landscape_figure(world_model: WorldModel, env_cfg: EnvConfig | DictConfig, seed: int, horizon: int,
                     out: str | Path, grid: int, energy: EnergyFn | dict | None = None) -> Path:
    """One PNG: start and goal images, the action landscape (``grid`` constant actions per action dimension, held
    ``horizon`` steps: model energy and true distance) and, for the wall env, the position landscape of the encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env_cfg = env_config(env_cfg)
    act = action_landscape(world_model, env_cfg, seed, horizon, grid, energy)
    try:
        pos = position_landscape(world_model, env_cfg, seed, 32, energy)
    except ValueError:
        pos = None
    panels = 4 + (pos is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.4))
    axes[0].imshow(act["frame"])
    axes[0].set_title(f"start (episode seed {seed})")
    axes[1].imshow(act["goal_image"])
    axes[1].set_title("goal image")
    for ax, key, title in ((axes[2], "energy", "model energy"), (axes[3], "true_distance", "true distance")):
        _draw_landscape(fig, ax, act, key)
        ax.set_title(f"{title}\n(action held {horizon} steps)")
    if pos is not None:
        ax = axes[4]
        lim = [pos["xs"][0], pos["xs"][-1]] * 2
        image = ax.imshow(pos["energy"], origin="lower", extent=lim, cmap="viridis")
        ax.plot(*pos["start"], "wo", ms=7, label="start")
        ax.plot(*pos["goal"], "r*", ms=12, label="goal")
        ax.set_title("encoder energy vs goal\nby agent position")
        ax.legend(loc="lower right", fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.046)
    for ax in axes[:2]:
        ax.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


@command("landscape")
def main(cfg: DictConfig) -> None:
    """`vjepa-landscape`: the energy landscapes of episode ``cfg.seed`` in ``cfg.out`` (configs/landscape.yaml)."""
    from configs.schema.landscape import check_landscape

    env_cfg = check_landscape(cfg)
    set_threads(cfg.threads)
    model = load_configured_world_model(cfg)
    energy, _ = make_energy(cfg, Path(cfg.world_model))
    path = landscape_figure(model, env_cfg, cfg.seed, cfg.horizon, cfg.out, cfg.grid, energy=energy)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
