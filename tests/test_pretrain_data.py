"""Pretraining on awkward folders: unreadable files counted once each, fewer videos than a batch."""

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes import make_corrupt_files
from vjepa.data import make_moving_shapes
from vjepa.train.pretrain import pretrain

CORRUPT_VIDEOS = ("truncated.mp4", "random_bytes.mp4", "empty.mp4", "audio_only.mp4")


def test_unreadable_files_are_counted_and_named_once_per_run(tiny_pretrain_config, tmp_path, capsys):
    """4 broken files among 6 videos, 8 steps of 4 clips: each broken file is drawn (and replaced) many times, but
    the run reports 4 skipped files, each named once; the draws are logged apart."""
    folder = tmp_path / "mixed"
    make_moving_shapes(folder, num_videos=6, num_frames=8, size=32, seed=0)
    make_corrupt_files(folder)
    summary = pretrain(tiny_pretrain_config("steps=8", f"data.path={folder}"))
    assert summary["skipped_files"] == 4 and summary["skipped_draws"] > 4
    named = [line for line in capsys.readouterr().out.splitlines() if line.startswith("skipped ")]
    assert sorted(Path(line.split(": ")[0].removeprefix("skipped ")).name for line in named) == sorted(CORRUPT_VIDEOS)
    logged = (Path(summary["run_dir"]) / "metrics.csv").read_text()
    assert "8,skipped_files,4" in logged and ",skipped_draws," in logged


def test_folder_of_fewer_videos_than_a_batch_trains(tiny_pretrain_config, tmp_path):
    """3 videos and batch_size=4: each epoch draws several clips of each video instead of refusing the folder."""
    folder = make_moving_shapes(tmp_path / "three", num_videos=3, num_frames=12, size=32, seed=0)
    summary = pretrain(tiny_pretrain_config("steps=3", "batch_size=4", f"data.path={folder}"))
    assert len(summary["losses"]) == 3 and summary["skipped_files"] == 0


def test_two_processes_name_each_unreadable_file_once(tmp_path):
    """Under torchrun each process meets the broken files on its own; the main process names each once and the
    run counts them once."""
    from tests.conftest import TINY

    folder = tmp_path / "mixed"
    make_moving_shapes(folder, num_videos=6, num_frames=8, size=32, seed=0)
    make_corrupt_files(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29518",
           "-m", "vjepa.cli.pretrain", f"run_dir={tmp_path / 'ddp'}", *TINY, f"data.path={folder}", "steps=4"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    named = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert sorted(Path(line.split(": ")[0].removeprefix("skipped ")).name for line in named) == sorted(CORRUPT_VIDEOS)
    assert "skipped files: 4" in result.stdout
    assert "ERROR opening" not in result.stderr  # decord's own lines stay off the terminal
