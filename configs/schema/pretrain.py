"""`vjepa-pretrain`'s keys (configs/pretrain.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig

from configs.schema import doc, register
from configs.schema.data import Data, Images, check_data
from configs.schema.keys import refuse_unknown_keys
from configs.schema.mask import Mask
from configs.schema.model import Model, check_model
from configs.schema.optim import Optim, check_optim
from configs.schema.runtime import Runtime
from vjepa.masks import masker_from_config, token_grid
from vjepa.runtime import config_checks as checks


@dataclass
class Sigreg:
    """LeJEPA's SIGReg regulariser (``objective: sigreg``)."""

    weight: float = doc(0.05, "the regulariser's weight in the loss")
    directions: int = doc(256, "random projections it tests per step")


@dataclass
class ContextLoss:
    """V-JEPA 2.1's dense loss on the visible tokens too."""

    weight: float = doc(8.0, "its weight once warmed up; 0: plain V-JEPA")
    warmup: int = doc(50, "steps over which the weight ramps up from 0")


@dataclass
class Pretrain(Runtime):
    """V-JEPA / I-JEPA self-supervised pretraining."""

    run_dir: str = doc("runs/pretrain", "checkpoints, metrics.csv, TensorBoard events, mask picture")
    seed: int = doc(0, "initialisation, clip order, crops and masks")
    master_weights: Any = doc("auto", "under bf16: compute with bf16 weights, fp32 masters in AdamW, the EMA and "
                                      "checkpoints; false: autocast only; auto: true on the CPU, false on GPUs")
    compile: bool = doc(False, "torch.compile the encoders and the predictor (dynamic shapes): for GPUs")
    objective: str = doc("jepa", "jepa (EMA teacher) | sigreg (LeJEPA, no teacher)")
    loss: str = doc("l1", "l1 (V-JEPA) | l2 (I-JEPA)")
    sigreg: Sigreg = doc(Sigreg(), "objective=sigreg's regulariser")
    context_loss: ContextLoss = doc(ContextLoss(), "V-JEPA 2.1's dense loss on the visible tokens")
    steps: int = doc(1000, "optimiser steps of the whole run")
    stop_after: Optional[int] = doc(None, "stop this run early at that step (as if pre-empted); rerun to resume")
    batch_size: int = doc(8, "clips per step and process")
    grad_accum: int = doc(1, "micro-batches per optimiser step")
    num_workers: int = doc(2, "data loader processes")
    resume: bool = doc(True, "continue from run_dir/latest.pt when it exists")
    init_encoder: Optional[str] = doc(None, "start encoder + EMA teacher from these weights (a vjepa-pretrain "
                                            "checkpoint, an official V-JEPA 2 / 2.1 .pt or Hugging Face folder; the "
                                            "model config must match: `vjepa-inspect <weights>` prints it), not on "
                                            "resume")
    init_predictor: Optional[str] = doc(None, "the same for the mask predictor (its head count: "
                                              "model.predictor.num_heads)")
    log_every: int = doc(10, "steps between metrics.csv / TensorBoard rows")
    diag_every: int = doc(50, "steps between embedding diagnostics (collapse checks)")
    ckpt_every: int = doc(100, "steps between checkpoints (run_dir/latest.pt)")
    keep_every: Optional[int] = doc(None, "every N steps also keep the checkpoint as step_XXXXXXX.pt (null: "
                                          "latest.pt only)")
    mask_figure: bool = doc(True, "draw the first batch's masks (run_dir/masks.png)")
    model: Model = doc(Model(), "the encoder and predictor (model=vit_small...)")
    mask: Mask = doc(Mask(), "the masks (mask=vjepa | ijepa)")
    data: Data = doc(Data(), "the training videos or images (data=synthetic | video_folder | image_folder | "
                             "synthetic_images)")
    images: Optional[Images] = doc(None, "images trained beside the videos (images=synthetic | image_folder)")
    optim: Optim = doc(Optim(), "AdamW and its schedules (optim=adamw_cosine | adamw_wsd)")


register("pretrain_schema", Pretrain)


def check(cfg: DictConfig) -> None:
    """Every key pretraining reads, checked before any work starts: a `ConfigError` names the first bad one."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    checks.integer(cfg, "seed", low=0)
    checks.integers(cfg, ("steps", "batch_size", "grad_accum", "log_every", "diag_every", "ckpt_every"), low=1)
    checks.integers(cfg, ("stop_after", "keep_every"), low=1, optional=True)
    checks.integer(cfg, "num_workers", low=0)
    checks.choice(cfg, "master_weights", ("auto", True, False))
    if checks.choice(cfg, "objective", ("jepa", "sigreg")) == "sigreg":
        checks.number(cfg, "sigreg.weight", low=0.0)
        checks.integer(cfg, "sigreg.directions", low=1)
    checks.choice(cfg, "loss", ("l1", "l2"))
    checks.number(cfg, "context_loss.weight", low=0.0)
    checks.integer(cfg, "context_loss.warmup", low=0)
    for key in ("init_encoder", "init_predictor"):
        checks.existing_path(cfg, key, optional=True)
    check_model(cfg)
    streams = ("data",) + (("images",) if cfg.images is not None else ())
    for section in streams:
        check_data(cfg, section)
    check_optim(cfg)
    for section in streams:
        masker = masker_from_config(cfg.mask, token_grid(cfg[section], cfg.model))
        masker.check_feasible(cfg.steps * cfg.batch_size * cfg.grad_accum)  # masks that would leave no context
