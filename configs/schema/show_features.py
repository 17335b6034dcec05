"""`vjepa-show-features`'s keys (configs/show_features.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.extract import ENCODERS
from configs.schema.keys import refuse_unknown_keys
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks


@dataclass
class ShowFeatures(Runtime):
    """An encoder's patch features on the first clip of a video, as colours (their first three principal
    components) beneath the frames."""

    checkpoint: str = doc(MISSING, "an encoder checkpoint: a vjepa-pretrain one or V-JEPA 2's released weights")
    video: str = doc(MISSING, "the video whose first clip is encoded")
    out: str = doc(MISSING, "the PNG to write")
    which: str = doc("target_encoder", "target_encoder (EMA teacher) | encoder")
    frames: Optional[int] = doc(None, "frames of the clip (null: as pretrained)")
    frame_step: Optional[int] = doc(None, "keep every n-th frame (null: as pretrained)")
    size: Optional[int] = doc(None, "crop size (null: as pretrained)")
    gif: bool = doc(False, "also write <out>.gif: each frame beside its colours")


register("show_features_schema", ShowFeatures)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-show-features reads, checked before any work starts."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    checks.existing_path(cfg, "checkpoint")
    checks.existing_path(cfg, "video", kind="file")
    checks.value_of(cfg, "out")
    checks.choice(cfg, "which", ENCODERS)
    checks.integers(cfg, ("frames", "frame_step", "size"), low=1, optional=True)
