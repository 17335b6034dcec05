"""Data for action-conditioned world models (V-JEPA 2-AC style): windows of frames + actions + states.

- `open_episodes(path)`: the project's own episode format or a LeRobot dataset, by what is on disk.
- `ClipWindows`: every window of ``num_frames`` steps, ``frame_step`` apart, of every episode; the actions between
  two kept frames are summed (``"sum"``: deltas compose) or concatenated (``"stack"``), or replaced by the change
  of the end-effector pose between the two kept frames (``"pose_delta"``: V-JEPA 2-AC's actions, from 7-D states
  [x, y, z, roll, pitch, yaw, gripper]; the logged actions are not used). Frames come either decoded (uint8) or as
  cached encoder features (`vjepa.data.feature_cache.FeatureCache`), so a frozen encoder runs once per frame,
  not per epoch.
- `ActionStats`: mean / std of the (aggregated) actions and of the states, saved with the checkpoint.

Time convention (as in `vjepa.data.episodes`): ``actions[t]`` is applied after observing ``frames[t]``; the last
action of an episode is padding. Window step ``k`` (kept frame ``s + k * frame_step``) carries the actions
``actions[s + k*frame_step : s + (k+1)*frame_step]``; past the end of the episode they are zeros, so only the
window's last step can hold padding.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vjepa.data.episodes import EpisodeDataset
from vjepa.data.lerobot import LeRobotEpisodes
from vjepa.models.pose import pose_delta
from vjepa.runtime.errors import DataError, MissingFileError

if TYPE_CHECKING:
    from vjepa.data.feature_cache import FeatureCache

ActionAgg = Literal["sum", "stack", "pose_delta"]
ACTION_AGGS = ("sum", "stack", "pose_delta")
POSE_DIM = 7  # [x, y, z, roll, pitch, yaw, gripper]


# ------------------------------------------------------------------------------------------------ opening
def open_episodes(path: str | Path, **kw: Any) -> Any:
    """``EpisodeDataset`` for a project episode directory (``meta.json`` with format ``vjepa-episodes``), or
    ``LeRobotEpisodes`` for a LeRobot dataset (``meta/info.json``); keyword arguments go to that class."""
    path = Path(path)
    if not path.is_dir():
        raise MissingFileError(f"{path}: no such directory (expected a vjepa-episodes or LeRobot dataset)")
    own = path / "meta.json"
    if own.is_file():
        try:
            fmt = json.loads(own.read_text()).get("format")
        except (json.JSONDecodeError, AttributeError) as e:
            raise DataError(f"{own}: not a JSON object ({e})") from e
        if fmt == "vjepa-episodes":
            return EpisodeDataset(path, **kw)
        if not (path / "meta" / "info.json").is_file():
            raise DataError(f"{own}: format {fmt!r} is not 'vjepa-episodes'")
    if (path / "meta" / "info.json").is_file():
        return LeRobotEpisodes(path, **kw)
    raise DataError(
        f"{path}: neither a vjepa-episodes dataset (meta.json with format 'vjepa-episodes') "
        f"nor a LeRobot dataset (meta/info.json)"
    )


# ------------------------------------------------------------------------------------------------ helpers
def episode_name(episodes: Any, i: int, meta: Mapping[str, Any] | None = None) -> str:
    """'episode 3' plus whatever identifies it on disk."""
    extra = []
    meta = meta or {}
    if "episode_index" in meta and meta["episode_index"] != i:
        extra.append(f"episode_index {meta['episode_index']}")
    for key in ("path", "data", "file"):
        if meta.get(key):
            extra.append(str(meta[key]))
            break
    else:
        root = getattr(episodes, "root", None)
        if root is not None:
            extra.append(f"of {root}")
    return f"episode {i}" + (f" ({', '.join(extra)})" if extra else "")


def _check_lengths(episodes: Any, i: int, n_frames: int, actions: np.ndarray, states: np.ndarray,
                   meta: Mapping[str, Any] | None = None) -> None:
    if len(actions) != n_frames or len(states) != n_frames:
        raise ValueError(
            f"{episode_name(episodes, i, meta)}: {n_frames} frames but {len(actions)} actions and "
            f"{len(states)} states (one of each per frame expected)"
        )


def episode_lowdim(episodes: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(actions, states) of episode i, without decoding frames when the dataset can do that."""
    if hasattr(episodes, "lowdim"):
        actions, states = episodes.lowdim(i)
    elif isinstance(episodes, EpisodeDataset):  # npz members load one at a time: skip the frames
        entry = episodes.meta["episodes"][i]
        with np.load(Path(episodes.root) / entry["file"]) as npz:
            actions, states = npz["actions"], npz["states"]
    else:
        ep = episodes[i]
        actions, states = ep.actions, ep.states
    return np.asarray(actions, np.float32), np.asarray(states, np.float32)


