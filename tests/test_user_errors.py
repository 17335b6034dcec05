"""A user's mistake ends a command with one line, `error: <what> (<key or file>) — <what to do>`, and exit status 2,
before any work starts; a bug keeps its traceback."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from envs.collect import main as collect_main
from planning.cli import main as plan_main
from tests.fakes import write_fake_lerobot_dataset
from vjepa.cli.pretrain import main as pretrain_main
from vjepa.cli.train_ac import main as train_ac_main
from vjepa.runtime.errors import ConfigError, UserError, user_errors


def run_cli(main, argv, monkeypatch, capsys):
    """Run a hydra console script in-process; returns (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code, capsys.readouterr().err


def assert_one_error_line(err: str, key: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and f"({key}) — " in lines[0], lines[0]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("batch_size=0", "batch_size"),
        ("log_every=0", "log_every"),
        ("ckpt_every=0", "ckpt_every"),
        ("grad_accum=0", "grad_accum"),
        ("steps=abc", "steps"),
        ("steps=-5", "steps"),
        ("steps=0", "steps"),
        ("threads=0", "threads"),
        ("data.crop_size=0", "data.crop_size"),
        ("data.crop_size=60", "data.crop_size"),  # not a multiple of the patch size
        ("model.predictor.depth=0", "model.predictor.depth"),
        ("precision=fp16", "precision"),
        ("device=gpu", "device"),
        ("data.path=/no/such/videos", "data.path"),
        ("optim.lr=-1", "optim.lr"),
        ("mask.groups.1.targets.spatial_scale=[1.0,1.0]", "mask.groups.1"),  # would leave no context at some step
    ],
)
def test_pretraining_names_the_bad_key_before_any_work(tmp_path, monkeypatch, capsys, override, key):
    monkeypatch.chdir(tmp_path)  # the default data would be generated here
    code, err = run_cli(pretrain_main, ["vjepa-pretrain", f"run_dir={tmp_path / 'run'}", override], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, key)
    assert not (tmp_path / "data").exists()  # no work started: no videos generated


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("batch_size=0", "batch_size"),
        ("steps=abc", "steps"),
        ("threads=0", "threads"),
        ("data.num_frames=1", "data.num_frames"),
        ("loss.rollout_steps=9", "loss.rollout_steps"),  # context + rollout longer than a window
        ("ac.depth=0", "ac.depth"),
        ("data.action_agg=mean", "data.action_agg"),
        ("data.val_fraction=1.0", "data.val_fraction"),
    ],
)
def test_train_ac_names_the_bad_key_before_any_work(tmp_path, monkeypatch, capsys, override, key):
    encoder, data = tmp_path / "encoder.pt", tmp_path / "episodes"
    encoder.write_bytes(b"not read: the config is refused first")
    data.mkdir()
    argv = ["vjepa-train-ac", f"encoder={encoder}", f"data.path={data}", f"run_dir={tmp_path / 'run'}", override]
    code, err = run_cli(train_ac_main, argv, monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, key)


@pytest.mark.parametrize(
    ("override", "key", "says"),
    [
        ("steps=abc", "steps", "must be an integer, got 'abc'"),
        ("compile=maybe", "compile", "must be true or false, got 'maybe'"),
        ("model.predictor.dpeth=3", "model.predictor.dpeth", "no such key"),
        ("model=vit_tiniest", "model", "no preset 'vit_tiniest'"),
        ("+model.predictor.dpeth=3", "model.predictor.dpeth", "unknown key"),  # + adds it; the checks refuse it
    ],
)
def test_what_hydra_refuses_while_composing_is_one_line_too(tmp_path, monkeypatch, capsys, override, key, says):
    """The schema's types, keys and presets: refused before the command runs, as its own checks refuse."""
    monkeypatch.chdir(tmp_path)  # the default data would be generated here
    code, err = run_cli(pretrain_main, ["vjepa-pretrain", f"run_dir={tmp_path / 'run'}", override], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, key)
    assert says in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no work started
    assert "HYDRA_FULL_ERROR" not in os.environ  # set only while hydra composed


def test_a_required_key_not_given_is_named(tmp_path, monkeypatch, capsys):
    code, err = run_cli(train_ac_main, ["vjepa-train-ac", f"data.path={tmp_path}"], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, "encoder")
    assert "encoder=<value>" in err


