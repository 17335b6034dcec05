"""`vjepa-extract`'s keys (configs/extract.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.keys import refuse_unknown_keys
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks

ENCODERS = ("target_encoder", "encoder")


@dataclass
class Extract(Runtime):
    """Encode every video (or image) of a folder with a pretrained encoder."""

    checkpoint: str = doc(MISSING, "a vjepa-pretrain checkpoint, or V-JEPA 2's released weights (.pt / Hugging Face "
                                   "folder)")
    input: str = doc(MISSING, "a video/image folder or a .csv/.txt list")
    output: str = doc("features", "folder of features.npy and files.txt")
    which: str = doc("target_encoder", "target_encoder (EMA teacher) | encoder")
    pooled: bool = doc(False, "false: patch features (N, D) per clip; true: one mean-pooled vector (D,)")
    kind: str = doc("video", "video | image")
    frames_per_clip: Optional[int] = doc(None, "null: as in pretraining")
    frame_step: Optional[int] = doc(None, "null: as in pretraining")
    size: Optional[int] = doc(None, "null: the pretraining crop size")
    batch_size: int = doc(8, "clips per encoder call")


register("extract_schema", Extract)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-extract reads, checked before any work starts."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    checks.existing_path(cfg, "checkpoint")
    checks.existing_path(cfg, "input")
    checks.choice(cfg, "which", ENCODERS)
    checks.choice(cfg, "kind", ("video", "image"))
    checks.integers(cfg, ("frames_per_clip", "frame_step", "size"), low=1, optional=True)
    checks.integer(cfg, "batch_size", low=1)
