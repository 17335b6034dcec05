"""bf16 weights with fp32 masters (`MasterWeights`): the same training step as autocast over fp32 weights, in
fewer ops."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.test_performance_switches import equal_length_masks, relative_error, small_jepa
from vjepa.train.ema import ema_update
from vjepa.train.loop import adamw, param_groups
from vjepa.train.precision import MasterWeights, Weights, bf16_params, training_weights


def training_step(jepa, weights, optimizer, clips, masks) -> torch.Tensor:
    """One step in the pretraining loop's order, under bf16 autocast on the clips' device; returns the loss."""
    with torch.autocast(clips.device.type, dtype=torch.bfloat16):
        loss, _ = jepa(clips, masks)
    loss.backward()
    weights.collect_grads()
    weights.all_reduce_grads()
    weights.clip_grad_norm_(1.0)
    optimizer.step()
    weights.zero_grad()
    weights.ema_update(jepa.target_encoder, jepa.encoder, 0.9)
    weights.sync()
    return loss.detach()


def train(jepa, weights, steps=3):
    """``steps`` training steps on the model's device; returns the losses."""
    device = next(jepa.parameters()).device
    optimizer = adamw(weights.groups(param_groups(jepa)), lr=1e-3)
    clips = torch.randn(4, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    masks = [equal_length_masks(4, seed=step, device=device) for step in range(steps)]
    return [training_step(jepa, weights, optimizer, clips, masks[step]).item() for step in range(steps)]


def flat(state):
    return torch.cat([value.float().reshape(-1) for value in state.values()])


def test_master_weights_train_as_autocast_does(device):
    autocast_jepa, master_jepa = small_jepa().to(device), small_jepa().to(device)
    initial = {m: flat(getattr(autocast_jepa, m).state_dict()) for m in ("encoder", "predictor", "target_encoder")}
    autocast_losses = train(autocast_jepa, Weights(autocast_jepa))
    masters = MasterWeights(master_jepa)
    master_losses = train(master_jepa, masters)

    # the same forward as autocast (matrices and biases rounded to bf16 the same way, norms in fp32): the same losses
    # up to the gradients of weights used twice (the predictor, once per mask group), summed in bf16 here
    torch.testing.assert_close(torch.tensor(master_losses), torch.tensor(autocast_losses), rtol=1e-4, atol=0)
    for module, before in initial.items():
        trained = masters.state_dict(getattr(master_jepa, module))
        reference = getattr(autocast_jepa, module).state_dict()
        assert trained.keys() == reference.keys()
        assert all(value.dtype == torch.float32 for value in trained.values())  # checkpoints hold the masters
        # both moved the weights the same way: they differ by a small part of what training changed
        moved, apart = (flat(reference) - before).norm(), (flat(trained) - flat(reference)).norm()
        assert apart < 0.01 * moved, (module, apart, moved)
    cast = {id(p) for p in bf16_params(master_jepa)}  # matrices, linear layers' biases
    assert {p.ndim for p in master_jepa.parameters() if id(p) not in cast} == {1}  # norms' gains and biases
    for p in master_jepa.parameters():  # what autocast casts: the masters rounded to bf16; the rest: the masters
        expected = masters.master(p).to(torch.bfloat16 if id(p) in cast else torch.float32)
        assert p.dtype == expected.dtype
        torch.testing.assert_close(p, expected, rtol=0, atol=0)
    assert master_jepa.encoder.pos.rotary.inv_freq.dtype == torch.float32  # buffers keep their dtype


def test_master_gradients_sum_in_fp32_and_clip_as_torch_does(device):
    jepa = small_jepa().to(device)
    reference = copy.deepcopy(jepa)
    masters = MasterWeights(jepa)
    clips = torch.randn(2, 3, 4, 32, 32, device=device)
    for seed in (0, 1):  # two backward passes (micro-batches or streams), collected after each
        for model in (jepa, reference):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss, _ = model(clips, equal_length_masks(2, seed=seed, device=device))
            loss.backward()
        masters.collect_grads()
        assert all(p.grad is None for p in jepa.parameters())
    for name, p in reference.named_parameters():
        if p.grad is not None:
            master = masters.master(dict(jepa.named_parameters())[name])
            assert relative_error(master.grad, p.grad) < 3e-2, name

    unclipped = [nn.Parameter(masters.master(p).detach().clone()) for p in jepa.parameters() if p.requires_grad]
    for copy_, p in zip(unclipped, (p for p in jepa.parameters() if p.requires_grad)):
        copy_.grad = masters.master(p).grad.clone()
    torch.testing.assert_close(masters.clip_grad_norm_(0.5), torch.nn.utils.clip_grad_norm_(unclipped, 0.5))
    clipped = [masters.master(p).grad for p in jepa.parameters() if p.requires_grad]
    for ours, theirs in zip(clipped, unclipped):
        torch.testing.assert_close(ours, theirs.grad)


def test_master_ema_is_the_ema_of_the_masters():
    jepa = small_jepa()
    masters = MasterWeights(jepa)
    with torch.no_grad():
        for p in jepa.encoder.parameters():
            masters.master(p).add_(torch.randn_like(p, dtype=torch.float32))
    target = copy.deepcopy(masters.state_dict(jepa.target_encoder))
    online = masters.state_dict(jepa.encoder)
    masters.ema_update(jepa.target_encoder, jepa.encoder, 0.99)
    masters.sync()
    updated = masters.state_dict(jepa.target_encoder)
    reference, source = copy.deepcopy(jepa.target_encoder).float(), copy.deepcopy(jepa.encoder).float()
    reference.load_state_dict(target)
    source.load_state_dict(online)
    ema_update(reference, source, 0.99)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(updated[name], value, msg=name)


def test_master_weights_are_chosen_under_bf16_and_by_default_on_the_cpu_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for master_weights, precision, device, expected in [
        ("auto", "bf16", cpu, MasterWeights), (True, "bf16", cpu, MasterWeights), (False, "bf16", cpu, Weights),
        (True, "fp32", cpu, Weights), ("auto", "bf16", cuda, Weights),
    ]:
        chosen = training_weights(small_jepa(), precision, master_weights, device)
        assert type(chosen) is expected, (master_weights, precision, device)
    with pytest.raises(ValueError, match="master_weights must be auto, true or false, got 'yes'"):
        training_weights(small_jepa(), "bf16", "yes", cpu)


def test_master_weights_refuse_an_ema_over_scattered_parameters():
    model = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Linear(2, 2)})
    masters = MasterWeights(model)
    scattered = nn.Module()
    scattered.weight, scattered.bias = model["a"].weight, model["b"].bias
    with pytest.raises(ValueError, match="not consecutive"):
        masters.ema_update(scattered, model["a"], 0.9)


def _average_across_two_processes(rank, init_file, out):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(rank)  # different starting weights per process: broadcast makes them rank 0's
    model = nn.Linear(3, 2)
    masters = MasterWeights(model)
    masters.broadcast()
    masters.flat_grad.fill_(1.0 if rank == 0 else 6.0)  # averaged: 3.5 everywhere
    masters.all_reduce_grads()
    torch.save({"grad": masters.flat_grad, "weights": masters.flat, "model": model.weight}, f"{out}_{rank}.pt")
    torch.distributed.destroy_process_group()


def test_master_weights_average_gradients_and_start_equal_across_processes(tmp_path):
    torch.multiprocessing.spawn(_average_across_two_processes, args=(tmp_path / "init", tmp_path / "out"), nprocs=2)
    first, second = (torch.load(tmp_path / f"out_{rank}.pt") for rank in (0, 1))
    for state in (first, second):
        torch.testing.assert_close(state["grad"], torch.full_like(state["grad"], 3.5))
    torch.testing.assert_close(first["weights"], second["weights"], rtol=0, atol=0)
    torch.testing.assert_close(first["model"], second["model"], rtol=0, atol=0)
