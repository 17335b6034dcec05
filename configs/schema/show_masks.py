"""`vjepa-show-masks`'s keys (configs/show_masks.yaml): vjepa-pretrain's, and what to draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.keys import refuse_unknown_keys
from configs.schema.pretrain import Pretrain
from vjepa.runtime import config_checks as checks


@dataclass
class ShowMasks(Pretrain):
    """The masks pretraining draws, on the first clip of a video (or a generated gradient clip), on the token grid
    of the run: the pretraining keys, or a run's saved config, with the same overrides."""

    out: str = doc(MISSING, "the PNG to write: one figure, a row per mask group")
    video: Optional[str] = doc(None, "video file; null: a gradient clip")
    saved: Optional[str] = doc(None, "a run's saved config (run_dir/hydra/config.yaml) in place of the pretraining "
                                     "defaults; key=value overrides apply on top")


register("show_masks_schema", ShowMasks)


def check(cfg: DictConfig) -> None:
    """The keys vjepa-show-masks reads beyond the masks' own (checked as they are built)."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.value_of(cfg, "out")
    checks.existing_path(cfg, "video", optional=True, kind="file")
    checks.existing_path(cfg, "saved", optional=True, kind="file")
    checks.integer(cfg, "seed", low=0)
