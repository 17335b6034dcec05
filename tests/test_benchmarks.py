"""The benchmark's bookkeeping (not its timings): several processes per pretraining case, interleaved, the median
one reported with the spread beside it; the GPU check script's guard."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import pretrain_step


def test_pretraining_cases_run_interleaved_and_report_the_median_process(monkeypatch):
    order, times = [], iter([0.05, 1.0, 0.07, 1.3, 0.06, 1.1])  # tiny bf16, small fp32, tiny bf16, ...

    def fake_run(name, precision, steps, warmup, device, compile, threads):
        order.append((name, precision))
        return {"config": name, "precision": precision, "s_per_step": next(times), "cpu_s_per_step": 0.0,
                "clips_per_s": 0.0, "threads": 2}

    monkeypatch.setattr(pretrain_step, "run_isolated", fake_run)
    monkeypatch.setattr(pretrain_step, "add_ratios", lambda row, ceilings: row)
    rows = pretrain_step.run(["tiny"], ["bf16"], 5, 2, "cpu", False, 2, {"fp32": 164.5}, processes=3)
    assert order == [("tiny", "bf16")] * 3 and len(rows) == 1
    order.clear()
    times = iter([0.05, 1.0, 0.07, 1.3, 0.06, 1.1])
    rows = pretrain_step.run(["tiny", "small"], ["fp32"], 5, 2, "cpu", False, 2, {"fp32": 164.5}, processes=3)
    assert [c for c, _ in order] == ["tiny", "small"] * 3  # all cases once, then again: drift spreads over them
    tiny, small = rows
    assert tiny["s_per_step"] == 0.06 and tiny["process_s_per_step"] == [0.05, 0.07, 0.06]
    assert small["s_per_step"] == 1.1
    # official tiny: 62 clips/s at 164.5 GFLOP/s; 8 clips in 0.07 s and 0.05 s at the same ceiling
    assert tiny["vs_official_range"] == f"{8 / 0.07 / 62:.2f}-{8 / 0.05 / 62:.2f}"


def test_paired_comparison_takes_turns_in_one_process(monkeypatch):
    calls = []

    class FakeStep:
        def __init__(self, cfg, device, precision):
            self.precision = precision

        def __call__(self, step):
            calls.append((self.precision, step))

    monkeypatch.setattr(pretrain_step, "PretrainStep", FakeStep)
    medians = pretrain_step.paired("tiny", ["bf16", "bf16-autocast"], rounds=3, block=2, device=torch.device("cpu"))
    assert set(medians) == {"bf16", "bf16-autocast"} and all(s >= 0 for s in medians.values())
    timed = [precision for precision, step in calls if step >= 100]
    # blocks of 2 steps, the order reversed every other round; both see the same masks (steps 100, 101, ...)
    assert timed == ["bf16"] * 2 + ["bf16-autocast"] * 4 + ["bf16"] * 4 + ["bf16-autocast"] * 2
    masks = {precision: [s for p, s in calls if p == precision and s >= 100] for precision in medians}
    assert masks["bf16"] == masks["bf16-autocast"] == [100, 101, 102, 103, 104, 105]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_check_script_parses_and_refuses_a_machine_without_a_gpu(tmp_path):
    script = Path(__file__).parents[1] / "benchmarks" / "cuda_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)  # syntax
    done = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=script.parents[1], timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 1 and "no CUDA device" in done.stderr
    assert list((tmp_path / "out").iterdir()) == []  # no stage ran
