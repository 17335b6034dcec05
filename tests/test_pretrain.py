"""The pretraining loop end to end on tiny generated videos: learning, resuming, stopping on a non-finite loss,
skipping bad files, DDP, images (alone and beside videos)."""

import csv
import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from configs.schema.data import Data, Generate
from tests.fakes import make_corrupt_files
from vjepa.data import make_moving_shapes
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.errors import UserError
from vjepa.train.jepa import JEPA
from vjepa.train.loop import LossNotFinite
from vjepa.train.pretrain import pretrain


def mean(values):
    return sum(values) / len(values)


@pytest.mark.parametrize("context_loss", ["context_loss.weight=0", "context_loss.warmup=0"])  # plain, dense
def test_loss_decreases_on_moving_shapes(tiny_pretrain_config, context_loss, device):
    summary = pretrain(tiny_pretrain_config("steps=60", "optim.lr=2e-3", context_loss, f"device={device}"))
    losses = summary["losses"]
    assert len(losses) == 60
    assert mean(losses[-10:]) < 0.7 * mean(losses[:10])
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "latest.pt").is_file() and (run_dir / "masks.png").stat().st_size > 0
    metrics = (run_dir / "metrics.csv").read_text()
    names = ["loss", "lr", "ema_momentum", "clips_per_s", "effective_rank", "feature_std", "clip_cosine"]
    dense = ["loss_pred", "loss_context", "context_weight"]
    for name in names + (dense if context_loss.endswith("warmup=0") else []):
        assert f",{name}," in metrics


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: bf16 weights, fp32 masters (master_weights)
def test_resume_reproduces_an_uninterrupted_run(tiny_pretrain_config, tmp_path, precision):
    config = lambda *more: tiny_pretrain_config("steps=8", f"precision={precision}", *more)  # noqa: E731
    uninterrupted = pretrain(config(f"run_dir={tmp_path / 'a'}"))["losses"]
    first = pretrain(config("stop_after=3", f"run_dir={tmp_path / 'b'}"))["losses"]
    state = load_checkpoint(tmp_path / "b" / "latest.pt")
    assert state["step"] == 3
    assert all(value.dtype == torch.float32 for key in ("encoder", "predictor", "target_encoder")
               for value in state[key].values())  # full-precision weights whatever the model computed in
    rest = pretrain(config(f"run_dir={tmp_path / 'b'}"))["losses"]
    assert len(first) == 3 and len(rest) == 5
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(uninterrupted), rtol=1e-5, atol=1e-6)


def test_non_finite_loss_stops_the_run_at_the_next_read_back(tiny_pretrain_config, monkeypatch):
    calls, forward = itertools.count(), JEPA.forward

    def nan_from_step_3(self, *args):
        loss, parts = forward(self, *args)
        return (loss * float("nan") if next(calls) >= 2 else loss), parts

    monkeypatch.setattr(JEPA, "forward", nan_from_step_3)
    cfg = tiny_pretrain_config("steps=8", "log_every=4", "ckpt_every=2")
    with pytest.raises(LossNotFinite, match="loss became nan at step 3 .*lower optim.lr") as raised:
        pretrain(cfg)
    # the third step's loss: step 3 as metrics.csv and checkpoints count; a user error (one line, exit 2)
    assert isinstance(raised.value, UserError) and isinstance(raised.value, FloatingPointError)
    assert load_checkpoint(Path(cfg.run_dir) / "latest.pt")["step"] == 2  # none written past the bad loss


def test_corrupt_videos_are_skipped_not_fatal_and_counted_once_over_a_resumed_run(tiny_pretrain_config, tmp_path,
                                                                                  capsys):
    folder = tmp_path / "mixed"
    make_moving_shapes(folder, num_videos=6, num_frames=8, size=32, seed=0)
    make_corrupt_files(folder)
    whole = pretrain(tiny_pretrain_config("steps=6", f"data.path={folder}", f"run_dir={tmp_path / 'whole'}"))
    assert whole["skipped_files"] > 0
    assert all(torch.isfinite(torch.tensor(whole["losses"])))

    config = tiny_pretrain_config("steps=6", "ckpt_every=3", f"data.path={folder}", f"run_dir={tmp_path / 'split'}")
    capsys.readouterr()
    pretrain(OmegaConf.merge(config, {"stop_after": 3}))
    resumed = pretrain(config)  # the checkpoint keeps the files met before the stop
    named = [line for line in capsys.readouterr().out.splitlines() if line.startswith("skipped ")]
    assert (resumed["skipped_files"], resumed["skipped_draws"]) == (whole["skipped_files"], whole["skipped_draws"])
    assert len(named) == len(set(named)) == whole["skipped_files"]  # each file named once over the whole run