def episode_lengths(episodes: Any) -> np.ndarray:
    """Frame count per episode: ``episodes.lengths`` if present, else by loading each episode (and checking)."""
    lengths = getattr(episodes, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths, dtype=np.int64).reshape(-1)
    out = []
    for i in range(len(episodes)):
        ep = episodes[i]
        _check_lengths(episodes, i, len(ep.frames), ep.actions, ep.states, getattr(ep, "meta", None))
        out.append(len(ep.frames))
    return np.asarray(out, dtype=np.int64)


def _check_agg(action_agg: str) -> None:
    if action_agg not in ACTION_AGGS:
        raise ValueError(f"action_agg must be one of {ACTION_AGGS}, got {action_agg!r}")


def pose_actions(states: np.ndarray, starts: np.ndarray, frame_step: int, where: str = "states") -> np.ndarray:
    """End-effector poses (L, 7), block starts (T,) -> (T, 7): the pose change from each start to ``frame_step``
    frames later (`vjepa.models.pose.pose_delta`); zeros where that is past the end (padding)."""
    if states.ndim != 2 or states.shape[1] != POSE_DIM:
        raise ValueError(f"{where}: action_agg 'pose_delta' needs 7-D states [x, y, z, roll, pitch, yaw, gripper], "
                         f"got shape {states.shape}")
    ends = starts + frame_step
    poses = torch.from_numpy(np.asarray(states, np.float64))
    actions = pose_delta(poses[starts], poses[np.minimum(ends, len(states) - 1)]).numpy()
    return np.where((ends < len(states))[:, None], actions, 0.0).astype(np.float32)


def _aggregate(actions: np.ndarray, starts: np.ndarray, frame_step: int, agg: ActionAgg) -> np.ndarray:
    """Actions (L, A), block starts (T,) -> (T, A) summed or (T, frame_step * A) stacked; zeros past the end."""
    length, dim = actions.shape
    idx = starts[:, None] + np.arange(frame_step)[None, :]  # (T, fs)
    blocks = np.where((idx < length)[..., None], actions[np.minimum(idx, length - 1)], 0.0).astype(np.float32)
    if agg == "sum":
        return blocks.sum(axis=1)
    return blocks.reshape(len(starts), frame_step * dim)


