"""Training objectives: the JEPA latent prediction loss, V-JEPA 2.1's distance weights for its dense (context-token)
loss, SIGReg (LeJEPA's isotropic-Gaussian regulariser), VICReg's variance and covariance terms, the
action-conditioned predictor's losses (`ACObjective`) and those with the encoder trained too (`EndToEndObjective`,
LeWM / PLDM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from vjepa.data.transforms import to_model_input
from vjepa.models.ac_predictor import ActionConditionedPredictor, ac_loss
from vjepa.models.feature_norm import FeatureNorm
from vjepa.models.pos_embed import Grid, grid_coords

LossName = Literal["l1", "l2"]


def prediction_loss(pred: Tensor, target: Tensor, loss: LossName = "l1", token_weight: Tensor | None = None) -> Tensor:
    """Mean L1 (V-JEPA) or squared L2 (I-JEPA) distance between predicted and target token features (B, N, D);
    with ``token_weight`` (B, N), each token's distance is scaled by its weight before the mean."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if loss == "l1":
        distance = (pred - target).abs()
    elif loss == "l2":
        distance = (pred - target).pow(2)
    else:
        raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
    return distance.mean() if token_weight is None else (distance.mean(-1) * token_weight).mean()


def context_token_weights(context_idx: Tensor, target_idx: Tensor, grid: Grid) -> Tensor:
    """V-JEPA 2.1's dense-loss weights, (B, Nc): 1/√d_min for each context token, d_min its Euclidean distance in
    the (t, h, w) token grid to the nearest target (masked) token of its sample, so that visible tokens next to
    the masked region count most."""
    coords = grid_coords(grid, context_idx.device).float()  # (N, 3)
    distance = torch.cdist(coords[context_idx], coords[target_idx])  # (B, Nc, Nt)
    return distance.amin(-1).clamp_min(1.0).rsqrt()


def sigreg(
    embeddings: Tensor,
    num_directions: int = 256,
    generator: torch.Generator | None = None,
    num_knots: int = 17,
    t_max: float = 3.0,
) -> Tensor:
    """SIGReg: mean Epps–Pulley normality statistic of ``embeddings`` (N, D) along random unit directions; of
    (..., N, D), the mean over the leading dims of each set's statistic (the same directions for all).

    Each 1-D projection x (N,) is compared with a standard Gaussian through its empirical characteristic
    function: N · ∫ w(t) |φ̂(t) − e^{−t²/2}|² dt with w(t) = e^{−t²/2}, integrated over t ∈ [−t_max, t_max]
    by the trapezoidal rule on ``num_knots`` knots of [0, t_max] (the integrand is even). Zero for an isotropic
    standard Gaussian, large for collapsed or anisotropic embeddings. Cost O(N · D · directions).
    """
    n, d = embeddings.shape[-2:]
    directions = torch.randn(d, num_directions, generator=generator, device="cpu").to(embeddings)
    directions = directions / directions.norm(dim=0, keepdim=True)
    x = embeddings.float() @ directions.float()  # (..., N, M)
    t = torch.linspace(0.0, t_max, num_knots, device=x.device)
    tx = x.unsqueeze(-1) * t  # (..., N, M, knots)
    gauss = torch.exp(-0.5 * t.square())
    error = (tx.cos().mean(-3) - gauss).square() + tx.sin().mean(-3).square()  # (..., M, knots)
    integral = 2.0 * torch.trapezoid(error * gauss, t, dim=-1)  # symmetric in t
    return n * integral.mean()


def vicreg(embeddings: Tensor, eps: float = 1e-4) -> tuple[Tensor, Tensor]:
    """VICReg's regularisers of ``embeddings`` (N, D), or of (..., N, D) averaged over the leading dims:
    (variance: mean hinge max(0, 1 - std) over channels, covariance: the squared off-diagonal covariances summed,
    / D)."""
    x = embeddings.float()
    x = x - x.mean(-2, keepdim=True)
    variance = F.relu(1.0 - (x.var(-2) + eps).sqrt()).mean()
    cov = (x.transpose(-1, -2) @ x) / max(x.shape[-2] - 1, 1)  # (..., D, D)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    return variance, off_diagonal.square().sum((-2, -1)).mean() / x.shape[-1]


