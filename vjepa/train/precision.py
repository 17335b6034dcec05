"""What a training step updates, and in what precision: the model's own parameters (`Weights`), or bf16 weights
with fp32 masters (`MasterWeights`); `training_weights` picks one (the precision itself: `vjepa.runtime.device`)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from vjepa.runtime.device import resolve_precision
from vjepa.train.ema import ema_update


class Weights:
    """What a training step updates, and how: here the model's own parameters (fp32, or fp32 under autocast).
    Each step calls, in order: `collect_grads` after every backward, `step` (`all_reduce_grads`, `clip_grad_norm_`,
    the optimiser's step on `groups`, `zero_grad`), `ema_update`, `sync`; checkpoints save `state_dict`.
    `MasterWeights` is the same step with bf16 weights and fp32 masters."""

    reduces_grads = False  # whether `all_reduce_grads` averages over processes (else DistributedDataParallel does)

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.model_params = list(model.parameters())

    def groups(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The optimiser's groups, given groups of model parameters."""
        return groups

    def collect_grads(self) -> None:
        """Called after each backward."""

    def all_reduce_grads(self) -> None:
        """Called once per step, after the last backward."""

    def clip_grad_norm_(self, max_norm: float) -> Tensor:
        """Scale the gradients to a total 2-norm of at most ``max_norm``; returns the norm before."""
        return torch.nn.utils.clip_grad_norm_(self.model_params, max_norm)

    def zero_grad(self) -> None:
        for p in self.model_params:
            p.grad = None

    def step(self, optimizer: torch.optim.Optimizer, grad_clip: float | None) -> Tensor:
        """After the step's last backward: gradients all-reduced, clipped to norm ``grad_clip`` (None: not
        clipped), the optimiser's step, gradients zeroed; returns their norm before clipping."""
        self.all_reduce_grads()
        grad_norm = self.clip_grad_norm_(grad_clip or float("inf"))
        optimizer.step()
        self.zero_grad()
        return grad_norm

    def ema_update(self, target: nn.Module, online: nn.Module, momentum: float) -> None:
        ema_update(target, online, momentum)

    def sync(self) -> None:
        """Called after the optimiser step and the EMA: bring the weights the model computes with up to date."""

    def broadcast(self) -> None:
        """Called once before training, under torch.distributed: start every process from rank 0's weights."""

    def state_dict(self, module: nn.Module) -> dict[str, Tensor]:
        """``module``'s weights to checkpoint, in full precision."""
        return module.state_dict()


def training_weights(
    model: nn.Module, precision: str, master_weights: bool | str, device: torch.device
) -> Weights:
    """`MasterWeights` where ``precision`` resolves to bf16 and ``master_weights`` is on, else `Weights`.
    ``master_weights="auto"``: on for the CPU, where they measured faster than autocast (docs/performance.md); off
    for GPUs, where they are unmeasured and autocast under DistributedDataParallel overlaps the gradients' all-reduce
    with the backward (the masters' one all-reduce waits for it)."""
    if master_weights == "auto":
        master_weights = device.type == "cpu"
    elif not isinstance(master_weights, bool):
        raise ValueError(f"master_weights must be auto, true or false, got {master_weights!r}")
    if master_weights and resolve_precision(precision, device) == "bf16":
        return MasterWeights(model)
    return Weights(model)


def bf16_params(model: nn.Module) -> list[nn.Parameter]:
    """The parameters `MasterWeights` keeps in bf16: those bf16 autocast casts wherever they are used, every matrix
    (weights of linear layers, convolutions, embeddings used in matmuls) and the biases of linear and convolution
    layers (autocast casts those at every use anyway: the same forward)."""
    biases = {id(m.bias) for m in model.modules()
              if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) and m.bias is not None}
    return [p for p in model.parameters() if p.ndim >= 2 or id(p) in biases]