# ------------------------------------------------------------------------------------------------ stats
def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class _Moments:
    """Running mean / variance (Chan et al. parallel update, float64)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, None, None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if len(x) == 0:
            return
        n_b, mean_b = len(x), x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        if self.mean is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n

    def result(self, dim: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None:
            return np.zeros(dim, np.float32), np.ones(dim, np.float32)
        std = np.sqrt(self.m2 / self.n)
        std = np.where(std < eps, 1.0, std)  # constant dimensions are left unscaled
        return self.mean.astype(np.float32), std.astype(np.float32)


@dataclass
class ActionStats:
    """Mean / std of actions (as aggregated by `ClipWindows`) and of states; ``normalize_*`` = (x - mean) / std."""

    action_mean: np.ndarray
    action_std: np.ndarray
    state_mean: np.ndarray
    state_std: np.ndarray
    frame_step: int = 1
    action_agg: str = "sum"
    count: int = field(default=0)

    @classmethod
    def from_episodes(
        cls, episodes: Any, frame_step: int = 1, action_agg: ActionAgg = "sum", eps: float = 1e-6
    ) -> ActionStats:
        """One pass over the actions and states (no frames decoded where the dataset allows it).

        Action statistics are over every block of ``frame_step`` consecutive actions, aggregated like
        `ClipWindows` does, excluding each episode's padding last action (for ``"pose_delta"``: over the pose
        changes between every two states ``frame_step`` apart).
        """
        _check_agg(action_agg)
        acts, sts = _Moments(), _Moments()
        a_dim = s_dim = None
        for i in range(len(episodes)):
            actions, states = episode_lowdim(episodes, i)
            if len(actions) != len(states):
                raise ValueError(f"{episode_name(episodes, i)}: {len(actions)} actions but {len(states)} states")
            a_dim, s_dim = POSE_DIM if action_agg == "pose_delta" else actions.shape[1], states.shape[1]
            sts.add(states)
            valid = actions[:-1].astype(np.float64)  # the last action is padding
            if action_agg == "pose_delta":
                starts = np.arange(max(len(states) - frame_step, 0))
                acts.add(pose_actions(states, starts, frame_step, episode_name(episodes, i)))
            elif action_agg == "stack" or frame_step == 1:
                acts.add(valid)
            elif len(valid) >= frame_step:
                cs = np.concatenate([np.zeros((1, a_dim)), np.cumsum(valid, axis=0)])
                acts.add(cs[frame_step:] - cs[:-frame_step])
        if a_dim is None:
            raise ValueError("cannot compute action statistics of an empty dataset")
        a_mean, a_std = acts.result(a_dim, eps)
        if action_agg == "stack":
            a_mean, a_std = np.tile(a_mean, frame_step), np.tile(a_std, frame_step)
        s_mean, s_std = sts.result(s_dim, eps)
        return cls(a_mean, a_std, s_mean, s_std, frame_step, action_agg, int(acts.n))

    @staticmethod
    def _apply(x: Any, mean: np.ndarray, std: np.ndarray, inverse: bool) -> Any:
        if isinstance(x, torch.Tensor):
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
        else:
            x = np.asarray(x, np.float32)
            m, s = mean, std
        if x.shape[-1] != len(mean):
            raise ValueError(f"last dimension {x.shape[-1]} does not match the statistics' {len(mean)}")
        return x * s + m if inverse else (x - m) / s

    def unnormalised(self) -> ActionStats:
        """The same statistics with mean 0 and std 1: actions and states go in as they are (V-JEPA 2-AC's
        released predictor takes them in their own units)."""
        a, s = len(self.action_mean), len(self.state_mean)
        return replace(self, action_mean=np.zeros(a, np.float32), action_std=np.ones(a, np.float32),
                       state_mean=np.zeros(s, np.float32), state_std=np.ones(s, np.float32))

    def normalize_actions(self, x: Any) -> Any:
        return self._apply(x, self.action_mean, self.action_std, False)

    def denormalize_actions(self, x: Any) -> Any:
        return self._apply(x, self.action_mean, self.action_std, True)

    def normalize_states(self, x: Any) -> Any:
        return self._apply(x, self.state_mean, self.state_std, False)

    def denormalize_states(self, x: Any) -> Any:
        return self._apply(x, self.state_mean, self.state_std, True)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain numbers only, so ``torch.load(weights_only=True)`` reads it back."""
        return {
            "action_mean": torch.as_tensor(self.action_mean),
            "action_std": torch.as_tensor(self.action_std),
            "state_mean": torch.as_tensor(self.state_mean),
            "state_std": torch.as_tensor(self.state_std),
            "frame_step": int(self.frame_step),
            "action_agg": str(self.action_agg),
            "count": int(self.count),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> ActionStats:
        missing = [k for k in ("action_mean", "action_std", "state_mean", "state_std") if k not in state]
        if missing:
            raise KeyError(f"ActionStats state dict lacks {missing}; keys: {sorted(state)}")
        return cls(
            _as_array(state["action_mean"]),
            _as_array(state["action_std"]),
            _as_array(state["state_mean"]),
            _as_array(state["state_std"]),
            int(state.get("frame_step", 1)),
            str(state.get("action_agg", "sum")),
            int(state.get("count", 0)),
        )


# ------------------------------------------------------------------------------------------------ windows
class ClipWindows(Dataset):
    """Every window of ``num_frames`` steps ``frame_step`` frames apart (window starts ``stride`` apart).

    Item: ``frames`` uint8 (T, H, W, 3) — or ``features`` float32 (T, N, D) when a built `FeatureCache` is given —
    ``actions`` float32 (T, A) for "sum" or (T, frame_step * A) for "stack", ``states`` float32 (T, S) at the kept
    frames, ``episode`` and ``start`` (first kept frame). With ``stats``, actions and states come normalised.
    """

    def __init__(
        self,
        episodes: Any,
        num_frames: int = 8,
        frame_step: int = 1,
        action_agg: ActionAgg = "sum",
        features: FeatureCache | None = None,
        stride: int = 1,
        stats: ActionStats | None = None,
    ) -> None:
        if num_frames < 1 or frame_step < 1 or stride < 1:
            raise ValueError(f"num_frames, frame_step, stride must be >= 1, got {num_frames}, {frame_step}, {stride}")
        _check_agg(action_agg)
        self.episodes = episodes
        self.num_frames, self.frame_step, self.action_agg, self.stride = num_frames, frame_step, action_agg, stride
        if features is not None and features.encoder is not None:  # workers need the files, not the encoder
            features = features.read_only()
        self.features, self.stats = features, stats
        self.lengths = episode_lengths(episodes)
        if features is not None:
            cached = features.lengths
            if cached is None or len(cached) != len(self.lengths) or np.any(np.asarray(cached) != self.lengths):
                raise ValueError(
                    f"feature cache {features.cache_dir} does not match these episodes "
                    f"(cached lengths {None if cached is None else list(cached)[:8]}..., "
                    f"episode lengths {self.lengths.tolist()[:8]}...); call features.build(episodes)"
                )

        span = (num_frames - 1) * frame_step + 1  # frames covered by a window
        num_starts = self.lengths - span + 1
        short = np.flatnonzero(num_starts <= 0)
        if len(short):
            warnings.warn(
                f"{len(short)} of {len(self.lengths)} episodes are shorter than a window of {span} frames "
                f"({num_frames} frames, step {frame_step}) and are skipped: episodes {short.tolist()[:20]}"
                + (" ..." if len(short) > 20 else ""),
                stacklevel=2,
            )
        counts = np.where(num_starts > 0, (num_starts + stride - 1) // stride, 0)
        total = int(counts.sum())
        self.index_episode = np.repeat(np.arange(len(self.lengths)), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)  # flat position of each episode's first window
        self.index_start = (np.arange(total) - first) * stride
        self._lowdim_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.index_episode)

    @property
    def action_dim(self) -> int:
        """Width of the item's actions: A for "sum", frame_step * A for "stack", 7 for "pose_delta"."""
        if self.action_agg == "pose_delta":
            return POSE_DIM
        base = getattr(self.episodes, "action_dim", None)
        if base is None:
            base = episode_lowdim(self.episodes, int(self.index_episode[0]) if len(self) else 0)[0].shape[1]
        return int(base) * (self.frame_step if self.action_agg == "stack" else 1)

    def _lowdim_checked(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._lowdim_cache.get(e)
        if hit is None:
            actions, states = episode_lowdim(self.episodes, e)
            _check_lengths(self.episodes, e, int(self.lengths[e]), actions, states)
            hit = self._lowdim_cache[e] = (actions, states)
        return hit

    def __getitem__(self, k: int) -> dict[str, Any]:
        if not -len(self) <= k < len(self):
            raise IndexError(f"window {k} out of range for {len(self)} windows")
        e, s = int(self.index_episode[k]), int(self.index_start[k])
        steps = s + self.frame_step * np.arange(self.num_frames)
        item: dict[str, Any] = {}
        if self.features is not None:
            actions, states = self._lowdim_checked(e)
            item["features"] = torch.from_numpy(np.asarray(self.features.get(e)[steps], dtype=np.float32))
        elif hasattr(self.episodes, "get_frames"):
            actions, states = self._lowdim_checked(e)
            item["frames"] = torch.from_numpy(np.ascontiguousarray(self.episodes.get_frames(e, steps)))
        else:
            ep = self.episodes[e]
            actions, states = np.asarray(ep.actions, np.float32), np.asarray(ep.states, np.float32)
            _check_lengths(self.episodes, e, len(ep.frames), actions, states, getattr(ep, "meta", None))
            item["frames"] = torch.from_numpy(np.ascontiguousarray(np.asarray(ep.frames)[steps]))
        if self.action_agg == "pose_delta":
            acts = pose_actions(states, steps, self.frame_step, episode_name(self.episodes, e))
        else:
            acts = _aggregate(actions, steps, self.frame_step, self.action_agg)
        sts = states[steps]
        if self.stats is not None:
            acts, sts = self.stats.normalize_actions(acts), self.stats.normalize_states(sts)
        item["actions"] = torch.from_numpy(np.ascontiguousarray(acts, dtype=np.float32))
        item["states"] = torch.from_numpy(np.ascontiguousarray(sts, dtype=np.float32))
        item["episode"] = e
        item["start"] = s
        return item


__all__ = ["ActionStats", "ClipWindows", "episode_lengths", "episode_lowdim", "episode_name", "open_episodes"]
