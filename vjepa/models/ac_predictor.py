"""The V-JEPA 2-AC action-conditioned predictor: from a frozen encoder's features of frames 0..t, the actions
and the proprioceptive states, predict the features (and the state) of frame t + 1.

Each time step t is one block of L = 2 + h*w tokens, ``[action_t, state_t, patches of frame t]``. Attention is
block-causal: full within a block, causal across blocks, so the patch outputs of block t — the prediction for
step t + 1 — see the inputs of steps <= t only. Planners call ``rollout``: one context, K candidate action
sequences, rolled forward one block at a time against a key/value cache shared by all candidates.

Position: under RoPE, patch tokens rotate by their (t, h, w) coordinates and the action and state tokens by
(t, 0, 0) — a zero angle on the h and w axes is the identity, so this is a time-only rotation for them (as in
the official code). Under ``pos_embed="learned"``, a learned time embedding (per step) plus a learned slot
embedding (per token of a block) are added to the inputs instead.

Feature targets are layer-normalised encoder features (the caller normalises them); with ``norm_output`` the
predictions are layer-normalised the same way, so fed-back predictions look like real inputs in rollouts.

With ``state_decoder`` > 0, an MLP of that width also decodes the predicted next state into a whole frame's
features, added to the feature head's output. Where the proprioceptive state fixes what moves in the image (a
point agent, a robot arm) the frame's features are a sharp function of it that a narrow transformer learns poorly
and a small MLP from the state learns quickly (the demo's measurements: docs/results/). In training its input
state is detached, so the feature loss does not pull the state prediction towards what is easy to decode. Its last
layer has ``tokens_per_frame * embed_dim`` outputs: small for the demo's 16 x 192, large for a big encoder's grid.

V-JEPA 2-AC's released predictor (`vjepa.models.official.load_official_ac_predictor`) runs here with
``rope_style="vjepa2"`` (the RoPE expansion it was trained with) and ``state_update="delta_pose"``: it predicts no
state; in rollouts the next pose follows from the action as its planner computes it (`vjepa.models.pose`: position
and gripper added, the rotation change composed). ``state_update="add_action"`` adds the action to any state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from vjepa.models.blocks import Block, KeyValue, init_weights
from vjepa.models.pos_embed import RopeStyle, RotaryEmbedding3D, grid_coords, table_cache
from vjepa.models.pose import apply_delta_pose


@dataclass(frozen=True)
class Rollout:
    """What a world model predicts for K candidate action sequences of H steps: features (K, H, N, D) and, when the
    model predicts them, proprio states (K, H, S) in env units (None when it does not)."""

    features: Tensor
    states: Tensor | None = None

ACPosEmbed = Literal["rope", "learned"]
StateEmbed = Literal["linear", "fourier"]
FeatureLoss = Literal["l1", "l2"]
StateUpdate = Literal["predict", "add_action", "delta_pose"]
Cache = list[KeyValue]  # one (k, v) per layer, each (B, heads, tokens so far, head_dim)


@table_cache
def block_causal_mask(steps: int, block_len: int, device: torch.device) -> Tensor:
    """Boolean (steps*block_len, steps*block_len) mask, True where a query may attend: keys of its own step
    and of earlier steps."""
    step = torch.arange(steps, device=device).repeat_interleave(block_len)
    return step[:, None] >= step[None, :]


def _check_shapes(sizes: dict[str, int], **tensors: tuple[Tensor, str]) -> dict[str, int]:
    """Check tensors against patterns of named dims ("B T N D"); a name bound in ``sizes`` or by an earlier
    tensor must match. Raises a ValueError naming the tensor, the expected and the actual shape."""
    for name, (x, pattern) in tensors.items():
        dims = pattern.split()
        if x.ndim == len(dims):
            for dim, size in zip(dims, x.shape):
                sizes.setdefault(dim, size)
        expected = [sizes.get(dim, dim) for dim in dims]
        if expected != list(x.shape):
            names, values = ", ".join(dims), ", ".join(map(str, expected))
            raise ValueError(f"{name}: expected shape ({names}) = ({values}), got {tuple(x.shape)}")
    return sizes


class FourierEmbed(nn.Module):
    """``x (..., S) -> Linear([x, sin(f x), cos(f x)])`` with octave frequencies ``f = 2^k π/4`` (k < ``octaves``)
    per input: normalised states of about unit scale become features in which sharp functions of the state — a
    wall the agent stops at — are easy for the predictor to express (a plain linear embedding is smooth)."""

    def __init__(self, in_dim: int, out_dim: int, octaves: int = 6) -> None:
        super().__init__()
        self.register_buffer("freqs", 2.0 ** torch.arange(octaves) * torch.pi / 4, persistent=False)
        self.proj = nn.Linear(in_dim * (1 + 2 * octaves), out_dim)

    def forward(self, x: Tensor) -> Tensor:
        angles = rearrange(x[..., None] * self.freqs, "... s f -> ... (s f)")
        return self.proj(torch.cat([x, angles.sin(), angles.cos()], dim=-1))


class ActionConditionedPredictor(nn.Module):
    """Block-causal transformer over [action, state, frame patches] blocks (V-JEPA 2-AC).

    ``forward(features (B,T,N,D), actions (B,T,A), states (B,T,S)) -> (B,T,N,D), (B,T,S)``: the output at step t
    predicts step t + 1. ``rollout`` and ``unroll`` feed predictions back autoregressively with a KV cache."""

    def __init__(
        self,
        *,
        embed_dim: int,
        predictor_dim: int = 192,
        depth: int = 6,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        action_dim: int = 7,
        state_dim: int = 7,
        grid_hw: tuple[int, int],
        max_steps: int = 64,
        pos_embed: ACPosEmbed = "rope",
        norm_output: bool = True,
        state_embed: StateEmbed = "linear",
        condition_patches: bool = False,
        state_decoder: int = 0,
        rope_style: RopeStyle = "pairs",
        state_update: StateUpdate = "predict",
    ) -> None:
        super().__init__()
        if pos_embed not in ("rope", "learned"):
            raise ValueError(f"pos_embed must be 'rope' or 'learned', got {pos_embed!r}")
        if state_embed not in ("linear", "fourier"):
            raise ValueError(f"state_embed must be 'linear' or 'fourier', got {state_embed!r}")
        needs = {"predict": None, "add_action": (action_dim, action_dim), "delta_pose": (7, 7)}
        if state_update not in needs or needs[state_update] not in (None, (action_dim, state_dim)):
            raise ValueError(f"state_update must be 'predict', 'add_action' (action_dim == state_dim) or 'delta_pose' "
                             f"(7-D poses and actions); got {state_update!r} with action_dim {action_dim}, "
                             f"state_dim {state_dim}")
        self.state_update = state_update
        self.embed_dim = embed_dim
        self.action_dim = action_dim
        self.state_dim = state_dim
        self.grid_hw = tuple(grid_hw)
        self.tokens_per_frame = grid_hw[0] * grid_hw[1]
        self.block_len = 2 + self.tokens_per_frame
        self.max_steps = max_steps
        self.norm_output = norm_output
        self.condition_patches = condition_patches
        self.rope_style = rope_style if pos_embed == "rope" else "-"

        self.feature_embed = nn.Linear(embed_dim, predictor_dim)
        self.action_embed = nn.Linear(action_dim, predictor_dim)
        self.state_embed = (
            nn.Linear(state_dim, predictor_dim) if state_embed == "linear" else FourierEmbed(state_dim, predictor_dim)
        )
        self.blocks = nn.ModuleList(Block(predictor_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(predictor_dim, eps=1e-6)
        self.feature_head = nn.Linear(predictor_dim, embed_dim)
        # the change of state: predicted, or given by the action (added, or as V-JEPA 2-AC's delta pose)
        self.state_head = nn.Linear(predictor_dim, state_dim) if state_update == "predict" else None
        self.apply(init_weights)
        self.state_decoder = None
        if state_decoder > 0:  # next state -> features of all N tokens of the frame
            self.state_decoder = nn.Sequential(
                FourierEmbed(state_dim, state_decoder), nn.GELU(), nn.Linear(state_decoder, state_decoder),
                nn.GELU(), nn.Linear(state_decoder, self.tokens_per_frame * embed_dim),
            )

        if pos_embed == "learned":
            self.time_embed = nn.Parameter(torch.randn(max_steps, predictor_dim) * 0.02)
            self.slot_embed = nn.Parameter(torch.randn(self.block_len, predictor_dim) * 0.02)
            self.register_buffer("rope_cos", None)
            self.register_buffer("rope_sin", None)
        else:
            self.time_embed = self.slot_embed = None
            patches = grid_coords((max_steps, *self.grid_hw)).view(max_steps, self.tokens_per_frame, 3)
            cond = patches[:, :1] * torch.tensor([1, 0, 0])  # (t, 0, 0) for the action and state tokens
            coords = rearrange(torch.cat([cond, cond, patches], dim=1), "t l c -> 1 (t l) c")
            cos, sin = RotaryEmbedding3D(predictor_dim // num_heads, style=rope_style)(coords)  # (1, 1, steps*L, -)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def check_inputs(self, features: Tensor, actions: Tensor, states: Tensor) -> tuple[int, int]:
        """Validate (B,T,N,D), (B,T,A), (B,T,S) inputs; returns (B, T)."""
        sizes = _check_shapes(
            self._sizes(), features=(features, "B T N D"), actions=(actions, "B T A"), states=(states, "B T S")
        )
        if sizes["T"] > self.max_steps:
            raise ValueError(f"sequence of T={sizes['T']} steps exceeds max_steps={self.max_steps}")
        return sizes["B"], sizes["T"]

    def forward(self, features: Tensor, actions: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        """features (B,T,N,D), actions (B,T,A), states (B,T,S) -> predicted features (B,T,N,D) and states
        (B,T,S) of steps 1..T, each from the inputs at steps <= t only."""
        self.check_inputs(features, actions, states)
        x, _ = self._transformer(self._embed(features, actions, states, t0=0), t0=0)
        return self._heads(x, states, actions)

    def unroll(
        self, features: Tensor, actions: Tensor, states: Tensor, detach_feedback: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Autoregressive rollout of a batch of episodes, each from its own context, with a KV cache.

        features (B,Tc,N,D) and states (B,Tc,S) of Tc context steps; actions (B,Tc-1+H,A): the context's own
        actions, then one per predicted step -> predicted features (B,H,N,D) and states (B,H,S) of steps
        Tc..Tc+H-1. Predicted features and states are fed back; differentiable (with ``detach_feedback``, no
        gradient flows through the fed-back features)."""
        sizes = _check_shapes(self._sizes(), features=(features, "B Tc N D"), states=(states, "B Tc S"))
        _check_shapes(sizes, actions=(actions, "B T A"))
        tc, horizon = sizes["Tc"], actions.shape[1] - sizes["Tc"] + 1
        if horizon < 1 or actions.shape[1] > self.max_steps:
            raise ValueError(
                f"actions: expected Tc-1+H steps with Tc={tc}, 1 <= H and Tc-1+H <= max_steps={self.max_steps}, "
                f"got {actions.shape[1]}"
            )
        cache = self._encode_context(features[:, :-1], actions[:, : tc - 1], states[:, :-1])
        return self._unroll(
            cache, features[:, -1:], states[:, -1:], actions[:, tc - 1 :], t0=tc - 1, detach_feedback=detach_feedback
        )

    def rollout(
        self,
        context_features: Tensor,
        context_states: Tensor,
        actions: Tensor,
        context_actions: Tensor | None = None,
        *,
        use_cache: bool = True,
        return_states: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Roll K candidate action sequences forward from one shared context: the planners' inner loop.

        context_features (Tc,N,D), context_states (Tc,S); actions (K,H,A), action i applied at frame Tc-1+i
        (the context's last frame first); context_actions (Tc-1,A), the actions between context frames, needed
        when Tc > 1 -> predicted features (K,H,N,D) of frames Tc..Tc+H-1, predicted states fed back; with
        ``return_states``, also those predicted states (K,H,S). With a leading dim B on all four inputs, B
        episodes' contexts each with their own K candidates, rolled out as one batch of B*K -> (B,K,H,...).

        With ``use_cache`` each context's first Tc-1 steps are encoded once (batch B) and their keys/values
        expanded to its K candidates; each step then computes only the new block's tokens. Without it, the
        whole sequence is recomputed every step (as the official code does). Runs under inference mode unless
        grad is enabled, in which case it stays differentiable (gradient planners)."""
        episodes = actions.ndim == 4
        lead = "B " if episodes else ""
        sizes = _check_shapes(
            self._sizes(),
            context_features=(context_features, lead + "Tc N D"),
            context_states=(context_states, lead + "Tc S"),
            actions=(actions, lead + "K H A"),
        )
        b, tc, num, horizon = sizes.get("B", 1), sizes["Tc"], sizes["K"], sizes["H"]
        if context_actions is None and tc > 1:
            expected = f"({tc - 1}, {self.action_dim})"
            raise ValueError(f"context_actions: expected shape (Tc-1, A) = {expected}, got None")
        if context_actions is None:
            context_actions = actions.new_zeros(*actions.shape[:-3], 0, self.action_dim)
        _check_shapes({"Tc-1": tc - 1, **sizes}, context_actions=(context_actions, lead + "Tc-1 A"))
        if not episodes:
            context_features, context_states = context_features[None], context_states[None]
            context_actions, actions = context_actions[None], actions[None]
        if tc - 1 + horizon > self.max_steps:
            raise ValueError(f"Tc-1+H = {tc - 1 + horizon} steps exceed max_steps={self.max_steps}")

        def per_candidate(x: Tensor) -> Tensor:  # (B, ...) -> (B*K, ...), a view when B = 1
            return x[:, None].expand(b, num, *x.shape[1:]).reshape(b * num, *x.shape[1:])

        flat = rearrange(actions, "b k h a -> (b k) h a")
        with torch.inference_mode(not torch.is_grad_enabled()):
            if use_cache:
                cache = self._encode_context(context_features[:, :-1], context_actions, context_states[:, :-1])
                if cache is not None:
                    cache = [(per_candidate(k), per_candidate(v)) for k, v in cache]
                last_features = per_candidate(context_features[:, -1:])
                last_state = per_candidate(context_states[:, -1:])
                features, states = self._unroll(cache, last_features, last_state, flat, t0=tc - 1)
            else:
                features, states = per_candidate(context_features), per_candidate(context_states)
                all_actions = torch.cat([per_candidate(context_actions), flat], dim=1)
                for i in range(horizon):
                    pred_features, pred_states = self(features, all_actions[:, : tc + i], states)
                    features = torch.cat([features, pred_features[:, -1:]], dim=1)
                    states = torch.cat([states, pred_states[:, -1:]], dim=1)
                features, states = features[:, tc:], states[:, tc:]
            features, states = (x.unflatten(0, (b, num)) if episodes else x for x in (features, states))
            return (features, states) if return_states else features

    def _sizes(self) -> dict[str, int]:
        return {"N": self.tokens_per_frame, "D": self.embed_dim, "A": self.action_dim, "S": self.state_dim}

    def _embed(self, features: Tensor, actions: Tensor, states: Tensor, t0: int) -> Tensor:
        """Inputs of steps t0..t0+T-1 -> tokens (B, T*L, P), each step's block [action, state, patches]; with
        ``condition_patches`` the step's action and state embeddings are also added to each of its patches."""
        action = rearrange(self.action_embed(actions), "b t p -> b t 1 p")
        state = rearrange(self.state_embed(states), "b t p -> b t 1 p")
        patches = self.feature_embed(features)
        if self.condition_patches:
            patches = patches + action + state
        x = torch.cat([action, state, patches], dim=2)
        if self.time_embed is not None:
            x = x + self.time_embed[t0 : t0 + x.shape[1], None] + self.slot_embed
        return rearrange(x, "b t l p -> b (t l) p")

    def _transformer(self, x: Tensor, t0: int, past: Cache | None = None) -> tuple[Tensor, Cache]:
        """Run the blocks on tokens (B, T*L, P) of steps t0..t0+T-1: either a whole sequence (no ``past``,
        block-causal mask) or a single new block attending to all of ``past``. Returns the outputs and the
        cache extended by these tokens' keys/values."""
        steps = x.shape[1] // self.block_len
        rope = None
        if self.rope_cos is not None:
            span = slice(t0 * self.block_len, (t0 + steps) * self.block_len)
            rope = self.rope_cos[:, :, span], self.rope_sin[:, :, span]
        mask = block_causal_mask(steps, self.block_len, x.device) if steps > 1 else None
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, rope, mask, None if past is None else past[i])
            cache.append(kv)
        return x, cache

    def _heads(self, x: Tensor, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Block outputs (B, T*L, P) of steps with ``states`` and ``actions`` (B,T,S/A) -> next-step features
        (B,T,N,D) and states (B,T,S)."""
        x = rearrange(self.norm(x), "b (t l) p -> b t l p", l=self.block_len)
        features = self.feature_head(x[:, :, 2:])
        if self.state_head is not None:
            next_states = states + self.state_head(x[:, :, 1])
        elif self.state_update == "delta_pose":
            next_states = apply_delta_pose(states, actions)
        else:
            next_states = states + actions
        if self.state_decoder is not None:
            decoded = self.state_decoder(next_states.detach() if self.training else next_states)
            features = features + rearrange(decoded, "b t (n d) -> b t n d", n=self.tokens_per_frame)
        if self.norm_output:
            features = F.layer_norm(features, (self.embed_dim,))
        return features, next_states

    def _encode_context(self, features: Tensor, actions: Tensor, states: Tensor) -> Cache | None:
        """KV cache of the steps 0..Tc-2 that precede the last context step, None if there are none."""
        if features.shape[1] == 0:
            return None
        return self._transformer(self._embed(features, actions, states, t0=0), t0=0)[1]

    def _unroll(
        self, cache: Cache | None, features: Tensor, states: Tensor, actions: Tensor, t0: int,
        detach_feedback: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """From the last known step t0 (features (B,1,N,D), states (B,1,S)) and the cache of earlier steps, apply
        actions (B,H,A) one block at a time -> predicted features (B,H,N,D) and states (B,H,S)."""
        pred_features, pred_states = [], []
        for i in range(actions.shape[1]):
            x = self._embed(features, actions[:, i : i + 1], states, t0 + i)
            x, cache = self._transformer(x, t0 + i, cache)
            features, states = self._heads(x, states, actions[:, i : i + 1])
            pred_features.append(features)
            pred_states.append(states)
            if detach_feedback:
                features = features.detach()
        return torch.cat(pred_features, dim=1), torch.cat(pred_states, dim=1)


def _distance(pred: Tensor, target: Tensor, loss: FeatureLoss) -> Tensor:
    if loss == "l1":
        return F.l1_loss(pred, target)
    if loss == "l2":
        return F.mse_loss(pred, target)
    raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")


def teacher_forcing_loss(
    model: ActionConditionedPredictor, features: Tensor, actions: Tensor, states: Tensor, loss: FeatureLoss = "l1"
) -> tuple[Tensor, Tensor]:
    """Predict features[:, 1:] from the ground truth at steps < T-1, in one block-causal pass.

    features (B,T,N,D) are layer-normalised encoder features; actions (B,T,A), states (B,T,S) (the last action
    is unused). Returns (feature loss — L1 or L2 —, L1 loss of the predicted next states)."""
    _, steps = model.check_inputs(features, actions, states)
    if steps < 2:
        raise ValueError(f"teacher forcing needs T >= 2 steps, got T={steps}")
    pred_features, pred_states = model(features[:, :-1], actions[:, :-1], states[:, :-1])
    return _distance(pred_features, features[:, 1:], loss), F.l1_loss(pred_states, states[:, 1:])


def rollout_loss(
    model: ActionConditionedPredictor,
    features: Tensor,
    actions: Tensor,
    states: Tensor,
    context: int = 1,
    steps: int = 2,
    loss: FeatureLoss = "l1",
    detach_feedback: bool = False,
) -> tuple[Tensor, Tensor]:
    """From ``context`` ground-truth steps, predict ``steps`` steps autoregressively (predicted features and
    states fed back, gradients through them) and compare with features[:, context:context+steps], which are
    layer-normalised encoder features, and with the states there. Shapes as in ``teacher_forcing_loss``. With
    ``detach_feedback`` the fed-back features carry no gradient (each step is then trained as a prediction from
    given inputs; on the demo's data this is what lets a ``state_decoder`` learn at all next to the rollout loss).
    Returns (feature loss — L1 or L2 —, L1 loss of the rolled-out states): planners read k-step states too."""
    _, total = model.check_inputs(features, actions, states)
    if context < 1 or steps < 1 or context + steps > total:
        raise ValueError(
            f"rollout needs 1 <= context, 1 <= steps, context + steps <= T; got {context}, {steps}, T={total}"
        )
    pred, pred_states = model.unroll(
        features[:, :context], actions[:, : context + steps - 1], states[:, :context], detach_feedback
    )
    target = slice(context, context + steps)
    return _distance(pred, features[:, target], loss), F.l1_loss(pred_states, states[:, target])


def ac_loss(
    model: ActionConditionedPredictor,
    features: Tensor,
    actions: Tensor,
    states: Tensor,
    *,
    context: int = 1,
    steps: int = 2,
    loss: FeatureLoss = "l1",
    teacher_forcing_weight: float = 1.0,
    rollout_weight: float = 1.0,
    state_weight: float = 1.0,
    detach_feedback: bool = False,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the teacher-forcing and rollout feature losses and of the state losses of both (the
    teacher-forced next state and the rolled-out states, each weighted ``state_weight``) -> (total, detached
    parts)."""
    tf, state = teacher_forcing_loss(model, features, actions, states, loss)
    ro, rollout_state = rollout_loss(model, features, actions, states, context, steps, loss, detach_feedback)
    total = teacher_forcing_weight * tf + rollout_weight * ro + state_weight * (state + rollout_state)
    parts = {"teacher_forcing": tf, "rollout": ro, "state": state, "rollout_state": rollout_state}
    return total, {name: value.detach() for name, value in parts.items()}
