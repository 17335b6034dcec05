"""The runtime keys every computing command takes (``device``, ``precision``, ``threads``), and ``threads`` reaching
torch."""

from __future__ import annotations

import sys

import pytest
import torch

from planning.demo import runtime_settings, stage_config
from tests.conftest import compose_config
from vjepa.runtime.errors import ConfigError
from vjepa.runtime.threads import set_threads

COMMANDS = ("pretrain", "train_ac", "extract", "eval_ac", "probe", "attentive_probe", "plan", "demo")
RUNTIME_KEYS = ("device", "precision", "threads")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_takes_the_runtime_keys(name):
    cfg = compose_config(name, [])
    assert [key for key in RUNTIME_KEYS if key not in cfg] == []


@pytest.fixture
def thread_calls(monkeypatch) -> list[int]:
    """What reaches torch.set_num_threads (not passed on: the test process keeps its threads)."""
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


def test_set_threads_sets_a_positive_count_and_names_the_key_otherwise(thread_calls):
    set_threads(None)
    set_threads(3)
    assert thread_calls == [3]
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ConfigError) as error:
            set_threads(bad)
        assert error.value.where == "threads" and repr(bad) in str(error.value)
    assert thread_calls == [3]


def test_threads_reaches_torch_in_vjepa_extract(tiny_pretrain_config, tmp_path, monkeypatch, thread_calls):
    from vjepa.cli.extract import main
    from vjepa.train.pretrain import pretrain

    pretrain(tiny_pretrain_config("steps=1", "mask_figure=false", "device=cpu"))
    thread_calls.clear()  # pretraining's own (threads=null: none)
    monkeypatch.setattr(sys, "argv", ["vjepa-extract", f"checkpoint={tmp_path / 'run' / 'latest.pt'}",
                                      f"input={tmp_path / 'videos'}", f"output={tmp_path / 'features'}",
                                      "device=cpu", "threads=2", "pooled=true"])
    main()
    assert thread_calls == [2]
    assert (tmp_path / "features" / "features.npy").is_file()


def test_the_demo_passes_its_runtime_keys_to_every_stage_under_their_own_sections():
    runtime = runtime_settings(compose_config("demo", ["device=cpu", "precision=bf16", "threads=2"]))
    assert runtime == {"device": "cpu", "precision": "bf16", "threads": 2}
    assert "precision" not in runtime_settings(compose_config("demo", []))  # null: each stage's own default
    for name in ("pretrain", "train_ac", "eval_ac", "plan"):
        cfg = stage_config(name, [], {}, {}, runtime=runtime)
        assert (cfg.device, cfg.precision, cfg.threads) == ("cpu", "bf16", 2)
    assert stage_config("plan", [], {"precision": "fp32"}, {}, runtime=runtime).precision == "fp32"