def test_folder_without_readable_videos_fails_before_training(tiny_pretrain_config, tmp_path):
    folder = tmp_path / "broken"
    make_corrupt_files(folder)
    with pytest.raises(ValueError, match="broken"):
        pretrain(tiny_pretrain_config("steps=2", f"data.path={folder}"))


def test_ijepa_images_are_the_single_frame_case(tmp_path):
    from tests.conftest import TINY, compose_config

    model_and_loop = [o for o in TINY if not o.startswith("data.")]
    cfg = compose_config("pretrain", [
        f"run_dir={tmp_path / 'run'}", *model_and_loop, "data=synthetic_images", "mask=ijepa",
        f"data.generate.dir={tmp_path / 'images'}", "data.generate.num_images=16", "data.generate.size=32",
        "data.crop_size=32", "model.tubelet_size=1", "loss=l2", "steps=3",
    ])
    summary = pretrain(cfg)
    assert len(summary["losses"]) == 3


def joint_images(tmp_path, *overrides):
    """Overrides that add the generated shape images as a second stream (images=synthetic), at the tiny size."""
    return ["images=synthetic", f"images.generate.dir={tmp_path / 'images'}", "images.generate.num_images=12",
            "images.generate.size=32", "images.crop_size=32", *overrides]


def test_images_train_beside_videos(tiny_pretrain_config, tmp_path):
    """V-JEPA 2.1's joint training: each step also takes a batch of images (their own masks on a one-frame grid),
    and optimises the weighted mean of the two losses; the image embedding and both modality vectors learn."""
    cfg = tiny_pretrain_config(*joint_images(tmp_path, "images.weight=0.5", "images.batch_size=2"), "steps=4",
                               "model.image_patch_embed=true", "model.modality_embed=true")
    summary = pretrain(cfg)
    run = Path(summary["run_dir"])
    logged = {}  # step -> {name: value}, from the long-format metrics.csv
    for row in csv.DictReader((run / "metrics.csv").open()):
        logged.setdefault(int(row["step"]), {})[row["name"]] = float(row["value"])
    assert sorted(logged) == [1, 2, 3, 4]
    for row in logged.values():
        mixed = (row["loss_video"] + 0.5 * row["loss_image"]) / 1.5
        assert abs(row["loss"] - mixed) < 1e-4 * abs(mixed)
    assert (run / "masks.png").is_file() and (run / "masks_image.png").is_file()
    encoder = load_checkpoint(run / "latest.pt")["encoder"]
    assert (encoder["modality_embed"].abs().sum(dim=1) > 0).all()  # both rows left their zero init

    # the image stream resumes where it stopped, as the videos do
    first = pretrain(tiny_pretrain_config(*joint_images(tmp_path), "steps=4", "stop_after=2",
                                          f"run_dir={tmp_path / 'b'}"))["losses"]
    rest = pretrain(tiny_pretrain_config(*joint_images(tmp_path), "steps=4", f"run_dir={tmp_path / 'b'}"))["losses"]
    uninterrupted = pretrain(tiny_pretrain_config(*joint_images(tmp_path), "steps=4",
                                                  f"run_dir={tmp_path / 'c'}"))["losses"]
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(uninterrupted), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"must be image, got 'video' \(images.kind\)"):
        pretrain(tiny_pretrain_config(*joint_images(tmp_path), "images.kind=video"))
    with pytest.raises(ValueError, match=r"must be a number > 0, got 0.0 \(images.weight\)"):
        pretrain(tiny_pretrain_config(*joint_images(tmp_path), "images.weight=0"))


def test_deep_self_supervision_trains(tiny_pretrain_config):
    summary = pretrain(tiny_pretrain_config("model.levels=2", "steps=40", "optim.lr=2e-3", "context_loss.warmup=0"))
    losses = summary["losses"]
    assert mean(losses[-5:]) < 0.8 * mean(losses[:5])
    state = load_checkpoint(Path(summary["run_dir"]) / "latest.pt")
    assert state["config"]["model"]["levels"] == 2