def layer_norm_targets(features: Tensor, levels: int = 1) -> Tensor:
    """Targets are the target encoder's features, layer-normalised over channels (as in V-JEPA); with ``levels``
    concatenated encoder levels (..., levels * D), each level on its own."""
    x = features.unflatten(-1, (levels, -1))
    return F.layer_norm(x, x.shape[-1:]).flatten(-2)


class ACObjective(nn.Module):
    """The predictor plus its loss, as one module so DDP sees a single forward:
    ``forward(features (B,T,N,D) raw cached, actions (B,T,A), states (B,T,S) normalised) -> (loss, parts)``;
    features are normalised here by ``feature_norm`` (the predictor's target space)."""

    def __init__(
        self, predictor: ActionConditionedPredictor, feature_norm: FeatureNorm, loss_cfg: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.predictor = predictor
        self.feature_norm = feature_norm
        self.loss_kwargs = {
            "context": int(loss_cfg["context"]),
            "steps": int(loss_cfg["rollout_steps"]),
            "loss": loss_cfg["kind"],
            "teacher_forcing_weight": float(loss_cfg["teacher_forcing_weight"]),
            "rollout_weight": float(loss_cfg["rollout_weight"]),
            "state_weight": float(loss_cfg["state_weight"]),
            "detach_feedback": bool(
                predictor.state_decoder is not None if loss_cfg["rollout_detach"] is None
                else loss_cfg["rollout_detach"]
            ),
        }

    def forward(self, features: Tensor, actions: Tensor, states: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.feature_norm(features)
        return ac_loss(self.predictor, features, actions, states, **self.loss_kwargs)


class EndToEndObjective(nn.Module):
    """The encoder trained with the predictor (LeWM / PLDM): ``forward(frames (B,T,H,W,3) uint8, actions, states,
    generator) -> (loss, parts)``. Each frame is encoded as a one-frame clip at ``image_size`` (as
    `vjepa.world_model.JEPAWorldModel.encode` does), its tokens then, with a ``projector``
    (`vjepa.models.frame_embedding.PooledProjector`, LeWM), pooled into one embedding; the AC loss (`ACObjective`)
    runs on those features, the targets being the same online features with their gradient (LeWM: no
    stop-gradient, no EMA teacher), plus a regulariser on the raw features of each token position over the batch's
    frames (N sets of B*T samples, D; pooled: one set of B*T embeddings), averaged: SIGReg (``sigreg``: weight,
    directions, LeWM) or VICReg's variance and covariance terms (``vicreg``, PLDM). Per token position, a patch
    that shows the same background in every frame must still carry what differs between the frames; one
    embedding per frame has no such patch. ``generator`` draws SIGReg's directions."""

    def __init__(self, encoder: nn.Module, ac: ACObjective, image_size: int, regularizer: Mapping[str, Any],
                 projector: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder, self.ac, self.image_size = encoder, ac, int(image_size)
        self.projector = nn.Identity() if projector is None else projector
        self.regularizer = str(regularizer["regularizer"])
        if self.regularizer not in ("sigreg", "vicreg"):
            raise ValueError(f"regularizer must be 'sigreg' or 'vicreg', got {self.regularizer!r}")
        self.settings = {key: float(value) for key, value in regularizer[self.regularizer].items()}

    def encode(self, frames: Tensor) -> Tensor:
        """uint8 frames (B, T, H, W, 3) -> raw encoder features (B, T, N, D), or (B, T, 1, D') projected."""
        clips = to_model_input(rearrange(frames, "b t h w c -> (b t) 1 h w c"), self.image_size)
        features = self.projector(self.encoder(clips))  # (B*T, N, D) or (B*T, 1, D'): BatchNorm over all frames
        return rearrange(features, "(b t) n d -> b t n d", b=frames.shape[0])

    def forward(self, frames: Tensor, actions: Tensor, states: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.encode(frames)
        loss, parts = self.ac(features, actions, states)
        tokens = rearrange(features, "b t n d -> n (b t) d")  # each token position over the batch's frames
        if self.regularizer == "sigreg":
            reg = sigreg(tokens, int(self.settings["directions"]), generator)
            parts["sigreg"] = reg.detach()
            return loss + self.settings["weight"] * reg, parts
        variance, covariance = vicreg(tokens)
        parts["variance"], parts["covariance"] = variance.detach(), covariance.detach()
        return (loss + self.settings["variance_weight"] * variance
                + self.settings["covariance_weight"] * covariance), parts
