"""Atomic, resumable checkpoints: a temp file in the same directory, fsync, then os.replace."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

LATEST = "latest.pt"


def is_checkpoint_step(step: int, last_step: int, ckpt_every: int, keep_every: int | None) -> bool:
    """Whether a run writes its checkpoint after ``step``: every ``ckpt_every`` steps, every ``keep_every``, and at
    its last step."""
    return step % ckpt_every == 0 or step == last_step or bool(keep_every and step % keep_every == 0)


def save_checkpoint(state: Any, run_dir: str | Path, step: int, keep_every: int | None = None) -> Path:
    """``run_dir/latest.pt`` (atomically), and every ``keep_every`` steps the same file kept as
    ``step_XXXXXXX.pt``, which later checkpoints do not overwrite (a hard link: no second write where the file
    system has them)."""
    latest = save_atomic(state, Path(run_dir) / LATEST)
    if keep_every and step % keep_every == 0:
        kept = latest.with_name(f"step_{step:07d}.pt")
        tmp = kept.with_name(f".{kept.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(latest, tmp)
        except OSError:
            shutil.copyfile(latest, tmp)
        os.replace(tmp, kept)
    return latest


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save ``obj`` to ``path`` so that a crash never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise RuntimeError(f"cannot read checkpoint {path}: {err}") from err


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    path = Path(run_dir) / LATEST
    return path if path.is_file() else None


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