def test_sigreg_objective_runs(tiny_pretrain_config):
    summary = pretrain(tiny_pretrain_config("objective=sigreg", "steps=3"))
    assert all(torch.isfinite(torch.tensor(summary["losses"])))
    assert load_checkpoint(Path(summary["run_dir"]) / "latest.pt")["target_encoder"] is None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # DistributedDataParallel; MasterWeights' all-reduce
def test_two_process_ddp_step(tmp_path, precision):
    from tests.conftest import TINY  # the same tiny model and data as the other tests

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free port: a fixed one collides with a concurrent run of this test
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "-m", "vjepa.cli.pretrain", f"run_dir={tmp_path / 'ddp'}", f"data.generate.dir={tmp_path / 'videos'}",
           *TINY, *joint_images(tmp_path), "steps=2", f"precision={precision}"]  # two streams: one all-reduce
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ddp" / "latest.pt")
    assert state["step"] == 2


def test_setup_distributed_puts_each_process_on_its_gpu_unless_one_is_named(monkeypatch):
    """"cuda" means this process's GPU (LOCAL_RANK); an explicit "cuda:1" is kept; "cpu" stays the CPU."""
    from vjepa.train import distributed

    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.setup_distributed("cuda").device == torch.device("cuda", 3)
    assert distributed.setup_distributed("cuda:1").device == torch.device("cuda", 1)
    assert distributed.setup_distributed("cpu").device == torch.device("cpu")
    assert chosen == [torch.device("cuda", 3), torch.device("cuda", 1)]


def test_generated_data_appears_whole_when_processes_race(tmp_path, monkeypatch):
    """Each process generates into a folder of its own and moves it into place: one that finds the folder already
    there (another DDP rank finished first) keeps that one and leaves no partial copy behind."""
    from vjepa.data.synthetic import make_shape_images
    from vjepa.train import pretrain as pretrain_module

    out = tmp_path / "images"

    def another_rank_finishes_first(private, **kw):
        make_shape_images(private, **kw)
        make_shape_images(out, **kw)

    monkeypatch.setattr(pretrain_module, "make_shape_images", another_rank_finishes_first)
    data_cfg = OmegaConf.structured(Data(kind="image", generate=Generate(dir=str(out), num_images=3, size=16)))
    assert pretrain_module.resolve_data_path(data_cfg) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"] and len(list(out.glob("*.png"))) == 3


def test_keep_every_keeps_step_checkpoints_that_later_ones_do_not_overwrite(tiny_pretrain_config):
    """keep_every=2 (off the ckpt_every=100 grid): step_0000002.pt and step_0000004.pt stay as they were written,
    latest.pt moves on, and a kept one loads like any checkpoint."""
    from vjepa.inference import load_encoder

    cfg = tiny_pretrain_config("steps=5", "keep_every=2", "mask_figure=false")
    pretrain(cfg)
    run = Path(cfg.run_dir)
    assert sorted(p.name for p in run.glob("*.pt")) == ["latest.pt", "step_0000002.pt", "step_0000004.pt"]
    steps = [load_checkpoint(run / name)["step"] for name in ("step_0000002.pt", "step_0000004.pt", "latest.pt")]
    assert steps == [2, 4, 5]
    early, _ = load_encoder(run / "step_0000002.pt")
    late, _ = load_encoder(run / "latest.pt")
    assert not torch.equal(early.blocks[0].attn.qkv.weight, late.blocks[0].attn.qkv.weight)


def test_compile_switch_compiles_the_trained_modules(tiny_pretrain_config, tmp_path, eager_compile):
    """``compile=true`` compiles the encoders and the predictor, which train as without."""
    plain = pretrain(tiny_pretrain_config("steps=3", f"run_dir={tmp_path / 'plain'}"))["losses"]
    assert eager_compile == []
    losses = pretrain(tiny_pretrain_config("steps=3", "compile=true", f"run_dir={tmp_path / 'compiled'}"))["losses"]
    assert eager_compile == ["VisionTransformer", "VisionTransformer", "MaskPredictor"]
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(plain), rtol=1e-4, atol=1e-6)