class MasterWeights(Weights):
    """bf16 weights to compute with, fp32 master weights to train ("bf16 weights, fp32 masters").

    Autocast keeps fp32 weights and casts each to bf16 wherever it is used, every step, and each gradient back;
    here the model's weight matrices and linear biases (`bf16_params`) themselves become bf16 (views into one flat
    buffer), and an fp32 master of every parameter (views into one flat fp32 buffer, in the model's parameter
    order) is what AdamW updates, the EMA averages and checkpoints hold. Per step: backward leaves bf16 gradients,
    `collect_grads` adds them to the masters' flat fp32 gradient (after every backward of the step, so
    micro-batches and streams sum in fp32), `clip_grad_norm_` clips that one buffer, AdamW steps the masters,
    `sync` rounds them into the model (one copy), `ema_update` averages one flat slice into another. Buffers keep
    their dtype. ``python -m benchmarks.pretrain_step --precisions bf16,bf16-autocast --paired 24`` times it against
    autocast in paired runs (fewer casts and per-tensor ops).
    """

    reduces_grads = True

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__(model)
        self.index = {id(p): i for i, p in enumerate(self.model_params)}
        sizes = [p.numel() for p in self.model_params]
        device = self.model_params[0].device
        self.flat = torch.cat([p.detach().reshape(-1).float() for p in self.model_params])  # fp32 masters
        self.flat_grad = torch.zeros_like(self.flat)
        self.masters = [
            nn.Parameter(piece.view_as(p), requires_grad=p.requires_grad)
            for piece, p in zip(self.flat.split(sizes), self.model_params)
        ]
        for master, grad in zip(self.masters, self.flat_grad.split(sizes)):
            if master.requires_grad:
                master.grad = grad.view_as(master)
        self.model_flat = self.flat.to(device=device, dtype=dtype)
        cast = {id(p) for p in bf16_params(model)}
        for p, piece, master in zip(self.model_params, self.model_flat.split(sizes), self.masters):
            # what autocast would cast to bf16 at every use (matrices, the biases of linear layers) is bf16; the
            # rest (norms' gains and biases) stays the fp32 masters themselves, as autocast leaves it: a gain near
            # 1 in bf16 moves in steps of 1/128
            p.data = piece.view_as(p) if id(p) in cast else master.data
        self.offsets = [0, *itertools.accumulate(sizes)]
        trainable = [i for i, p in enumerate(self.model_params) if p.requires_grad]
        if not trainable:
            raise ValueError("MasterWeights: the model has no trainable parameters")
        self.graded = self.model_params[trainable[0] : trainable[-1] + 1]  # frozen ones in between add zeros
        self.grad_span = slice(self.offsets[trainable[0]], self.offsets[trainable[-1] + 1])
        self._zeros: dict[tuple[int, torch.dtype], Tensor] = {}  # for parameters a backward did not reach
        self._grads_zero = True
        self._spans: dict[int, slice] = {}  # id(module) -> its slice of the flat buffers (`span`)

    def master(self, param: Tensor) -> nn.Parameter:
        """The fp32 master of a model parameter."""
        return self.masters[self.index[id(param)]]

    def groups(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Optimiser groups of model parameters -> the same groups of their masters."""
        return [{**group, "params": [self.master(p) for p in group["params"]]} for group in groups]

    def span(self, module: nn.Module) -> slice:
        """The slice of the flat buffers that holds ``module``'s parameters (which must be consecutive); found once
        per module (the EMA asks every step)."""
        if id(module) not in self._spans:
            indices = [self.index[id(p)] for p in module.parameters()]
            first, last = indices[0], indices[-1]
            if last - first + 1 != len(indices):
                raise ValueError("the module's parameters are not consecutive in the model's parameter order")
            self._spans[id(module)] = slice(self.offsets[first], self.offsets[last + 1])
        return self._spans[id(module)]

    @torch.no_grad()
    def collect_grads(self) -> None:
        """Add the model's (bf16) gradients to the masters' fp32 gradient and clear them."""
        grads = [p.grad.reshape(-1) if p.grad is not None else self._zero(p) for p in self.graded]
        if self._grads_zero:  # the step's first backward: written in place, converted on the way
            torch.cat(grads, out=self.flat_grad[self.grad_span])
            self._grads_zero = False
        else:
            self.flat_grad[self.grad_span].add_(torch.cat(grads))
        for p in self.graded:
            p.grad = None

    def _zero(self, p: Tensor) -> Tensor:
        key = (p.numel(), p.dtype)
        if key not in self._zeros:
            self._zeros[key] = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
        return self._zeros[key]

    def zero_grad(self) -> None:
        self._grads_zero = True  # no pass over the buffer: the next `collect_grads` overwrites it

    def all_reduce_grads(self) -> None:
        """Average the master gradients over processes (one all-reduce; no-op outside torch.distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            grads = self.flat_grad[self.grad_span]
            torch.distributed.all_reduce(grads)
            grads.div_(torch.distributed.get_world_size())

    def broadcast(self) -> None:
        """Make every process start from rank 0's weights (as DistributedDataParallel does), then `sync`."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(self.flat, 0)
            self.sync()

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> Tensor:
        """The total 2-norm of the master gradients, which are scaled to at most ``max_norm`` (as
        `torch.nn.utils.clip_grad_norm_`)."""
        grads = self.flat_grad[self.grad_span]
        norm = grads.norm()
        if math.isfinite(max_norm):
            grads.mul_((max_norm / (norm + 1e-6)).clamp(max=1.0))
        return norm

    @torch.no_grad()
    def sync(self) -> None:
        """Round the masters into the model's weights."""
        self.model_flat.copy_(self.flat)

    @torch.no_grad()
    def ema_update(self, target: nn.Module, online: nn.Module, momentum: float) -> None:
        """target ← momentum · target + (1 − momentum) · online on the masters (one op); `sync` after."""
        target_span, online_span = self.span(target), self.span(online)
        if target_span.stop - target_span.start != online_span.stop - online_span.start:
            raise ValueError("target and online modules have different parameter lists")
        self.flat[target_span].lerp_(self.flat[online_span], 1.0 - momentum)

    def state_dict(self, module: nn.Module) -> dict[str, Tensor]:
        """``module.state_dict()`` with the fp32 masters in place of its parameters."""
        state = module.state_dict()
        for name, p in module.named_parameters():
            state[name] = self.master(p).detach().clone()
        return state
