"""Shared fixtures: a tiny pretraining config composed from the real hydra configs; the devices a test runs on."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

TINY = [
    "model.size=vit_micro",
    "model.patch_size=8",
    "model.predictor.dim=48",
    "model.predictor.depth=1",
    "data.generate.num_videos=12",
    "data.generate.num_frames=8",
    "data.generate.size=32",
    "data.crop_size=32",
    "data.frames_per_clip=4",
    "data.frame_step=1",
    "batch_size=4",
    "num_workers=0",
    "log_every=1",
    "diag_every=5",
    "optim.warmup_steps=2",
    "threads=1",  # a fixed thread count: the losses compared across runs sum in one order
]


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA])])
def device(request) -> torch.device:
    """Each device a test runs on: the CPU, and the GPU where there is one (``pytest -m cuda``: only the GPU's)."""
    return torch.device(request.param)


@pytest.fixture
def eager_compile(monkeypatch):
    """``nn.Module.compile`` with dynamo's eager backend (inductor takes a minute to compile on a CPU); yields the
    class names of the modules compiled."""
    compiled, compile = [], torch.nn.Module.compile

    def eager(self, **kwargs):
        compiled.append(type(self).__name__)
        compile(self, backend="eager", **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", eager)
    yield compiled
    torch._dynamo.reset()


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.fixture
def tiny_pretrain_config(tmp_path):
    """A factory: the default pretraining config shrunk to a micro ViT on 12 generated 32-px videos."""

    def make(*overrides: str) -> DictConfig:
        base = [f"run_dir={tmp_path / 'run'}", f"data.generate.dir={tmp_path / 'videos'}"]
        return compose_config("pretrain", base + TINY + list(overrides))

    return make
