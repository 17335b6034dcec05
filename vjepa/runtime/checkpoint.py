"""Atomic, resumable checkpoints: a temp file in the same directory, fsync, then os.replace
(`vjepa.runtime.run_dir.atomic_write`; a run's claim of its directory removes what a killed write left)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vjepa.runtime.config_checks import changed_leaves
from vjepa.runtime.errors import RunDirError, UserError
from vjepa.runtime.run_dir import atomic_write

LATEST = "latest.pt"
RESTART = "use a new run_dir, or resume=false to start this one over"
MIN_FREE_BYTES = 64 << 20  # a checkpoint write that fails with less free space than this failed for want of space


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
    """torch.save ``obj`` to ``path`` so that a crash never leaves a half-written file behind (the file gets the
    mode ``open`` would give it). A write that fails for want of space is an ``OSError(ENOSPC)`` naming ``path``
    (torch reports it as a RuntimeError of its zip writer)."""
    path = Path(path)
    try:
        with atomic_write(path) as f:
            torch.save(obj, f)
    except RuntimeError as err:
        if shutil.disk_usage(path.parent).free >= MIN_FREE_BYTES:
            raise
        raise OSError(errno.ENOSPC, "No space left on device while writing a checkpoint", str(path)) from err
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint's contents; a `UserError` naming the file when it is missing, truncated or not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise UserError("checkpoint not found", str(path), "check the path")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot read the checkpoint ({reason})", str(path), "replace or delete it") from err


def differences(theirs: Mapping[str, Any], ours: Mapping[str, Any], name: str = "") -> str:
    """'key=1 there, 2 here; ...' for every (nested, dotted) key whose value in ``theirs`` (a checkpoint's) differs
    from ``ours``; ``name`` prefixes the keys (``model``)."""
    return "; ".join(f"{key}={a!r} there, {b!r} here" for key, a, b in changed_leaves(theirs, ours, name))


def resume_checkpoint(run_dir: str | Path, resume: bool,
                      map_location: str | torch.device = "cpu") -> tuple[Path | None, dict[str, Any] | None]:
    """(``run_dir/latest.pt``, its contents) for a run that resumes, (None, None) for one that starts afresh; an
    unreadable checkpoint is refused with a `RunDirError` that says how to start over."""
    path = latest_checkpoint(run_dir) if resume else None
    if path is None:
        return None, None
    try:
        return path, load_checkpoint(path, map_location=map_location)
    except UserError as err:
        raise RunDirError(err.what, err.where, RESTART) from err.__cause__


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
