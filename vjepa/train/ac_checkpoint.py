"""The checkpoint `vjepa-train-ac` writes (``run_dir/latest.pt``), as one type: the action-conditioned predictor
with what it needs to run — its constructor kwargs, the action/state statistics, the feature normalisation, which
encoder it was trained on (``recipe=end_to_end``: the trained encoder itself, `ACCheckpoint.encoder_file`, and with
``end_to_end.embedding=pooled`` the frame projector on its tokens, `ACCheckpoint.build_projector`) — and what a
resumed run continues from (episode split, optimiser, RNG, step, config).
Written and read here only: `vjepa.world_model`, `vjepa-eval-ac`, resumed runs and ``init_predictor`` load it
through `ACCheckpoint.load` / `ACCheckpoint.from_contents`, which refuse any other file in one line naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from vjepa.data.ac_dataset import ActionStats
from vjepa.models.ac_predictor import ActionConditionedPredictor
from vjepa.models.feature_norm import FeatureNorm
from vjepa.models.frame_embedding import PooledProjector
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.errors import UserError

REQUIRED = ("step", "predictor", "predictor_config", "action_stats", "encoder_checkpoint", "fingerprint", "image_size",
            "split", "config")


@dataclass
class ACCheckpoint:
    """One vjepa-train-ac checkpoint; `to_contents` is what lands on disk (a plain dict, keys as the fields)."""

    step: int
    predictor: dict[str, Tensor]  # the predictor's weights
    predictor_config: dict[str, Any]  # ActionConditionedPredictor kwargs
    action_stats: ActionStats
    feature_norm: FeatureNorm  # the predictor's feature space
    encoder_checkpoint: str  # the frozen encoder's checkpoint, its weights' fingerprint and which one of it
    fingerprint: str
    image_size: int
    split: dict[str, list[int]]  # episode indices: "train", "val"
    config: dict[str, Any]  # the run's whole config
    encoder_which: str = "target_encoder"
    feature_cache: str | None = None
    optimizer: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    encoder: dict[str, Tensor] | None = None  # recipe=end_to_end: the encoder trained with the predictor
    encoder_config: dict[str, Any] | None = None  # ... described as a vjepa-pretrain run's config (its model)
    projector: dict[str, Tensor] | None = None  # end_to_end.embedding=pooled: the frame projector's weights
    projector_config: dict[str, Any] | None = None  # ... and its PooledProjector kwargs

    def to_contents(self) -> dict[str, Any]:
        """The dict `vjepa.runtime.checkpoint.save_checkpoint` writes."""
        return {
            "step": self.step,
            "predictor": self.predictor,
            "predictor_config": self.predictor_config,
            "action_stats": self.action_stats.state_dict(),
            "feature_norm": self.feature_norm.to_checkpoint(),
            "encoder_checkpoint": self.encoder_checkpoint,
            "encoder_which": self.encoder_which,
            "fingerprint": self.fingerprint,
            "image_size": self.image_size,
            "feature_cache": self.feature_cache,
            "split": self.split,
            "optimizer": self.optimizer,
            "rng": self.rng,
            "config": self.config,
            **({} if self.encoder is None else {"encoder": self.encoder, "encoder_config": self.encoder_config}),
            **({} if self.projector is None else {"projector": self.projector,
                                                  "projector_config": self.projector_config}),
        }

    @classmethod
    def from_contents(cls, contents: Mapping[str, Any], source: str | Path) -> ACCheckpoint:
        """A loaded checkpoint file's contents, checked; a `UserError` naming ``source`` when it is another kind of
        file (checkpoints from before the feature normalisation load with layer norm)."""
        missing = [key for key in REQUIRED if key not in contents]
        if missing:
            raise UserError(f"not a vjepa-train-ac checkpoint (no {', '.join(missing)})", str(source),
                            "give the latest.pt of a vjepa-train-ac run")
        config = contents["predictor_config"]
        grid = config["grid_hw"]
        norm = FeatureNorm.from_checkpoint(contents.get("feature_norm"), grid[0] * grid[1], config["embed_dim"])
        return cls(
            step=int(contents["step"]), predictor=contents["predictor"], predictor_config=dict(config),
            action_stats=ActionStats.from_state_dict(contents["action_stats"]), feature_norm=norm,
            encoder_checkpoint=str(contents["encoder_checkpoint"]), fingerprint=str(contents["fingerprint"]),
            image_size=int(contents["image_size"]), split=dict(contents["split"]), config=contents["config"],
            encoder_which=contents.get("encoder_which", "target_encoder"),
            feature_cache=contents.get("feature_cache"), optimizer=contents.get("optimizer"), rng=contents.get("rng"),
            encoder=contents.get("encoder"), encoder_config=contents.get("encoder_config"),
            projector=contents.get("projector"), projector_config=contents.get("projector_config"),
        )

    @classmethod
    def load(cls, path: str | Path) -> ACCheckpoint:
        """The checkpoint at ``path`` (on the CPU), checked as `from_contents` does."""
        return cls.from_contents(load_checkpoint(path, map_location="cpu"), path)

    def encoder_file(self, path: str | Path) -> Path:
        """The file the predictor's encoder loads from (`vjepa.inference.load_encoder`): this checkpoint, at
        ``path``, when it holds the encoder it trained (recipe end_to_end), else ``encoder_checkpoint``."""
        return Path(path) if self.encoder is not None else Path(self.encoder_checkpoint)

    @property
    def embedding(self) -> str:
        """What the predictor reads of a frame (``end_to_end.embedding``): pooled (a projector's one embedding)
        or tokens (the encoder's patch tokens)."""
        return "tokens" if self.projector_config is None else "pooled"

    def build_projector(self) -> PooledProjector | None:
        """The frame projector on the encoder's tokens, with its weights; None for ``tokens``."""
        if self.projector_config is None:
            return None
        projector = PooledProjector(**self.projector_config)
        projector.load_state_dict(self.projector)
        return projector

    def build_predictor(self) -> ActionConditionedPredictor:
        """The predictor, with its weights."""
        predictor = ActionConditionedPredictor(**self.predictor_config)
        predictor.load_state_dict(self.predictor)
        return predictor


__all__ = ["ACCheckpoint"]
