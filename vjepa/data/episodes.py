"""The toolkit's episode format for robot / env logs.

::

    root/meta.json   {"format": "vjepa-episodes", "version": 1, "fps", "env_id", "action_dim", "state_dim",
                      "image_size": [H, W], "episodes": [{"file": "episodes/episode_000000.npz", "length": T}, ...],
                      ...free metadata}
    root/episodes/episode_000000.npz   frames uint8 (T, H, W, 3), actions float32 (T, A), states float32 (T, S),
                                       optional extra arrays

``actions[t]`` is the action taken after observing ``frames[t]`` (it leads to ``frames[t + 1]``); the last
action is padding (zeros).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vjepa.runtime.errors import DataError, MissingFileError

FORMAT, VERSION = "vjepa-episodes", 1
_RESERVED = ("format", "version", "fps", "env_id", "action_dim", "state_dim", "image_size", "episodes")
_ARRAYS = ("frames", "actions", "states")


@dataclass
class Episode:
    """One episode: ``frames`` (T, H, W, 3) uint8, ``actions`` (T, A) float32, ``states`` (T, S) float32,
    its ``meta.json`` entry and any extra arrays."""

    frames: np.ndarray
    actions: np.ndarray
    states: np.ndarray
    meta: dict[str, Any]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


def _write_atomic(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary sibling of ``path``, then move it into place."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def episode_file(index: int) -> str:
    """Episode ``index``'s file, relative to the dataset root."""
    return f"episodes/episode_{index:06d}.npz"


def episode_sizes(index: int, frames: np.ndarray, actions: np.ndarray, states: np.ndarray) -> dict[str, Any]:
    """The sizes meta.json records (action_dim, state_dim, image_size) of a valid episode; a ValueError naming
    episode ``index`` for arrays that are not one."""
    where = f"episode {index}"
    frames, actions, states = np.asarray(frames), np.asarray(actions), np.asarray(states)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{where}: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    for key, array in (("actions", actions), ("states", states)):
        if array.ndim != 2:
            raise ValueError(f"{where}: {key} must be 2-D (T, dim), got shape {array.shape}")
    lengths = {"frames": len(frames), "actions": len(actions), "states": len(states)}
    if len(set(lengths.values())) != 1 or len(frames) == 0:
        raise ValueError(f"{where}: frames, actions and states need one common length T > 0, got {lengths}")
    return {"action_dim": actions.shape[1], "state_dim": states.shape[1], "image_size": list(frames.shape[1:3])}


def write_episode(root: str | Path, index: int, frames: np.ndarray, actions: np.ndarray, states: np.ndarray,
                  **extra: np.ndarray) -> dict[str, Any]:
    """Validate episode ``index`` and write it (atomically) under ``root``; returns what `EpisodeWriter.record`
    needs: its file, length and sizes."""
    sizes = episode_sizes(index, frames, actions, states)
    arrays = {"frames": np.asarray(frames), "actions": np.asarray(actions, np.float32),
              "states": np.asarray(states, np.float32)}
    name = episode_file(index)
    _write_atomic(Path(root) / name, lambda f: np.savez_compressed(f, **arrays, **extra))
    return {"file": name, "length": len(arrays["frames"]), "sizes": sizes}


