"""The runtime keys every computing command takes (``device``, ``precision``, ``threads``), and ``threads`` reaching
torch."""

from __future__ import annotations

import os
import sys
import time

import pytest
import torch

from planning.demo import runtime_settings
from planning.stages import stage_config
from tests.conftest import compose_config
from vjepa.runtime import threads
from vjepa.runtime.errors import ConfigError
from vjepa.runtime.threads import CpuShare, set_threads, starved_note

COMMANDS = ("pretrain", "train_ac", "extract", "eval_ac", "probe", "attentive_probe", "show_features", "plan",
            "demo")
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
    assert set_threads(None) == threads.TORCH_DEFAULT_THREADS  # one per core
    assert set_threads(3) == 3
    assert thread_calls == [threads.TORCH_DEFAULT_THREADS, 3]
    thread_calls.clear()
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ConfigError) as error:
            set_threads(bad)
        assert error.value.where == "threads" and repr(bad) in str(error.value)
    assert thread_calls == []


@pytest.mark.parametrize(("idle", "expected"), [(2.0, 2), (1.2, 1), (0.1, 1), (None, 2)])
def test_auto_threads_take_the_cores_other_jobs_leave_idle(monkeypatch, thread_calls, idle, expected):
    """A machine shared with other jobs: a thread per core would wait at every parallel region for the cores the
    other jobs hold; auto computes with the idle ones (at most torch's default; all of it where /proc/stat is
    unreadable)."""
    monkeypatch.setattr(threads, "TORCH_DEFAULT_THREADS", 2)
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    assert set_threads("auto") == expected and thread_calls == [expected]


def test_idle_cores_reads_the_machine():
    idle = threads.idle_cores(sample_s=0.05)
    assert idle is None or 0.0 <= idle <= (os.cpu_count() or 1)


def test_a_run_that_gets_little_cpu_says_it_is_starved():
    share = CpuShare()
    time.sleep(0.2)  # as if other jobs held the cores: the run's threads got no CPU time
    assert starved_note(share.read())["cpu"].startswith("starved (")
    deadline = time.perf_counter() + 0.2
    while time.perf_counter() < deadline:  # computing on its threads: not starved
        torch.ones(64, 64) @ torch.ones(64, 64)
    assert share.read() > 0.3
    assert starved_note(0.9) == {}


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