@pytest.fixture
def inputs(tmp_path):
    """A checkpoint file and a video folder: present, never read (the config is refused first)."""
    checkpoint, videos = tmp_path / "latest.pt", tmp_path / "videos"
    checkpoint.write_bytes(b"not read: the config is refused first")
    videos.mkdir()
    return checkpoint, videos


@pytest.mark.parametrize(
    ("command", "override", "key"),
    [
        ("extract", "batch_size=0", "batch_size"),
        ("extract", "which=ema", "which"),
        ("extract", "kind=audio", "kind"),
        ("extract", "frames_per_clip=0", "frames_per_clip"),
        ("eval_ac", "horizon=0", "horizon"),
        ("eval_ac", "split=test", "split"),
        ("eval_ac", "data_path=/no/such/episodes", "data_path"),
        ("probe", "num_videos=0", "num_videos"),
        ("probe", "encoder=ema", "encoder"),
        ("attentive_probe", "val_fraction=1.0", "val_fraction"),
        ("attentive_probe", "probe.epochs=0", "probe.epochs"),
        ("attentive_probe", "augment.hflip=2", "augment.hflip"),
        ("attentive_probe", "labels=/no/such/labels.csv", "labels"),
    ],
)
def test_evaluation_commands_name_the_bad_key_before_any_work(tmp_path, monkeypatch, capsys, inputs, command,
                                                              override, key):
    from vjepa.cli.extract import main as extract_main
    from vjepa.eval.attentive_probe import main as attentive_probe_main
    from vjepa.eval.eval_ac import main as eval_ac_main
    from vjepa.eval.probe import main as probe_main

    checkpoint, videos = inputs
    argv = {
        "extract": (extract_main, [f"input={videos}", f"output={tmp_path / 'features'}"]),
        "eval_ac": (eval_ac_main, []),
        "probe": (probe_main, [f"videos={tmp_path / 'probe_videos'}"]),
        "attentive_probe": (attentive_probe_main, [f"videos={videos}", f"output={tmp_path / 'probe'}"]),
    }
    main, args = argv[command]
    code, err = run_cli(main, [command, f"checkpoint={checkpoint}", *args, override], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "videos"]  # nothing written


def test_train_ac_names_a_missing_encoder(tmp_path, monkeypatch, capsys):
    argv = ["vjepa-train-ac", f"encoder={tmp_path / 'missing.pt'}", f"data.path={tmp_path}"]
    code, err = run_cli(train_ac_main, argv, monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, "encoder")
    assert "missing.pt" in err


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("env.goal_steps=0", "env.goal_steps"),
        ("env.replan_every=6", "env.replan_every"),  # more than the planner's horizon executes
        ("env.id=vjepa/Nope-v0", "env.id"),
        ("planner.num_elites=200", "planner.num_elites"),  # more elites than samples
        ("planner.name=mppi", "planner.name"),  # the kind is chosen with planner=mppi
        ("energy.metric=l3", "energy.metric"),
        ("+energy.colour=1", "energy.colour"),
        ("episodes=0", "episodes"),
        ("episodes=abc", "episodes"),  # refused by hydra while composing: one line too
        ("planner.horizonn=5", "planner.horizonn"),
        ("precision=fp16", "precision"),
    ],
)
def test_plan_names_the_bad_key_before_loading_the_world_model(tmp_path, monkeypatch, capsys, override, key):
    world_model = tmp_path / "world_model.pt"
    world_model.write_bytes(b"not read: the config is refused first")
    argv = ["vjepa-plan", f"world_model={world_model}", f"run_dir={tmp_path / 'run'}", override]
    code, err = run_cli(plan_main, argv, monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, key)
    assert not (tmp_path / "run").exists()


def test_collect_names_the_bad_key_before_any_work(tmp_path, monkeypatch, capsys):
    code, err = run_cli(collect_main, ["vjepa-collect", f"out={tmp_path / 'data'}", "policy=greedy"], monkeypatch,
                        capsys)
    assert code == 2
    assert_one_error_line(err, "policy")
    assert not (tmp_path / "data").exists()


