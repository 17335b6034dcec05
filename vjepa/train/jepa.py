"""The JEPA training module: context encoder + predictor, trained against a target encoder in latent space.

    target_encoder(clips) ─► layer norm ─► gather(target_idx) ──────────────┐
    encoder(clips, context_idx) ─► predictor(·, context_idx, target_idx) ─► loss (L1 / L2)

With ``objective="jepa"`` the target encoder is an EMA copy of the encoder that never receives gradients
(V-JEPA / I-JEPA). With ``objective="sigreg"`` there is no teacher: targets come from the encoder itself on the
full clip, and SIGReg keeps the embeddings from collapsing (LeJEPA).

With ``context_weight`` > 0 (V-JEPA 2.1's dense predictive loss) the predictor's outputs at the visible tokens are
scored against the targets there too, each token weighted 1/√(distance to the nearest masked token), and added
to the masked-token loss times ``context_weight`` (which the loop warms up).

With a predictor built for ``levels`` > 1 (V-JEPA 2.1's deep self-supervision, ``model.levels``) both encoders
are read after ``levels`` evenly spaced blocks (`deep_levels`, or the blocks ``level_blocks`` names; the output
last), concatenated on channels: the predictor fuses the context's levels and predicts the target encoder's at
every level, each layer-normalised, the loss averaging over them. The encoder itself is unchanged: downstream code
reads its output as before.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from vjepa.models import MaskPredictor, VisionTransformer, gather_tokens
from vjepa.models.vit import block_diagonal_mask, deep_levels
from vjepa.train.objectives import LossName, context_token_weights, layer_norm_targets, prediction_loss, sigreg

Objective = Literal["jepa", "sigreg"]
MaskPairs = list[tuple[Tensor, Tensor]]


PACKING_WASTE = 0.02  # pack mask groups' contexts when the extra attention is under 2% of the blocks' FLOPs


def pack_contexts(lengths: list[int], dim: int, device: torch.device) -> bool:
    """Whether to encode contexts of ``lengths`` tokens in one packed pass (CPU only: on CUDA a mask would keep
    attention off the flash kernels). A block costs about 24·L·D² FLOPs in its linear layers and 4·L²·D in
    attention; packing adds 4·D·(L² − Σ Nc²) of masked-out attention."""
    total = sum(lengths)
    wasted = (total**2 - sum(n * n for n in lengths)) / (6 * dim * total)
    return device.type == "cpu" and wasted < PACKING_WASTE


class JEPA(nn.Module):
    def __init__(
        self,
        encoder: VisionTransformer,
        predictor: MaskPredictor,
        objective: Objective = "jepa",
        loss: LossName = "l1",
        sigreg_weight: float = 0.05,
        sigreg_directions: int = 256,
        context_weight: float = 0.0,
        level_blocks: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if objective not in ("jepa", "sigreg"):
            raise ValueError(f"objective must be 'jepa' or 'sigreg', got {objective!r}")
        levels = predictor.levels  # the predictor was built to fuse (and predict) this many encoder levels
        if levels > 1 and objective == "sigreg":
            raise ValueError("deep self-supervision (levels > 1) needs the teacher: objective='jepa'")
        self.encoder = encoder
        self.predictor = predictor
        self.objective = objective
        self.loss = loss
        self.sigreg_weight = sigreg_weight
        self.sigreg_directions = sigreg_directions
        self.context_weight = context_weight  # dense loss weight; the training loop may change it per step
        if level_blocks is None:
            level_blocks = deep_levels(len(encoder.blocks), levels) if levels > 1 else ()
        if max(len(level_blocks), 1) != levels:
            raise ValueError(f"the predictor reads {levels} encoder levels, level_blocks names {tuple(level_blocks)}")
        self.levels = tuple(level_blocks)  # block counts read
        self.target_encoder = None
        if objective == "jepa":
            self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)

    def targets(self, clips: Tensor) -> Tensor:
        """Layer-normalised features of every token, (B, N, D) (levels * D with deep self-supervision): the
        prediction targets."""
        if self.target_encoder is None:  # SIGReg: the encoder is its own teacher, gradients flow
            return self.encoder(clips)
        with torch.inference_mode():  # no autograd bookkeeping at all (cheaper than no_grad)
            return layer_norm_targets(self.target_encoder(clips, levels=self.levels), max(len(self.levels), 1))

    def contexts(self, clips: Tensor, context_idx: list[Tensor]) -> list[Tensor]:
        """Context features per mask group, (B, Nc_g, D) each.

        Short contexts go through the encoder in one pass, packed into one sequence with a block-diagonal
        attention mask so that each group still attends only to itself: the same function as one pass per group
        with half the kernel launches, which is what short sequences on a CPU are bound by. Packing makes
        attention cost (sum Nc)² instead of sum Nc², so it is used only where that waste is small
        (``pack_contexts``)."""
        lengths = [idx.shape[1] for idx in context_idx]
        if len(lengths) > 1 and pack_contexts(lengths, self.encoder.embed_dim, clips.device):
            mask = block_diagonal_mask(lengths, clips.device)
            packed = self.encoder(clips, torch.cat(context_idx, dim=1), attn_mask=mask, levels=self.levels)
            return list(packed.split(lengths, dim=1))
        return [self.encoder(clips, idx, levels=self.levels) for idx in context_idx]

    def forward(
        self, clips: Tensor, masks: MaskPairs, sigreg_generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """clips (B, C, T, H, W) and one (context_idx, target_idx) pair per mask group -> (loss, parts)."""
        grid, image = self.encoder.grid(clips), self.encoder.is_image(clips)
        targets = self.targets(clips)
        contexts = self.contexts(clips, [context_idx for context_idx, _ in masks])
        dense = self.context_weight > 0
        pred_loss, context_loss = clips.new_zeros(()), clips.new_zeros(())
        for group, (context, (context_idx, target_idx)) in enumerate(zip(contexts, masks)):
            pred = self.predictor(context, context_idx, target_idx, grid, predict_context=dense, mask_index=group,
                                  image=image)
            pred = pred.float()
            if dense:
                context_pred, pred = pred.split([context_idx.shape[1], target_idx.shape[1]], dim=1)
                weight = context_token_weights(context_idx, target_idx, grid)
                target = gather_tokens(targets, context_idx).float()
                context_loss = context_loss + prediction_loss(context_pred, target, self.loss, weight)
            pred_loss = pred_loss + prediction_loss(pred, gather_tokens(targets, target_idx).float(), self.loss)
        pred_loss = pred_loss / len(masks)
        parts = {"loss_pred": pred_loss.detach(), "targets": targets[..., -self.encoder.embed_dim :].detach()}
        loss = pred_loss
        if dense:
            context_loss = context_loss / len(masks)
            parts["loss_context"] = context_loss.detach()
            loss = loss + self.context_weight * context_loss
        if self.target_encoder is None:  # SIGReg in place of the teacher
            reg = sigreg(targets.flatten(0, 1), self.sigreg_directions, sigreg_generator)
            parts["loss_sigreg"] = reg.detach()
            loss = loss + self.sigreg_weight * reg
        return loss, parts
