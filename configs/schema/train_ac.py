"""`vjepa-train-ac`'s keys (configs/train_ac.yaml) and its start-up checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING, DictConfig

from configs.schema import doc, register
from configs.schema.keys import refuse_unknown_keys
from configs.schema.model import Model, check_model
from configs.schema.optim import Optim, check_optim
from configs.schema.pretrain import Sigreg
from configs.schema.runtime import Runtime
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class AC:
    """The action-conditioned predictor (``ac``; presets: configs/ac/)."""

    dim: int = doc(MISSING, "predictor width (set by the ac preset)")
    depth: int = doc(MISSING, "predictor blocks (set by the ac preset)")
    num_heads: int = doc(MISSING, "attention heads (set by the ac preset)")
    mlp_ratio: float = doc(4.0, "MLP width / predictor width")
    pos_embed: str = doc("rope", "rope (3D RoPE; action/state tokens rotate by time only) | learned")
    state_embed: str = doc("linear", "linear (V-JEPA 2-AC) | fourier (octave sin/cos of the normalised state first)")
    condition_patches: bool = doc(False, "also add each step's action and state embeddings to its patch tokens (as "
                                         "DINO-WM tiles the action onto every patch)")
    state_decoder: Optional[int] = doc(0, "> 0: an MLP of this width decodes the predicted next state into the "
                                          "frame's features (added to the feature head's); 0 or null: none")
    norm_output: Optional[bool] = doc(None, "layer-normalise predictions; null: when the targets are (feature_norm: "
                                            "layer)")
    rope_style: str = doc("pairs", "pairs | vjepa2 (V-JEPA 2-AC's released predictor)")
    state_update: str = doc("predict", "predict (a state head) | add_action (state + action) | delta_pose (the "
                                       "release's 7-D poses)")
    max_steps: int = doc(64, "longest context + rollout the predictor accepts")


@dataclass
class EpisodeData:
    """The robot logs: a vjepa-episodes directory or a LeRobot dataset, cut into windows."""

    path: str = doc(text="a vjepa-episodes directory (vjepa-collect) or a LeRobot dataset")
    camera_key: Optional[str] = doc(None, "LeRobot only: video feature to read (null: the first one)")
    state_key: Any = doc("observation.state", "LeRobot: a column or a list of them, concatenated in order (e.g. an "
                                              "end-effector pose column and a gripper column: [pose_col,gripper_col])")
    action_key: str = doc("action", "LeRobot: the action column")
    num_frames: int = doc(8, "steps per training window")
    frame_step: int = doc(1, "env steps between kept frames")
    action_agg: str = doc("sum", "sum (deltas compose) | stack: the actions between two kept frames | pose_delta: the "
                                 "end-effector pose change between them, from 7-D states [x, y, z, roll, pitch, yaw, "
                                 "gripper] (V-JEPA 2-AC's actions; logged actions unused)")
    stride: int = doc(1, "env steps between training window starts")
    val_fraction: float = doc(0.1, "share of episodes held out (by episode) for the validation loss")
    val_stride: Optional[int] = doc(None, "between held-out window starts; null: num_frames (disjoint windows)")
    normalize: bool = doc(True, "standardise actions and states with the training episodes' statistics; false: as "
                                "they are (V-JEPA 2-AC's released predictor takes them in their own units)")


@dataclass
class ACLoss:
    """Teacher forcing plus an autoregressive rollout, on features and states."""

    kind: str = doc("l1", "l1 (V-JEPA 2-AC) | l2")
    context: int = doc(1, "ground-truth steps before the rollout")
    rollout_steps: int = doc(2, "K autoregressive steps in the rollout loss")
    teacher_forcing_weight: float = doc(1.0, "weight of the teacher-forced loss")
    rollout_weight: float = doc(1.0, "weight of the rollout loss")
    state_weight: float = doc(1.0, "L1 of the predicted (normalised) states: the teacher-forced next state + the "
                                   "rolled-out ones (planners read k-step states)")
    rollout_detach: Optional[bool] = doc(None, "feed predicted features back without gradient (each rollout step is "
                                               "trained as a prediction from given inputs); null: when "
                                               "ac.state_decoder > 0, which does not learn otherwise")


@dataclass
class Vicreg:
    """VICReg's variance and covariance terms on the encoder's features (PLDM)."""

    variance_weight: float = doc(1.0, "weight of the hinge on each channel's std (below 1 is penalised)")
    covariance_weight: float = doc(0.04, "weight of the channels' squared off-diagonal covariances")


EMBEDDINGS = ("tokens", "pooled")


@dataclass
class EndToEnd:
    """``recipe=end_to_end``: what the predictor reads of a frame, and what keeps the jointly trained encoder's
    features from collapsing."""

    embedding: str = doc("tokens", "tokens (the encoder's patch tokens, regularised per token position) | pooled "
                                   "(LeWM: one embedding per frame, the tokens pooled (projector_pool) then "
                                   "projected by an MLP with batch norm; the predictor works on a 1-token frame, "
                                   "the regulariser on the batch's frame embeddings)")
    projector_pool: str = doc("flatten", "embedding=pooled: flatten (the tokens concatenated in grid order: the "
                                         "embedding keeps where each token is) | mean (the tokens averaged)")
    projector_hidden: int = doc(2048, "embedding=pooled: the projector MLP's hidden width")
    projector_dim: Optional[int] = doc(None, "embedding=pooled: the frame embedding's width; null: the encoder's")
    regularizer: str = doc("sigreg", "sigreg (LeWM: LeJEPA's isotropic-Gaussian test) | vicreg (PLDM)")
    sigreg: Sigreg = doc(Sigreg(weight=0.2), "regularizer=sigreg: its weight (4x pretraining's: at 0.05 the pooled "
                                             "embedding dropped what covers few pixels) and random directions per "
                                             "step")
    vicreg: Vicreg = doc(Vicreg(), "regularizer=vicreg: its weights")


RECIPES = ("frozen", "end_to_end")


@dataclass
class TrainAC(Runtime):
    """V-JEPA 2-AC: an action-conditioned predictor trained on a frozen pretrained encoder's features; or
    (``recipe=end_to_end``) the encoder trained with it, LeWM / PLDM style."""

    recipe: str = doc("frozen", "frozen (V-JEPA 2-AC: the encoder's features cached once) | end_to_end (LeWM / "
                                "PLDM: the encoder trained with the predictor on decoded frames, against collapse "
                                "by end_to_end.regularizer)")
    encoder: Optional[str] = doc(MISSING, "a vjepa-pretrain checkpoint (frozen: its encoder makes the features; "
                                          "end_to_end: the encoder starts from it; null: from scratch as model)")
    model: Optional[Model] = doc(None, "end_to_end with encoder=null: the encoder to train from scratch "
                                       "(model=vit_tiny ...; image_size is then required; its mask predictor "
                                       "is not used)")
    end_to_end: EndToEnd = doc(EndToEnd(), "recipe=end_to_end's frame embedding and regulariser")
    encoder_which: str = doc("target_encoder", "the checkpoint's target_encoder (EMA teacher) | encoder "
                                               "(end_to_end: the one it starts from)")
    image_size: Optional[int] = doc(None, "frames are resized to this; null: the encoder's pretraining crop size "
                                          "(end_to_end from scratch: required)")
    feature_cache: Optional[str] = doc(None, "frozen: null: <data.path>/.vjepa_features/<hash of its key>_<size>px (or "
                                             "under run_dir/features/); the key: encoder, image size, precision, "
                                             "camera (a cache given here with another key is rebuilt)")
    cache_batch_size: int = doc(64, "frozen: frames per encoder call while building the cache")
    cache_precision: str = doc("fp32", "what the frozen encoder computes the cached features in: fp32 | bf16 | auto "
                                       "(bf16 where the hardware has it; its own cache directory)")
    feature_norm: Optional[str] = doc(None, "the predictor's feature space: layer (V-JEPA 2-AC: layer norm per "
                                            "token) | standardize (then each token-channel scaled by its std over "
                                            "the training frames; frozen only) | null: standardize (frozen), layer "
                                            "(end_to_end)")
    feature_norm_frames: int = doc(20000, "standardize: training frames (evenly spread over episodes) the "
                                          "statistics are computed on")
    data: EpisodeData = doc(EpisodeData(path=MISSING), "the episodes")
    loss: ACLoss = doc(ACLoss(), "the training loss")
    optim: Optim = doc(Optim(lr=5.0e-4, start_lr=5.0e-5, final_lr=1.0e-6, warmup_steps=100, final_weight_decay=0.04,
                             ema=None), "AdamW and its schedules (no teacher here: ema null)")
    ac: AC = doc(AC(), "the predictor (ac=tiny | vjepa2_ac)")
    run_dir: str = doc("runs/train_ac", "checkpoints, metrics.csv, TensorBoard events")
    seed: int = doc(0, "initialisation, batch order and the episode split")
    master_weights: bool = doc(False, "true: under bf16, bf16 weights with fp32 masters (as pretraining); false: "
                                      "autocast only")
    compile: bool = doc(False, "torch.compile the predictor and its loss (dynamic shapes): for GPUs")
    steps: int = doc(3000, "optimiser steps of the whole run")
    stop_after: Optional[int] = doc(None, "stop this run early at that step (as if pre-empted); rerun to resume")
    batch_size: int = doc(16, "windows per step and process")
    num_workers: int = doc(2, "data loader processes")
    resume: bool = doc(True, "continue from run_dir/latest.pt when it exists")
    init_predictor: Optional[str] = doc(None, "start the predictor from a vjepa-train-ac checkpoint or V-JEPA 2-AC's "
                                              "released .pt (ac.rope_style=vjepa2 ac.state_update=delta_pose "
                                              "data.normalize=false), not on resume")
    log_every: int = doc(10, "steps between metrics.csv / TensorBoard rows")
    val_every: int = doc(200, "steps between validations on the held-out episodes")
    val_max_windows: int = doc(512, "held-out windows per validation (evenly spaced)")
    ckpt_every: int = doc(500, "steps between checkpoints (run_dir/latest.pt)")
    keep_every: Optional[int] = doc(None, "every N steps also keep the checkpoint as step_XXXXXXX.pt (null: "
                                          "latest.pt only)")


register("train_ac_schema", TrainAC)


def feature_norm_mode(cfg: DictConfig) -> str:
    """``feature_norm``, its null resolved by the recipe: standardize (frozen), layer (end_to_end: the fitted
    statistics of a fixed encoder's features do not exist there)."""
    return cfg.feature_norm or ("layer" if cfg.recipe == "end_to_end" else "standardize")


def check(cfg: DictConfig) -> None:
    """Every key train-ac reads, checked before any work starts: a `ConfigError` names the first bad one."""
    refuse_unknown_keys(cfg)  # +key=value adds a key hydra would refuse without the +
    checks.runtime(cfg)
    end_to_end = checks.choice(cfg, "recipe", RECIPES) == "end_to_end"
    if checks.existing_path(cfg, "encoder", optional=end_to_end, kind="file") is None:
        if cfg.model is None:
            raise ConfigError("is null: end_to_end trains an encoder from scratch only with a model", "encoder",
                              "give a vjepa-pretrain checkpoint, or a model preset (model=vit_tiny)")
        check_model(cfg)
        if cfg.image_size is None:
            raise ConfigError("is null: an encoder from scratch has no pretraining crop size", "image_size",
                              "set it (a multiple of model.patch_size)")
        checks.multiple_of(cfg, "image_size", cfg.model.patch_size, "model.patch_size")
    if end_to_end:
        if checks.choice(cfg, "end_to_end.embedding", EMBEDDINGS) == "pooled":
            checks.choice(cfg, "end_to_end.projector_pool", ("mean", "flatten"))
            checks.integer(cfg, "end_to_end.projector_hidden", low=1)
            checks.integer(cfg, "end_to_end.projector_dim", low=1, optional=True)
        if checks.choice(cfg, "end_to_end.regularizer", ("sigreg", "vicreg")) == "sigreg":
            checks.number(cfg, "end_to_end.sigreg.weight", low=0.0)
            checks.integer(cfg, "end_to_end.sigreg.directions", low=1)
        else:
            checks.number(cfg, "end_to_end.vicreg.variance_weight", low=0.0)
            checks.number(cfg, "end_to_end.vicreg.covariance_weight", low=0.0)
    checks.existing_path(cfg, "data.path", kind="dir")
    checks.existing_path(cfg, "init_predictor", optional=True, kind="file")
    checks.choice(cfg, "encoder_which", ("target_encoder", "encoder"))
    checks.integer(cfg, "image_size", low=1, optional=True)
    checks.integers(cfg, ("cache_batch_size", "feature_norm_frames"), low=1)
    checks.choice(cfg, "cache_precision", ("auto", "fp32", "bf16"))
    checks.choice(cfg, "feature_norm", ("layer",) if end_to_end else ("layer", "standardize"), optional=True)
    checks.integer(cfg, "seed", low=0)
    checks.integers(cfg, ("steps", "batch_size", "log_every", "val_every", "val_max_windows", "ckpt_every"), low=1)
    checks.integers(cfg, ("stop_after", "keep_every"), low=1, optional=True)
    checks.integer(cfg, "num_workers", low=0)
    num_frames = checks.integer(cfg, "data.num_frames", low=2)
    checks.integers(cfg, ("data.frame_step", "data.stride"), low=1)
    checks.integer(cfg, "data.val_stride", low=1, optional=True)
    checks.choice(cfg, "data.action_agg", ("sum", "stack", "pose_delta"))
    checks.number(cfg, "data.val_fraction", low=0.0, high=0.99)
    checks.choice(cfg, "loss.kind", ("l1", "l2"))
    context, rollout = checks.integer(cfg, "loss.context", low=1), checks.integer(cfg, "loss.rollout_steps", low=0)
    if context + rollout > num_frames:
        raise ConfigError(f"loss.context + loss.rollout_steps = {context + rollout} exceeds data.num_frames = "
                          f"{num_frames}", "loss.rollout_steps", "lower it or raise data.num_frames")
    for key in ("teacher_forcing_weight", "rollout_weight", "state_weight"):
        checks.number(cfg, f"loss.{key}", low=0.0)
    checks.integers(cfg, (f"ac.{k}" for k in ("dim", "depth", "num_heads", "max_steps")), low=1)
    checks.multiple_of(cfg, "ac.dim", cfg.ac.num_heads, "ac.num_heads")
    checks.number(cfg, "ac.mlp_ratio", low=0.0, above=True)
    checks.choice(cfg, "ac.pos_embed", ("rope", "learned"))
    checks.choice(cfg, "ac.state_embed", ("linear", "fourier"))
    checks.integer(cfg, "ac.state_decoder", low=0, optional=True)
    checks.choice(cfg, "ac.rope_style", ("pairs", "vjepa2"))
    checks.choice(cfg, "ac.state_update", ("predict", "add_action", "delta_pose"))
    check_optim(cfg)