def test_a_wrong_camera_key_is_one_line_and_leaves_no_run_dir(tmp_path, monkeypatch, capsys):
    data = write_fake_lerobot_dataset(tmp_path / "lerobot", num_episodes=2, length=6)
    encoder = tmp_path / "encoder.pt"
    encoder.write_bytes(b"not read: the dataset is refused first")
    argv = ["vjepa-train-ac", f"encoder={encoder}", f"data.path={data}", "data.camera_key=observation.images.top",
            f"run_dir={tmp_path / 'run'}"]
    code, err = run_cli(train_ac_main, argv, monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'observation.images.top' is not a feature" in err
    assert "observation.images.front" in err  # the cameras there are
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["vjepa-eval-ac", "vjepa-plan"])
def test_a_file_that_is_no_world_model_is_one_line_naming_it(tmp_path, monkeypatch, capsys, command):
    from planning.cli import main as plan_main
    from vjepa.eval.eval_ac import main as eval_ac_main

    pretrained = tmp_path / "pretrain.pt"  # a pretraining checkpoint where a vjepa-train-ac one belongs
    torch.save({"step": 2, "encoder": {}, "predictor": {}, "config": {}}, pretrained)
    main, argv = {"vjepa-eval-ac": (eval_ac_main, [f"checkpoint={pretrained}"]),
                  "vjepa-plan": (plan_main, [f"world_model={pretrained}", f"run_dir={tmp_path / 'run'}"])}[command]
    code, err = run_cli(main, [command, *argv], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, str(pretrained))
    assert "not a vjepa-train-ac checkpoint (no predictor_config, action_stats" in err


def test_a_resume_that_cannot_continue_says_how_to_start_over(tmp_path, monkeypatch, capsys):
    """A run_dir whose checkpoint holds another network, or is unreadable, is refused before any step."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    argv = ["vjepa-pretrain", f"run_dir={run}", "steps=2", "batch_size=2", "num_workers=0", "mask_figure=false",
            "data.generate.num_videos=4", "data.generate.num_frames=16"]
    monkeypatch.setattr(sys, "argv", argv)
    pretrain_main()
    capsys.readouterr()

    code, err = run_cli(pretrain_main, argv + ["steps=4", "model.predictor.depth=3"], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, str(run / "latest.pt"))
    assert "model.predictor.depth=2 there, 3 here" in err and "resume=false" in err

    (run / "latest.pt").write_bytes(b"cut short by a full disk")
    code, err = run_cli(pretrain_main, argv + ["steps=4"], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, str(run / "latest.pt"))
    assert "cannot read the checkpoint" in err and "use a new run_dir, or resume=false" in err


def test_the_console_script_prints_one_line_and_exits_2(tmp_path):
    """Through the installed entry point and hydra: no traceback, no hydra banner."""
    done = subprocess.run([sys.executable, "-m", "vjepa.cli.pretrain", f"run_dir={tmp_path / 'run'}", "batch_size=0"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: must be an integer >= 1, got 0 (batch_size) — set batch_size to an integer "
                                   ">= 1")


def test_an_unwritable_run_dir_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    unwritable = Path("/sys/vjepa-test-run")  # sysfs: no directory can be made there, root or not
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(pretrain_main, ["vjepa-pretrain", f"run_dir={unwritable}"], monkeypatch, capsys)
    assert code == 2
    assert_one_error_line(err, str(unwritable))
    assert not (tmp_path / "data").exists()  # refused before generating the default videos


def test_os_errors_a_user_can_fix_are_one_line_too(capsys):
    @user_errors
    def write_to_full_disk():
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/a/latest.pt")

    with pytest.raises(SystemExit) as done:
        write_to_full_disk()
    assert done.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: No space left on device (/runs/a/latest.pt) — free disk space "
                                               "or write elsewhere")


@pytest.mark.parametrize("switch", ["VJEPA_DEBUG", "HYDRA_FULL_ERROR"])
def test_bugs_keep_their_traceback_and_debugging_shows_user_errors_whole(monkeypatch, switch):
    @user_errors
    def buggy():
        return 1 / 0

    with pytest.raises(ZeroDivisionError):
        buggy()

    @user_errors
    def misconfigured():
        raise ConfigError("must be an integer >= 1, got 0", "steps", "set steps to an integer >= 1")

    monkeypatch.setenv(switch, "1")
    with pytest.raises(UserError, match=r"got 0 \(steps\) — set steps"):
        misconfigured()
