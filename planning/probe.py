"""A linear state probe on world-model features, and the goal energy that uses it.

The feature-space energy (`planning.energies.goal_energy`) only "sees" the goal once a prediction overlaps it:
with small frozen-encoder patch features the L1 distance between two images of a small agent is nearly the same
wherever the agent is, unless it is within about a patch of the goal (see `planning.visualize`). A ridge
regression from features to the proprio state, fitted on the world model's own training episodes (frames and
states, both already in the data), turns predicted and goal features into state estimates, whose distance is a
long-range cost:

    energy(rollout, goal) = goal_energy(rollout, goal) + weight * || probe(rollout.features[:, -1]) - probe(goal) ||_2

    vjepa-state-probe world_model=runs/train_ac/latest.pt dataset=data/wall      # -> runs/train_ac/probe.pt
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from tqdm import tqdm

from planning.energies import goal_energy
from planning.interface import Rollout, WorldModel
from vjepa.runtime.command import command
from vjepa.runtime.threads import set_threads


class StateProbe(nn.Module):
    """``state ≈ ((features.flatten() - mean) / std) @ weight + bias``: features (..., N, D) -> states (..., S)."""

    def __init__(self, mean: Tensor, std: Tensor, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        for name, value in (("mean", mean), ("std", std), ("weight", weight), ("bias", bias)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

    @property
    def num_features(self) -> int:
        return self.mean.numel()

    def forward(self, features: Tensor) -> Tensor:
        flat = features.float().flatten(-2)
        if flat.shape[-1] != self.num_features:
            raise ValueError(f"probe expects features with N*D = {self.num_features}, got {tuple(features.shape)}")
        if self.mean.device != flat.device:  # moved once to where the features are, not copied at every call
            self.to(flat.device)
        return ((flat - self.mean) / self.std) @ self.weight + self.bias

    @classmethod
    def fit(cls, features: Tensor, states: Tensor, ridge: float = 1e-2) -> StateProbe:
        """Ridge regression on standardised flattened features (M, N, D) -> states (M, S); the penalty is
        ``ridge * M`` (relative to the standardised features' Gram diagonal, which is M)."""
        x = features.double().flatten(1)
        y = states.double()
        mean, std = x.mean(0), x.std(0)
        std = std.clamp_min(max(float(std.mean()) * 1e-2, 1e-6))  # near-constant features must not blow up
        x = (x - mean) / std
        bias = y.mean(0)
        gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
        weight = torch.linalg.solve(gram, x.T @ (y - bias))
        return cls(mean.float(), std.float(), weight.float(), bias.float())

    def save(self, path: str | Path, **meta: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_probe": {k: v.cpu() for k, v in self.state_dict().items()}, **meta}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> StateProbe:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "state_probe" not in state:
            raise KeyError(f"{path} is not a state probe (vjepa-state-probe writes them)")
        return cls(**state["state_probe"])


@torch.inference_mode()
def encode_frames(world_model: WorldModel, frames: np.ndarray, desc: str, chunk: int = 256) -> Tensor:
    """``world_model.encode`` of uint8 frames (B, H, W, 3), ``chunk`` at a time under a progress bar."""
    out = []
    with tqdm(total=len(frames), desc=desc, unit="frame", dynamic_ncols=True) as bar:
        for start in range(0, len(frames), chunk):
            out.append(world_model.encode(torch.from_numpy(frames[start : start + chunk])))
            bar.update(len(out[-1]))
    return torch.cat(out)


def fit_probe(world_model: WorldModel, data: str | Path, max_frames: int, val_fraction: float = 0.2,
              ridges: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0), seed: int = 0
              ) -> tuple[StateProbe, dict[str, Any]]:
    """Fit a probe on up to ``max_frames`` frames (evenly over the episodes) of a vjepa-episodes dataset, encoded
    by ``world_model.encode``: the ridge penalty with the lowest held-out error (``val_fraction`` of the episodes)
    is refitted on all frames. Returns the probe and ``frames``, ``ridge``, ``val_mae`` (per state dimension)."""
    from vjepa.data.episodes import EpisodeDataset

    episodes = EpisodeDataset(data)
    order = np.random.default_rng(seed).permutation(len(episodes))
    per = max(1, max_frames // max(len(episodes), 1))
    lengths = episodes.lengths
    chosen, total = [], 0  # episodes in random order until max_frames are picked
    for i in order:
        chosen.append(int(i))
        total += min(per, lengths[i])
        if total >= max_frames:
            break
    frames, states = [], []
    for i in tqdm(chosen, desc="state probe: reading episodes", unit="episode", dynamic_ncols=True):
        ep = episodes[i]
        pick = np.linspace(0, len(ep.frames) - 1, min(per, len(ep.frames))).round().astype(int)
        frames.append(ep.frames[pick])
        states.append(ep.states[pick])
    features = encode_frames(world_model, np.concatenate(frames), desc="state probe: encoding frames")
    states = torch.from_numpy(np.concatenate(states)).float()
    n_val = int(len(features) * val_fraction)  # whole episodes: frames come episode by episode
    best = (float("inf"), ridges[0], torch.zeros(states.shape[1]))
    for ridge in ridges if n_val else ridges[:1]:
        probe = StateProbe.fit(features[n_val:], states[n_val:], ridge)
        err = (probe(features[:n_val]) - states[:n_val]).abs().mean(0) if n_val else best[2]
        if float(err.mean()) < best[0]:
            best = (float(err.mean()), ridge, err)
    final = StateProbe.fit(features, states, best[1])
    return final, {"frames": len(features), "ridge": best[1], "val_mae": best[2].tolist()}


@dataclass(frozen=True)
class ProbeEnergy:
    """Feature energy (`goal_energy` with ``feature_energy`` kwargs) plus ``weight`` times the distance between the
    probe's states of the predicted features and of the goal, plus ``state_weight`` times the distance between the
    rollout's own predicted states and the probe's goal state: (rollout, goal (N, D)) -> (K,). Like the feature
    term, the state terms take the last predicted step (``steps="last"``) or the mean over all of them
    (``steps="all"``: reach the goal early and stay there)."""

    probe: StateProbe
    weight: float = 1.0
    state_weight: float = 0.0
    feature_energy: dict[str, Any] = field(default_factory=dict)

    def __call__(self, rollout: Rollout, goal: Tensor) -> Tensor:
        energy = goal_energy(rollout, goal, **self.feature_energy)
        last = self.feature_energy.get("steps", "last") == "last"
        goal_state = self.probe(goal)

        def distance(states: Tensor) -> Tensor:  # (K, H, S) -> (K,)
            d = (states - goal_state).norm(dim=-1)
            return d[:, -1] if last else d.mean(1)

        if self.weight:
            energy = energy + self.weight * distance(self.probe(rollout.features))
        if self.state_weight:
            if rollout.states is None:
                raise ValueError("energy.state_weight needs predicted states; this world model predicts none")
            energy = energy + self.state_weight * distance(rollout.states)
        return energy

    def for_images(self) -> ProbeEnergy:
        """The energy of encoded images rather than rollouts: the state term (predicted states) becomes a probe
        term (the probe's reading of the image)."""
        return replace(self, weight=self.weight + self.state_weight, state_weight=0.0)


@command("state_probe")
def main(cfg: DictConfig) -> None:
    """`vjepa-state-probe`: fit a probe on ``cfg.max_frames`` frames of ``cfg.dataset`` (configs/state_probe.yaml)."""
    from configs.schema.state_probe import check_state_probe
    from planning.cli import load_configured_world_model

    check_state_probe(cfg)
    set_threads(cfg.threads)
    probe, info = fit_probe(load_configured_world_model(cfg), cfg.dataset, cfg.max_frames)
    out = probe.save(cfg.out or Path(cfg.world_model).with_name("probe.pt"), **info)
    print(f"state probe on {info['frames']} frames, held-out MAE per state dim {np.round(info['val_mae'], 4)} -> {out}")


if __name__ == "__main__":
    main()
