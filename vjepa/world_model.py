"""A trained V-JEPA 2-AC world model behind the planners' `planning.interface.WorldModel`.

``encode`` turns observations into the features the predictor was trained on — each frame resized with
`vjepa.data.transforms.to_model_input` and encoded as a one-frame clip by the frozen encoder, exactly as
`vjepa.data.feature_cache.FeatureCache` does, then (``end_to_end.embedding=pooled``) pooled into one embedding by
the projector trained with it, and normalised by the training `FeatureNorm` (the predictor's feature space).
``rollout`` takes states and actions in env units, normalises them with the training `ActionStats` and runs the
predictor's KV-cached rollout. One predicted step spans ``frame_step`` env steps (the training windows' frame
step).

    wm = load_world_model("runs/train_ac/latest.pt")
    z = wm.encode(frames)                                             # uint8 (B, H, W, 3) -> (B, N, D)
                                                                      # (pooled: (B, 1, D'))
    futures = wm.rollout(z[-2:], states[-2:], actions[-1:], plans)    # plans (K, H, A) -> Rollout
    futures.features, futures.states                                  # (K, H, N, D), (K, H, S)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vjepa.data.ac_dataset import ActionAgg, ActionStats
from vjepa.data.feature_cache import fingerprint
from vjepa.data.transforms import to_model_input
from vjepa.inference import load_encoder
from vjepa.models.ac_predictor import ActionConditionedPredictor, Rollout
from vjepa.models.feature_norm import FeatureNorm
from vjepa.models.official import ac_predictor_from_state_dict, is_official_checkpoint, official_encoder
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.device import autocast_context
from vjepa.train.ac_checkpoint import ACCheckpoint


class JEPAWorldModel(nn.Module):
    """Frozen encoder + action-conditioned predictor + action/state statistics + the predictor's feature
    normalisation (None: layer norm) + the encoder's image size + the frame projector on the encoder's tokens
    (`vjepa.models.frame_embedding.PooledProjector`; None: the tokens as they are); the networks compute in
    ``precision`` (fp32, bf16 or auto, as in training: `vjepa.runtime.device`), and hand back fp32 features and
    states."""

    def __init__(
        self,
        encoder: nn.Module,
        predictor: ActionConditionedPredictor,
        stats: ActionStats,
        image_size: int,
        feature_norm: FeatureNorm | None = None,
        encode_batch_size: int = 64,
        precision: str = "fp32",
        projector: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if len(stats.action_mean) != predictor.action_dim or len(stats.state_mean) != predictor.state_dim:
            raise ValueError(
                f"action/state statistics of dims ({len(stats.action_mean)}, {len(stats.state_mean)}) do not match "
                f"the predictor's action_dim={predictor.action_dim}, state_dim={predictor.state_dim}"
            )
        self.encoder = encoder.eval().requires_grad_(False)
        self.predictor = predictor.eval().requires_grad_(False)  # gradients still reach the actions
        projector = nn.Identity() if projector is None else projector
        self.projector = projector.eval().requires_grad_(False)  # batch norm: its running statistics
        self.stats = stats
        self.feature_norm = feature_norm or FeatureNorm(predictor.tokens_per_frame, predictor.embed_dim, "layer")
        self.image_size = int(image_size)
        self.encode_batch_size = int(encode_batch_size)
        self.precision = precision
        self.action_dim: int = predictor.action_dim
        self.state_dim: int = predictor.state_dim
        self.frame_step: int = int(stats.frame_step)
        self.action_agg: ActionAgg = stats.action_agg
        for name in ("action_mean", "action_std", "state_mean", "state_std"):
            self.register_buffer(name, torch.as_tensor(np.asarray(getattr(stats, name), np.float32)), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.action_mean.device

    def encode(self, frames: Tensor | np.ndarray) -> Tensor:
        """uint8 images (B, H, W, 3), any size (centre square, resized to ``image_size``) -> normalised
        features (B, N, D) (``feature_norm``; with a projector (B, 1, D')), under inference mode."""
        frames = torch.as_tensor(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames: expected uint8 images (B, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
        out = []
        with torch.inference_mode(), autocast_context(self.precision, self.device):
            for chunk in frames.split(self.encode_batch_size):
                clips = to_model_input(chunk.to(self.device)[:, None], self.image_size)
                features = self.projector(self.encoder(clips))  # (b, N, D), or pooled (b, 1, D')
                out.append(self.feature_norm(features.float()))
        return torch.cat(out)

    def normalize_actions(self, actions: Tensor) -> Tensor:
        return (actions - self.action_mean) / self.action_std

    def normalize_states(self, states: Tensor) -> Tensor:
        return (states - self.state_mean) / self.state_std

    def rollout(self, context_features: Tensor, context_states: Tensor, context_actions: Tensor,
                actions: Tensor) -> Rollout:
        """Context features (Tc, N, D) from ``encode``, states (Tc, S) and the actions between the context frames
        (Tc-1, A), all in env units, shared by K candidate action sequences (K, H, A) in env units -> the
        predicted features (K, H, N, D) of the next H steps and the predicted states (K, H, S) in env units. With a
        leading dim B on all four inputs, B episodes' contexts each with their own candidates (B, K, H, A), rolled
        out in one batch -> (B, K, H, ...). Differentiable with respect to ``actions`` when grad is enabled
        (gradient planners)."""
        a, s = self.action_dim, self.state_dim
        if actions.ndim not in (3, 4) or actions.shape[-1] != a:
            raise ValueError(
                f"actions: expected (K, H, A) with A = action_dim = {a} (the world model's action dimension), or "
                f"(B, K, H, A) for B episodes, got shape {tuple(actions.shape)}"
            )
        lead = tuple(actions.shape[:-3])  # () or (B,)
        b = f"{lead[0]}, " if lead else ""
        if context_states.ndim != len(lead) + 2 or context_states.shape[:-2] != lead or context_states.shape[-1] != s:
            raise ValueError(f"context_states: expected ({b}Tc, S) with S = state_dim = {s}, got shape "
                             f"{tuple(context_states.shape)}")
        tc = context_states.shape[-2]
        if context_features.ndim != len(lead) + 3 or context_features.shape[: len(lead) + 1] != (*lead, tc):
            raise ValueError(f"context_features: expected ({b}Tc, N, D) with Tc = {tc} (as context_states), got "
                             f"shape {tuple(context_features.shape)}")
        if context_actions.shape != (*lead, tc - 1, a):
            raise ValueError(f"context_actions: expected ({b}Tc-1, A) = ({b}{tc - 1}, {a}), the actions taken "
                             f"between the context frames, got shape {tuple(context_actions.shape)}")
        device, dtype = self.device, torch.float32
        states = self.normalize_states(context_states.to(device, dtype))
        actions = self.normalize_actions(actions.to(device, dtype))
        context_actions = self.normalize_actions(context_actions.to(device, dtype))
        with autocast_context(self.precision, device):
            features, states = self.predictor.rollout(
                context_features.to(device, dtype), states, actions, context_actions, return_states=True
            )
        return Rollout(features.float(), states.float() * self.state_std + self.state_mean)


def load_world_model(
    ac_checkpoint: str | Path,
    device: str | torch.device = "cpu",
    encoder_checkpoint: str | Path | None = None,
    precision: str = "fp32",
) -> JEPAWorldModel:
    """The world model of a `vjepa-train-ac` checkpoint: its predictor and action statistics, and the frozen
    encoder from the checkpoint's ``encoder_checkpoint`` — the encoder it holds for ``recipe=end_to_end``, and the
    projector too for ``end_to_end.embedding=pooled`` — (or ``encoder_checkpoint`` given here). Warns if that
    encoder's weights differ from the ones the predictor was trained on (fingerprint). V-JEPA 2-AC's released
    ``.pt`` loads too (`official_world_model`, with its defaults). ``precision``: what the networks compute in."""
    contents = load_checkpoint(ac_checkpoint, map_location="cpu")
    if is_official_checkpoint(contents) and "predictor" in contents:  # V-JEPA 2-AC's released .pt
        return official_world_model(contents, device, precision=precision)
    state = ACCheckpoint.from_contents(contents, ac_checkpoint)
    enc_path = Path(encoder_checkpoint or state.encoder_file(ac_checkpoint))
    if not enc_path.is_file():
        raise FileNotFoundError(
            f"encoder checkpoint {enc_path} (recorded in {ac_checkpoint}) not found; "
            "pass load_world_model(..., encoder_checkpoint=PATH)"
        )
    encoder, _ = load_encoder(enc_path, which=state.encoder_which, device=device)
    found = fingerprint(encoder)
    if found != state.fingerprint:
        warnings.warn(
            f"encoder {enc_path} changed since the predictor in {ac_checkpoint} was trained (fingerprint "
            f"{found[:12]} != {state.fingerprint[:12]}); its features may not match the predictor's",
            stacklevel=2,
        )
    predictor, projector = state.build_predictor(), state.build_projector()
    expected = predictor.embed_dim if projector is None else projector.embed_dim  # the encoder's tokens' width
    if encoder.embed_dim != expected:
        raise ValueError(
            f"encoder {enc_path} gives {encoder.embed_dim}-d features, the world model in {ac_checkpoint} expects "
            f"{expected}"
        )
    return JEPAWorldModel(encoder, predictor, state.action_stats, state.image_size, state.feature_norm,
                          precision=precision, projector=projector).to(device)


def official_world_model(
    checkpoint: str | Path | Mapping[str, Any], device: str | torch.device = "cpu", image_size: int = 256,
    frame_step: int = 1, encoder_heads: int | None = None, predictor_heads: int = 16, max_steps: int = 32,
    precision: str = "fp32",
) -> JEPAWorldModel:
    """V-JEPA 2-AC's released world model (its ``.pt``, or its loaded contents): the ViT-g encoder, the
    action-conditioned predictor (see `vjepa.models.official.load_official_ac_predictor`), actions and states in
    its own units (7-D end-effector deltas and poses: no normalisation), features layer-normalised, frames at
    ``image_size`` 256 as released; one predicted step per ``frame_step`` env steps of the caller's robot. Its
    actions are pose changes over one predicted step (``action_agg: pose_delta``), so planners take one action
    per env step, of an env that moves the end effector by them."""
    contents = checkpoint if isinstance(checkpoint, Mapping) else load_checkpoint(checkpoint, map_location="cpu")
    encoder, _ = official_encoder(contents, num_heads=encoder_heads, source=str(checkpoint)[:200])
    side = image_size // encoder.patch_size
    predictor = ac_predictor_from_state_dict(contents["predictor"], predictor_heads, (side, side), max_steps)
    if predictor.embed_dim != encoder.embed_dim:
        raise ValueError(f"the predictor expects {predictor.embed_dim}-d features, the encoder gives "
                         f"{encoder.embed_dim}")
    a, s = predictor.action_dim, predictor.state_dim
    agg = "pose_delta" if predictor.state_update == "delta_pose" else "sum"  # its actions: end-effector pose changes
    stats = ActionStats(np.zeros(a), np.ones(a), np.zeros(s), np.ones(s), frame_step=frame_step,
                        action_agg=agg)  # no normalising
    return JEPAWorldModel(encoder, predictor, stats, image_size, precision=precision).to(device)


__all__ = ["JEPAWorldModel", "load_world_model", "official_world_model"]
