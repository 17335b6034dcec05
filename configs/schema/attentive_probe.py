"""`vjepa-attentive-probe`'s keys (configs/attentive_probe.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.extract import ENCODERS
from configs.schema.keys import refuse_unknown_keys
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks


@dataclass
class Augment:
    """The random views of ``train_views``."""

    scale: Any = doc([0.3, 1.0], "random resized crop: [min, max] area fraction")
    ratio: Any = doc([0.75, 1.333], "random resized crop: [min, max] aspect ratio")
    hflip: float = doc(0.0, "flip probability; off: a flip mirrors left/right motion (direction labels)")


@dataclass
class ProbeHead:
    """The attentive classifier trained on the frozen features."""

    num_queries: int = doc(8, "learnable query tokens")
    num_heads: Optional[int] = doc(None, "null: the encoder's")
    pos_embed: bool = doc(True, "add each token's 3D sin-cos position to the features (RoPE outputs carry none)")
    epochs: int = doc(40, "passes over the training videos")
    batch_size: int = doc(64, "videos per head step")
    lr: float = doc(3.0e-4, "AdamW learning rate")
    weight_decay: float = doc(0.1, "AdamW weight decay")


@dataclass
class AttentiveProbe(Runtime):
    """Attentive probe (V-JEPA's frozen evaluation): classify labelled videos from a frozen encoder's patch
    features."""

    precision: str = doc("fp32", "what the frozen encoder computes in: fp32 | bf16 | auto (features kept in fp16 "
                                 "either way)")
    checkpoint: str = doc(MISSING, "a vjepa-pretrain checkpoint, or V-JEPA 2's released weights (.pt / Hugging "
                                   "Face folder)")
    which: str = doc("target_encoder", "target_encoder (EMA teacher) | encoder")
    videos: str = doc(MISSING, "folder of videos")
    labels: Optional[str] = doc(None, "CSV with columns file,<label_column>; null = <videos>/labels.csv")
    label_column: str = doc("label", "e.g. direction for vjepa-make-videos' moving shapes")
    val_fraction: float = doc(0.3, "held out (a seeded random split)")
    repeats: int = doc(3, "splits and head initialisations (seed, seed + 1, ...): mean and std are reported")
    frames_per_clip: Optional[int] = doc(None, "null: as the encoder was pretrained")
    clips_per_video: int = doc(1, "clips evenly spaced over each video, encoded apart, their tokens pooled together")
    frame_step: Optional[int] = doc(None, "null: as the encoder was pretrained")
    size: Optional[int] = doc(None, "null: the pretraining crop size")
    train_views: int = doc(0, "V > 0: also encode every video V times with `augment`; heads train on a random view "
                              "(validation stays on the centre crop)")
    augment: Augment = doc(Augment(), "the random views")
    batch_size: int = doc(16, "encoding batch")
    seed: int = doc(0, "the split and the heads' initialisation")
    random_baseline: bool = doc(True, "also probe the same architecture randomly initialised")
    output: Optional[str] = doc(None, "attentive_probe.json, metrics.csv, TensorBoard; null: attentive_probe/ "
                                      "beside the checkpoint (attentive_probe_<name>/ beside <name>.pt)")
    probe: ProbeHead = doc(ProbeHead(), "the classifier head")


register("attentive_probe_schema", AttentiveProbe)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-attentive-probe reads, checked before any work starts."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    checks.existing_path(cfg, "checkpoint")
    checks.existing_path(cfg, "videos", kind="dir")
    checks.existing_path(cfg, "labels", optional=True, kind="file")
    checks.choice(cfg, "which", ENCODERS)
    checks.number(cfg, "val_fraction", low=0.0, high=0.99, above=True)
    checks.integers(cfg, ("repeats", "clips_per_video", "batch_size"), low=1)
    checks.integers(cfg, ("frames_per_clip", "frame_step", "size"), low=1, optional=True)
    checks.integers(cfg, ("train_views", "seed"), low=0)
    checks.number_range(cfg, "augment.scale", high=1.0)
    checks.number_range(cfg, "augment.ratio")
    checks.number(cfg, "augment.hflip", low=0.0, high=1.0)
    checks.integers(cfg, ("probe.num_queries", "probe.epochs", "probe.batch_size"), low=1)
    checks.integer(cfg, "probe.num_heads", low=1, optional=True)
    checks.number(cfg, "probe.lr", low=0.0, above=True)
    checks.number(cfg, "probe.weight_decay", low=0.0)
