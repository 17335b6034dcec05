"""Run directories: one run at a time (a live run refuses a second, a dead one's lock is taken over), nothing written
for a run that did not start (no directory, no .log file, no overwritten config), no temporaries left by killed
writes, no metrics rows logged twice across a resume, files with the mode `open` gives."""

from __future__ import annotations

import csv
import importlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY
from vjepa.runtime.checkpoint import load_checkpoint, save_atomic, save_checkpoint
from vjepa.runtime.errors import RunDirError
from vjepa.runtime.run_dir import LOCK, RunDir, atomic_write, write_text_atomic
from vjepa.train.metrics import MetricsLogger, done_line, read_rows
from vjepa.train.pretrain import pretrain

ROOT = Path(__file__).resolve().parents[1]

HOLD = """
import sys, time
from vjepa.runtime.run_dir import RunDir
run = RunDir(sys.argv[1], "vjepa-test-holder").claim()
print("ready", flush=True)
time.sleep(120)
"""

SLOW_SAVE = """
import sys, time
from pathlib import Path
from vjepa.runtime.checkpoint import save_checkpoint

class Slow:  # pickled inside torch.save, after the temporary file is open
    def __reduce__(self):
        Path(sys.argv[2]).touch()
        time.sleep(120)
        return (dict, ())

save_checkpoint({"step": 4, "slow": Slow()}, sys.argv[1], 4)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def holder(tmp_path):
    """A live process holding ``tmp_path/run``."""
    process = start(HOLD, str(tmp_path / "run"))
    try:
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_live_run_refuses_a_second_naming_it(holder, tmp_path, tiny_pretrain_config):
    run_dir = tmp_path / "run"
    expected = (f"run_dir {run_dir} is in use by pid {holder.pid} on host {socket.gethostname()} "
                r"\(vjepa-test-holder, started .*\) \(run_dir\) — wait for it, or choose another run_dir")
    with pytest.raises(RunDirError, match=expected):
        RunDir(run_dir, "vjepa-pretrain").claim()
    with pytest.raises(RunDirError, match=expected):  # refused on entry, before any start-up work
        with RunDir(run_dir, "vjepa-pretrain"):
            pass
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(RunDirError, match=f"in use by pid {holder.pid}"):
        pretrain(tiny_pretrain_config("steps=2", f"run_dir={run_dir}"))
    assert sorted(p.name for p in run_dir.iterdir()) == before == [LOCK]  # nothing written
    assert json.loads((run_dir / LOCK).read_text())["pid"] == holder.pid


def test_the_same_process_cannot_claim_twice_and_a_release_frees(tmp_path):
    first = RunDir(tmp_path / "run", "vjepa-one").claim()
    with pytest.raises(RunDirError, match=f"in use by pid {os.getpid()} .*vjepa-one"):
        RunDir(tmp_path / "run", "vjepa-two").claim()
    with pytest.raises(RunDirError, match=r"output .* in use .* \(output\) — wait for it, or choose another output"):
        RunDir(tmp_path / "run", "vjepa-extract", key="output").claim()
    first.release()
    assert not (tmp_path / "run").exists()  # created by the claim, left empty: removed
    with RunDir(tmp_path / "run", "vjepa-two") as second:
        second.claim()
        (tmp_path / "run" / "out.txt").write_text("x")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["out.txt"]  # the lock file goes


def test_a_dead_runs_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    process = start(HOLD, str(run_dir))
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads((run_dir / LOCK).read_text())["pid"] == process.pid  # left behind by the killed run
    with RunDir(run_dir, "vjepa-pretrain") as run:
        run.claim()
        assert json.loads((run_dir / LOCK).read_text())["pid"] == os.getpid()
    # a lock file naming a dead pid (say, from before a reboot) and nobody holding it
    run_dir.mkdir(exist_ok=True)
    (run_dir / LOCK).write_text(json.dumps({"pid": process.pid, "host": socket.gethostname()}))
    RunDir(run_dir, "vjepa-pretrain").claim().release()


def test_a_file_is_no_run_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a directory"):
        RunDir(tmp_path / "file", "vjepa-pretrain").claim()


def test_disabled_run_dir_writes_nothing(tmp_path):
    """DDP ranks > 0: only rank 0 claims."""
    with RunDir(tmp_path / "run", "vjepa-pretrain", enabled=False) as run:
        run.claim({"a": 1})
    assert not (tmp_path / "run").exists()


def test_claim_removes_what_killed_writes_left(tmp_path):
    run_dir = tmp_path / "run"
    process = start(SLOW_SAVE, str(run_dir), str(tmp_path / "pickling"))
    deadline = time.time() + 60
    while not (tmp_path / "pickling").exists():  # torch.save is inside the checkpoint's write
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = list(run_dir.glob(".latest.pt.*.tmp"))
    assert len(killed) == 1 and not (run_dir / "latest.pt").exists()
    (run_dir / "hydra").mkdir()
    left = [run_dir / ".metrics.csv.k2j4.tmp", run_dir / ".step_0000010.pt.tmp",
            run_dir / "hydra" / ".config.yaml.x.tmp"]
    kept = [run_dir / "metrics.csv", run_dir / "notes.tmp", run_dir / "step_0000010.pt"]
    for path in left + kept:
        path.write_text("x")
    with RunDir(run_dir, "vjepa-pretrain") as run:
        run.claim()
        assert sorted(path for path, _ in run.removed) == sorted(killed + left)
    assert not any(path.exists() for path in killed + left) and all(path.exists() for path in kept)


def test_a_run_that_did_not_start_writes_nothing(tiny_pretrain_config, tmp_path):
    with pytest.raises(Exception, match="nowhere"):
        pretrain(tiny_pretrain_config(f"data.path={tmp_path / 'nowhere'}"))
    assert not (tmp_path / "run").exists()


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vjepa.cli.pretrain", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_console_script_saves_its_config_itself_and_a_bad_value_overwrites_nothing(tmp_path):
    run_dir = tmp_path / "run"
    args = [f"run_dir={run_dir}", f"data.generate.dir={tmp_path / 'videos'}", *TINY, "steps=2", "mask_figure=false"]
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "done: 2 steps" in result.stdout and "(steps 1..2 this session)" in result.stdout
    saved = (run_dir / "hydra" / "config.yaml").read_text()
    assert "steps: 2" in saved and f"run_dir: {run_dir}" in saved
    assert "- steps=2" in (run_dir / "hydra" / "overrides.yaml").read_text()
    assert not list(tmp_path.rglob("*.log")) and not list(tmp_path.rglob(".hydra"))
    assert sorted(p.name for p in run_dir.iterdir()) == ["hydra", "latest.pt", "metrics.csv", "tb"]

    result = cli(*args, "steps=abc", cwd=tmp_path)  # a bad value: refused before the run starts
    assert result.returncode != 0 and "steps" in result.stderr
    assert (run_dir / "hydra" / "config.yaml").read_text() == saved
    result = cli(f"run_dir={tmp_path / 'other'}", "data=video_folder", f"data.path={tmp_path / 'nowhere'}",
                 cwd=tmp_path)
    assert result.returncode != 0 and not (tmp_path / "other").exists()
    assert not list(tmp_path.rglob("*.log"))


def logged(run_dir: Path) -> Counter:
    return Counter((step, name) for step, name, _ in read_rows(run_dir / "metrics.csv"))


def test_resume_logs_each_step_once(tiny_pretrain_config, tmp_path):
    cfg = lambda *more: tiny_pretrain_config("steps=6", "ckpt_every=3", "diag_every=1", "mask_figure=false", *more)  # noqa: E731
    first = pretrain(cfg("stop_after=4"))  # checkpoints at 3 and at 4 (its last step)
    run_dir = Path(first["run_dir"])
    assert load_checkpoint(run_dir / "latest.pt")["step"] == 4
    with (run_dir / "metrics.csv").open("a") as f:  # what a run killed at step 5 leaves: rows past its checkpoint
        f.write("5,loss,0.5\n5,lr,0.001\n5,grad_no")
    summary = pretrain(cfg())
    counts = logged(run_dir)
    assert counts and set(counts.values()) == {1}, [key for key, n in counts.items() if n > 1]
    assert sorted(step for step, name in counts if name == "loss") == [1, 2, 3, 4, 5, 6]
    assert summary["start_step"] == 4 and len(summary["losses"]) == 2
    assert [step for step, _ in summary["logged_losses"]] == [1, 2, 3, 4, 5, 6]
    line = done_line(summary)
    assert line.startswith(f"done: 6 steps in {run_dir} (steps 5..6 this session); loss ")
    assert "first 10% of the logged losses of the run" in line

    pretrain(cfg("resume=false", "steps=2"))  # afresh in the same run_dir: the earlier run's rows go
    counts = logged(run_dir)
    assert set(counts.values()) == {1} and sorted(step for step, name in counts if name == "loss") == [1, 2]


def test_metrics_logger_purges_tensorboard_and_keeps_earlier_rows(tmp_path, monkeypatch):
    import torch.utils.tensorboard

    opened = []
    monkeypatch.setattr(torch.utils.tensorboard, "SummaryWriter",
                        lambda log_dir, purge_step=None: opened.append(purge_step) or _NoWriter())
    logger = MetricsLogger(tmp_path)
    logger.log(1, {"loss": 1.0})
    logger.log(2, {"loss": 0.5})
    logger.close()
    logger = MetricsLogger(tmp_path, start_step=1)
    logger.log(2, {"loss": 0.25})
    logger.close()
    assert opened == [None, 2]
    assert read_rows(tmp_path / "metrics.csv") == [(1, "loss", "1"), (2, "loss", "0.25")]
    assert next(csv.reader((tmp_path / "metrics.csv").open())) == ["step", "name", "value"]


class _NoWriter:
    def add_scalar(self, *args):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_written_files_have_the_mode_open_gives(tmp_path, mask):
    old = os.umask(mask)
    try:
        with open(tmp_path / "plain", "w"):
            pass
        save_atomic({"a": torch.zeros(2)}, tmp_path / "saved.pt")
        save_checkpoint({"step": 2}, tmp_path, 2, keep_every=2)
        write_text_atomic(tmp_path / "text.yaml", "a: 1\n")
        with atomic_write(tmp_path / "rewritten.csv", "w") as f:
            f.write("step,name,value\n")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert mode == 0o666 & ~mask
    for name in ("saved.pt", "latest.pt", "step_0000002.pt", "text.yaml", "rewritten.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


@pytest.mark.parametrize(
    ("module", "overrides"),
    [
        ("vjepa.cli.train_ac", ["encoder={files}/encoder.pt", "data.path={files}", "run_dir={run}"]),
        ("vjepa.cli.extract", ["checkpoint={files}/encoder.pt", "input={files}", "output={run}"]),
        ("vjepa.eval.attentive_probe", ["checkpoint={files}/encoder.pt", "videos={files}", "output={run}"]),
        ("planning.cli", ["world_model={files}/encoder.pt", "run_dir={run}"]),
        ("planning.demo", ["out={run}"]),
    ],
)
def test_every_command_that_writes_a_run_directory_refuses_a_live_one(holder, tmp_path, monkeypatch, capsys,
                                                                      module, overrides):
    """The same one line from each command (pretraining: above), before its start-up work, exit status 2."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "encoder.pt").touch()
    argv = [module] + [o.format(files=files, run=tmp_path / "run") for o in overrides]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main()
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1, err
    assert f"is in use by pid {holder.pid}" in err[0] and err[0].startswith("error: "), err[0]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK]  # nothing written


def test_a_sweep_writes_only_what_its_runs_write(tmp_path):
    """``-m`` (hydra's multirun): no multirun/ tree of empty directories, only hydra's record of the sweep."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "vjepa.cli.make_videos", "-m", f"out_dir={tmp_path / 'v'}",
                             "num_videos=1,2", "size=16", "frames=2"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multirun.yaml", "v"]
