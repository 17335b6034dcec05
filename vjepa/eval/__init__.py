"""Evaluations of trained models: frozen-feature probes (ridge, attentive) and the world model's k-step errors."""

from __future__ import annotations

from pathlib import Path


def beside(checkpoint: str | Path, name: str, suffix: str = "") -> Path:
    """Where an evaluation of ``checkpoint`` writes by default: ``name + suffix`` beside it for ``latest.pt`` (or a
    folder of released weights), ``name_<stem> + suffix`` for any other file, so that kept checkpoints
    (``step_XXXXXXX.pt``) evaluated in turn do not overwrite each other."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir() or checkpoint.name == "latest.pt":
        return checkpoint.parent / f"{name}{suffix}"
    return checkpoint.parent / f"{name}_{checkpoint.stem}{suffix}"
