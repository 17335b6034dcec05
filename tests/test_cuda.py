"""On a GPU the hot paths queue their work and never wait for it: a pretraining step (bf16 weights, fp32 masters,
batch copied from pinned memory) makes no host-device synchronisation, and a CEM search through a world model of the
AC predictor one per plan (its final energy). torch's sync debug mode reports each. Skipped without CUDA; the rest of
the CUDA path runs as the ``cuda`` variants of the other tests (``pytest -m cuda``)."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from configs.schema.planner import CEMConfig
from planning import goal_energy, make_planner
from tests.conftest import CUDA
from tests.test_master_weights import training_step
from tests.test_performance_switches import equal_length_masks, small_jepa
from tests.test_world_model_contract import jepa
from vjepa.train.loop import adamw, param_groups
from vjepa.train.precision import training_weights

pytestmark = [pytest.mark.cuda, CUDA]


@contextlib.contextmanager
def synchronisations():
    """The messages of the synchronising CUDA calls made inside the block (filled in when it ends)."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode("default")
    found += [str(w.message) for w in caught if "synchroniz" in str(w.message)]


def test_a_pretraining_step_does_not_wait_for_the_gpu():
    device = torch.device("cuda")
    jepa = small_jepa().to(device)
    weights = training_weights(jepa, "bf16", master_weights=True, device=device)
    optimizer = adamw(weights.groups(param_groups(jepa)), lr=1e-3)
    clips = torch.randn(4, 3, 4, 32, 32).pin_memory()
    masks = [(c.pin_memory(), t.pin_memory()) for c, t in equal_length_masks(4)]

    def step():  # as the loop does: the batch comes from the loader's pinned memory
        on_device = [(c.to(device, non_blocking=True), t.to(device, non_blocking=True)) for c, t in masks]
        return training_step(jepa, weights, optimizer, clips.to(device, non_blocking=True), on_device)

    step()  # the first step builds what later ones reuse (position tables on the GPU, kernels)
    with synchronisations() as found:
        losses = [step() for _ in range(3)]
    assert found == []
    assert torch.isfinite(torch.stack(losses)).all()


def test_a_cem_plan_waits_for_the_gpu_once(tmp_path):
    device = torch.device("cuda")
    model = jepa(tmp_path).to(device)  # a world model of a tiny encoder and AC predictor
    features = model.encode(torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8))  # 2 context frames, a goal
    states, between = torch.zeros(2, 2, device=device), torch.zeros(1, 2, device=device)
    settings = CEMConfig(num_samples=64, num_elites=8, iterations=5, horizon=3)
    planner = make_planner(settings, model, goal_energy, action_low=-1.0, action_high=1.0, seed=0)
    planner.plan(features[:2], features[2], states, between)  # warm-up
    with synchronisations() as found:
        actions = planner.plan(features[:2], features[2], states, between)
    assert len(found) == 1, found  # reading the plan's energy back (`last_energy`)
    assert actions.device.type == "cuda" and actions.shape == (3, model.action_dim)