class EpisodeWriter:
    """Writes episodes one ``add`` at a time; ``close()`` (or leaving the ``with`` block) writes meta.json.

    ``meta`` is free JSON-serialisable metadata stored in meta.json. Refuses a root that already holds a
    dataset unless ``overwrite``.
    """

    def __init__(
        self, root: str | Path, fps: float, env_id: str | None = None, overwrite: bool = False, **meta: Any
    ) -> None:
        self.root = Path(root)
        if (self.root / "meta.json").exists() and not overwrite:
            raise FileExistsError(f"{self.root / 'meta.json'} exists; pass overwrite=True to replace the dataset")
        clash = sorted(set(meta) & set(_RESERVED))
        if clash:
            raise ValueError(f"metadata keys {clash} are reserved by the episode format")
        json.dumps(meta)  # fail now, not at close(), on metadata that is not JSON-serialisable
        (self.root / "episodes").mkdir(parents=True, exist_ok=True)
        self.meta: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "fps": float(fps),
            "env_id": env_id,
            "action_dim": None,
            "state_dim": None,
            "image_size": None,
            "episodes": [],
            **meta,
        }

    def add(self, frames: np.ndarray, actions: np.ndarray, states: np.ndarray, **extra: np.ndarray) -> Path:
        """Validate and write one episode; returns its file."""
        index = len(self.meta["episodes"])
        self._check_sizes(episode_sizes(index, frames, actions, states), index)
        return self.record(write_episode(self.root, index, frames, actions, states, **extra))

    def record(self, written: dict[str, Any]) -> Path:
        """Count an episode that `write_episode` wrote (in another process, say) as the next one; returns its
        file. Its index must be the next one and its sizes those of the episodes before it."""
        index = len(self.meta["episodes"])
        if written["file"] != episode_file(index):
            raise ValueError(f"episode {index} expected next, got {written['file']}")
        self._check_sizes(written["sizes"], index)
        self.meta.update(written["sizes"])
        self.meta["episodes"].append({"file": written["file"], "length": written["length"]})
        return self.root / written["file"]

    def _check_sizes(self, sizes: dict[str, Any], index: int) -> None:
        for key, value in sizes.items():
            if self.meta[key] is not None and self.meta[key] != value:
                raise ValueError(f"episode {index}: {key} is {value}, earlier episodes have {self.meta[key]}")

    def close(self) -> Path:
        """Write meta.json (atomically); returns the dataset root."""
        text = json.dumps(self.meta, indent=1).encode()
        _write_atomic(self.root / "meta.json", lambda f: f.write(text))
        return self.root

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None or self.meta["episodes"]:  # on error, keep the episodes written so far
            self.close()


class EpisodeDataset:
    """Reads a dataset written by ``EpisodeWriter``; episodes are loaded (and checked) on access."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / "meta.json"
        if not path.is_file():
            raise MissingFileError(f"{path} not found: {self.root} is not a {FORMAT} dataset")
        self.meta: dict[str, Any] = json.loads(path.read_text())
        found = (self.meta.get("format"), self.meta.get("version"))
        if found != (FORMAT, VERSION):
            raise DataError(f"{path}: unknown format/version {found}, expected ({FORMAT!r}, {VERSION})")

    @property
    def action_dim(self) -> int | None:
        return self.meta["action_dim"]

    @property
    def state_dim(self) -> int | None:
        return self.meta["state_dim"]

    @property
    def lengths(self) -> list[int]:
        return [entry["length"] for entry in self.meta["episodes"]]

    @property
    def frame_source(self) -> dict[str, Any]:
        """What picks the frames (a feature cache's key): every frame of each episode's file."""
        return {"format": FORMAT}

    def frame_files(self, i: int) -> list[Path]:
        """The file episode i's frames are read from."""
        return [self.root / self.meta["episodes"][i]["file"]]

    def __len__(self) -> int:
        return len(self.meta["episodes"])

    def __getitem__(self, i: int) -> Episode:
        entry = self.meta["episodes"][i]
        path = self.root / entry["file"]
        t = entry["length"]
        expected = {
            "frames": (t, *self.meta["image_size"], 3),
            "actions": (t, self.action_dim),
            "states": (t, self.state_dim),
        }
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in npz.files}
        for key, shape in expected.items():
            found = arrays[key].shape if key in arrays else "missing"
            if found != shape:
                raise DataError(f"{path}: {key} expected shape {shape}, found {found}")
        extras = {key: value for key, value in arrays.items() if key not in _ARRAYS}
        return Episode(arrays["frames"], arrays["actions"], arrays["states"], entry, extras)
