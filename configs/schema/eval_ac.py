"""`vjepa-eval-ac`'s keys (configs/eval_ac.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import DictConfig

from configs.schema import doc, register
from configs.schema.keys import refuse_unknown_keys
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks


@dataclass
class EvalAC(Runtime):
    """Evaluate an action-conditioned predictor on its held-out episodes against two baselines."""

    precision: str = doc("fp32", "what the predictor computes in: fp32 | bf16 | auto (bf16 where the hardware has "
                                 "it)")
    checkpoint: str = doc("runs/train_ac/latest.pt", "a vjepa-train-ac checkpoint")
    output: Optional[str] = doc(None, "JSON results; null: eval_ac.json beside the checkpoint (eval_ac_<name>.json "
                                      "beside <name>.pt)")
    figure: bool = doc(True, "also <output>.png: the errors mapped over the token grid, per baseline and k")
    split: str = doc("val", "val (held-out episodes recorded in the checkpoint) | train | all")
    data_path: Optional[str] = doc(None, "null: the training data.path")
    encoder: Optional[str] = doc(None, "null: the checkpoint's encoder_checkpoint (recipe=end_to_end: the encoder "
                                       "it holds)")
    feature_cache: Optional[str] = doc(None, "null: the training feature cache (rebuilt if missing)")
    context: Optional[int] = doc(None, "ground-truth context steps; null: the training loss.context")
    horizon: int = doc(4, "K: report k-step errors for k = 1..K")
    stride: Optional[int] = doc(None, "between window starts; null: context + horizon (disjoint windows)")
    max_windows: int = doc(2000, "at most this many windows (evenly spaced)")
    batch_size: int = doc(64, "windows per predictor call")
    oracle: bool = doc(False, "also the state oracle: features of the training frame nearest to the target's true "
                              "state (a diagnostic, not an agent: how much of the features the state determines)")
    oracle_frames: int = doc(20000, "training frames (evenly spread) the oracle searches")


register("eval_ac_schema", EvalAC)


def check(cfg: DictConfig) -> None:
    """Every key vjepa-eval-ac reads, checked before any work starts."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    checks.existing_path(cfg, "checkpoint", kind="file")
    checks.existing_path(cfg, "data_path", optional=True, kind="dir")
    checks.existing_path(cfg, "encoder", optional=True)
    checks.choice(cfg, "split", ("val", "train", "all"))
    checks.integers(cfg, ("context", "stride"), low=1, optional=True)
    checks.integers(cfg, ("horizon", "max_windows", "batch_size", "oracle_frames"), low=1)
